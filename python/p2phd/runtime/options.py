# SPDX-License-Identifier: Apache-2.0
"""The model options Runtime(**config) takes, and a TypeError naming the closest valid
name for any other (a typo such as `lable_nc` would otherwise be ignored or misread)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

from p2phd.models import GeneratorConfig

# Public checkpoint options (checkpoint.load_public), then an artifact's GeneratorConfig.
PUBLIC_OPTIONS = ("label_nc", "use_instance", "feat_num", "instance_feat", "which_epoch")
MODEL_OPTIONS = frozenset(
    (*PUBLIC_OPTIONS, "clusters", *(f.name for f in dataclasses.fields(GeneratorConfig)))
)


def check_option_names(names: Iterable[str], keywords: Iterable[str]) -> None:
    """TypeError for the first of `names` that is no model option, naming the closest of
    the options and of Runtime's own `keywords`."""
    for name in names:
        if name in MODEL_OPTIONS:
            continue
        close = difflib.get_close_matches(name, [*MODEL_OPTIONS, *keywords], n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TypeError(f"Runtime() got an unexpected keyword argument '{name}'{hint}")

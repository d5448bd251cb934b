# SPDX-License-Identifier: Apache-2.0
"""What reproduces a Runtime's images: the digest of its model and the record of its setup."""

from __future__ import annotations

import hashlib
from pathlib import Path

from p2phd.sidecar import sidecar_path


def artifact_digest(path: Path) -> str:
    """ "sha256:<hex>" of the bytes of an exported file, of an OpenVINO IR's weights (the .bin
    beside its .xml: IRs of one graph with other weights have equal .xml files) and of its
    sidecar (where it has one)."""
    digest = hashlib.sha256()
    weights = [path.with_suffix(".bin")] if path.suffix == ".xml" else []
    for file_path in (path, *weights, sidecar_path(path)):
        if file_path.is_file():
            with file_path.open("rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
    return f"sha256:{digest.hexdigest()}"


def provenance_record(
    source: Path, model_digest: str, backend: str, device: str, precision: str, rounding: str
) -> dict[str, str]:
    """The JSON-ready record of Runtime.provenance(), with the p2phd version."""
    from p2phd import __version__

    return {
        "model": str(source),
        "model_digest": model_digest,
        "backend": backend,
        "device": device,
        "precision": precision,
        "rounding": rounding,
        "p2phd": __version__,
    }

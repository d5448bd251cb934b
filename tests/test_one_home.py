# SPDX-License-Identifier: Apache-2.0
"""One home per concept: the class of an instance id (p2phd.ops.instance_class) and the
cluster feature map (p2phd.runtime.features.cluster_features), used by every part."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2phd.ops import instance_class
from p2phd.runtime.features import cluster_features
from p2phd.serve.classes import LabelSet
from p2phd.serve.errors import ClientError
from p2phd.serve.pngio import check_pair
from p2phd.serve.session import EditorModel, Session


def test_ids_below_1000_are_classes_and_others_class_times_1000_plus_k():
    assert [instance_class(i) for i in (0, 7, 999, 1000, 26001, 33999)] == [0, 7, 999, 1, 26, 33]
    ids = np.array([[0, 999], [1000, 26001]], np.int32)
    assert instance_class(ids).tolist() == [[0, 999], [1, 26]]


def test_the_editor_refuses_a_stuff_id_outside_the_classes_beside_a_larger_thing_id():
    # The largest id (1000, class 1) is fine, but 999 is class 999: not a class of 35.
    labels = np.zeros((2, 2), np.uint8)
    instances = np.array([[999, 1000], [0, 0]], np.uint16)
    with pytest.raises(ClientError, match="instance id 999"):
        check_pair(labels, instances, 35)
    check_pair(labels, np.array([[34, 34001], [0, 0]], np.uint16), 35)


def test_the_editor_session_features_are_the_runtimes():
    clusters = {26: np.arange(12, dtype=np.float32).reshape(4, 3), 24: np.ones((2, 3), np.float32)}
    model = EditorModel(35, True, 3, clusters, LabelSet(35))
    instances = np.full((6, 8), 7, np.int32)
    instances[:3, :4], instances[3:, 4:], instances[:2, 6:] = 26000, 26001, 24000
    session = Session.create("s", model, np.zeros((6, 8), np.uint8), instances, 5, 10)
    session.set_style(26001, 3)
    expected = cluster_features(torch.from_numpy(instances)[None], clusters, 3, style=session.style)
    assert np.array_equal(session.feature_map(), expected[0].numpy())
    assert session.feature_map()[:, 5, 5].tolist() == [9.0, 10.0, 11.0]

# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES

LABEL_DTYPES = [torch.uint8, torch.int16, torch.uint16, torch.int32, torch.int64]
OUT_DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("label_dtype", LABEL_DTYPES)
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_random_labels_match_reference(device, label_dtype, out_dtype):
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 35, (3, 29, 41), generator=generator).to(label_dtype).to(device)
    result = ops.one_hot(labels, 35, out_dtype)
    assert result.device == labels.device and result.dtype == out_dtype
    assert torch.equal(result.cpu(), reference.one_hot(labels.cpu(), 35, out_dtype))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (13, 1), (64, 128)])
def test_thin_and_tiny_images(device, shape):
    labels = torch.randint(0, 7, shape).to(device)
    result = ops.one_hot(labels, 7)
    assert result.shape == (7, *shape)
    assert torch.equal(result.cpu(), reference.one_hot(labels.cpu()[None], 7)[0])


def test_numpy_in_numpy_out():
    labels = np.random.default_rng(0).integers(0, 5, (2, 8, 9)).astype(np.uint8)
    result = ops.one_hot(labels, 5, np.float16)
    assert isinstance(result, np.ndarray) and result.dtype == np.float16
    expected = reference.one_hot(torch.from_numpy(labels), 5, torch.float16).numpy()
    np.testing.assert_array_equal(result, expected)


def test_non_contiguous_input_is_copied():
    labels = torch.randint(0, 4, (16, 12)).t()
    assert not labels.is_contiguous()
    assert torch.equal(ops.one_hot(labels, 4), reference.one_hot(labels[None], 4)[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad", [35, 255, -1])
def test_label_out_of_range_raises(device, bad):
    labels = torch.zeros(2, 8, 8, dtype=torch.int16, device=device)
    labels[1, 3, 4] = bad
    with pytest.raises(ValueError, match=f"label {bad} is outside"):
        ops.one_hot(labels, 35)


@pytest.mark.parametrize(
    "labels, message",
    [
        (torch.zeros(4, 4, dtype=torch.float32), "labels must be uint8, int16, uint16, int32"),
        (torch.zeros(4, 4, dtype=torch.bool), "unsupported dtype"),
        (torch.zeros(0, 4, dtype=torch.uint8), "H, W > 0"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.uint8), "must have 2 .* or 3"),
    ],
)
def test_bad_input_raises(labels, message):
    with pytest.raises(ValueError, match=message):
        ops.one_hot(labels, 3)


def test_bad_class_count_and_dtype_raise():
    labels = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="label_nc must be a positive integer"):
        ops.one_hot(labels, 0)
    with pytest.raises(ValueError, match="numpy has no bfloat16"):
        ops.one_hot(labels, 3, "bfloat16")
    with pytest.raises(ValueError, match="output dtype"):
        ops.one_hot(labels, 3, np.int32)


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_labels_match_reference(device, cityscapes):
    for name, labels, _ in cityscapes:
        labels = torch.from_numpy(labels).to(device)
        result = ops.one_hot(labels, 35, torch.float16).cpu()
        assert torch.equal(result, reference.one_hot(labels.cpu()[None], 35, torch.float16)[0]), (
            name
        )


def test_the_class_count_is_named_label_nc_and_bad_labels_raise_label_range_error():
    labels = np.array([[0, 2], [1, 3]], np.uint8)
    assert ops.one_hot(labels[:1], label_nc=3).shape == (3, 1, 2)
    with pytest.raises(ops.LabelRangeError, match=r"label 3 is outside \[0, 3\)") as caught:
        ops.one_hot(labels, label_nc=3)
    assert caught.value.label == 3 and isinstance(caught.value, ValueError)

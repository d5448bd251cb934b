# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("with_instances", [True, False])
@pytest.mark.parametrize("feature_channels", [0, 3])
@pytest.mark.parametrize("size", [(21, 34), (8, 32)])  # the CUDA vector path needs W % 4 == 0
def test_random_match_reference(device, out_dtype, with_instances, feature_channels, size):
    generator = torch.Generator().manual_seed(6)
    labels = torch.randint(0, 35, (2, *size), generator=generator, dtype=torch.int32)
    instances = torch.randint(0, 3, (2, *size), generator=generator) * 26000
    instances = instances if with_instances else None
    features = torch.randn(2, feature_channels, *size, generator=generator)
    features = features if feature_channels else None
    on_device = [t.to(device) if t is not None else None for t in (labels, instances, features)]
    result = ops.generator_input(
        on_device[0], on_device[1], 35, features=on_device[2], dtype=out_dtype
    )
    expected = reference.generator_input(labels, instances, 35, features=features, dtype=out_dtype)
    assert result.dtype == out_dtype and result.device == labels.to(device).device
    assert torch.equal(result.cpu(), expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_instances", [True, False])
def test_uint16_labels(device, with_instances):
    # Runtime accepts uint16 label maps (16-bit PNGs): they must work as int32 ones do.
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 35, (2, 9, 12), generator=generator, dtype=torch.int32)
    instances = torch.randint(0, 3, (2, 9, 12), generator=generator) if with_instances else None
    instances = instances.to(device) if with_instances else None
    expected = ops.generator_input(labels.to(device), instances, 35)
    result = ops.generator_input(labels.to(torch.uint16).to(device), instances, 35)
    assert torch.equal(result, expected)
    numpy_result = ops.generator_input(labels.numpy().astype(np.uint16), None, 35)
    assert torch.equal(torch.from_numpy(numpy_result), ops.generator_input(labels, None, 35))


def test_uint16_label_outside_range_names_it():
    with pytest.raises(ValueError, match="label 65535 is outside"):
        ops.generator_input(np.full((2, 3), 65535, np.uint16), None, 35)


def test_single_numpy_image():
    labels = np.random.default_rng(0).integers(0, 5, (6, 8)).astype(np.uint8)
    instances = np.random.default_rng(1).integers(0, 2, (6, 8)).astype(np.uint16)
    result = ops.generator_input(labels, instances, 5, dtype=np.float16)
    assert result.shape == (6, 6, 8) and result.dtype == np.float16
    expected = reference.generator_input(
        torch.from_numpy(labels)[None],
        torch.from_numpy(instances.astype(np.int32))[None],
        5,
        dtype=torch.float16,
    )[0].numpy()
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("device", DEVICES)
def test_label_out_of_range_raises(device):
    labels = torch.full((1, 5, 5), 35, dtype=torch.uint8, device=device)
    with pytest.raises(ValueError, match="label 35 is outside"):
        ops.generator_input(labels, None, 35)


def test_mismatched_shapes_raise():
    labels = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="instances must have shape"):
        ops.generator_input(labels, np.zeros((2, 8, 9), np.int32), 3)
    with pytest.raises(ValueError, match="features must have shape"):
        ops.generator_input(labels, None, 3, features=np.zeros((1, 3, 8, 8), np.float32))


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_match_reference(device, cityscapes):
    for name, labels, instances in cityscapes[:5]:
        labels = torch.from_numpy(labels)[None]
        instances = torch.from_numpy(instances.astype(np.int32))[None]
        result = ops.generator_input(
            labels.to(device), instances.to(device), 35, dtype=torch.float16
        ).cpu()
        expected = reference.generator_input(labels, instances, 35, dtype=torch.float16)
        assert torch.equal(result, expected), name


@pytest.mark.parametrize("device", DEVICES)
def test_out_is_written_in_place_and_checked(device):
    labels = torch.randint(0, 4, (6, 8), dtype=torch.uint8, device=device)
    out = torch.full((5, 6, 8), 7.0, device=device)
    result = ops.generator_input(labels, labels.int(), 4, out=out)
    assert result is out
    expected = reference.generator_input(labels.cpu()[None], labels.cpu()[None], 4)[0]
    assert torch.equal(out.cpu(), expected)
    with pytest.raises(ValueError, match=r"out must be float16 of shape \(5, 6, 8\)"):
        ops.generator_input(labels, labels.int(), 4, dtype=torch.float16, out=out)
    with pytest.raises(ValueError, match="out must be contiguous"):
        ops.generator_input(
            labels, labels.int(), 4, out=torch.zeros(5, 8, 6, device=device).transpose(1, 2)
        )
    with pytest.raises(ValueError, match="same kind"):
        ops.generator_input(labels, labels.int(), 4, out=np.zeros((5, 6, 8), np.float32))

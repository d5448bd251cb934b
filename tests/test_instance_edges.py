# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES

INSTANCE_DTYPES = [torch.uint16, torch.int32, torch.int64]


def random_instances(shape, high, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=generator, dtype=torch.int64).to(dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", INSTANCE_DTYPES)
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_random_instances_match_reference(device, dtype, out_dtype):
    high = 65535 if dtype == torch.uint16 else 2**31 - 1
    # Few distinct values make runs of equal ids, so both edges and flat areas occur.
    values = random_instances((3, 31, 47), 4, torch.int64) * (high // 4)
    instances = values.to(dtype).to(device)
    result = ops.instance_edges(instances, out_dtype)
    assert result.shape == (3, 1, 31, 47) and result.dtype == out_dtype
    assert torch.equal(result.cpu(), reference.instance_edges(values, out_dtype))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2)])
def test_thin_and_tiny_images(device, shape):
    instances = random_instances(shape, 3, torch.int32).to(device)
    result = ops.instance_edges(instances)
    assert torch.equal(result.cpu(), reference.instance_edges(instances.cpu()[None])[0])


def test_one_instance_has_no_edges_and_border_is_not_an_edge():
    assert not ops.instance_edges(np.full((5, 7), 26001, np.uint16)).any()


def test_both_sides_of_a_boundary_are_marked():
    instances = np.zeros((3, 4), np.int32)
    instances[:, 2:] = 1
    expected = np.zeros((1, 3, 4), np.float32)
    expected[:, :, 1:3] = 1
    np.testing.assert_array_equal(ops.instance_edges(instances), expected)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="instance ids must be uint16, int32 or int64"):
        ops.instance_edges(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="H, W > 0"):
        ops.instance_edges(np.zeros((2, 0, 4), np.int32))


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_instances_match_reference(device, cityscapes):
    for name, _, instances in cityscapes:
        instances = torch.from_numpy(instances).to(device)
        result = ops.instance_edges(instances).cpu()
        expected = reference.instance_edges(instances.cpu().int()[None])[0]
        assert torch.equal(result, expected), name

# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES


def assert_close_relative(actual, expected, rtol=1e-6):
    torch.testing.assert_close(actual.cpu().double(), expected.double(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("id_dtype", [torch.uint16, torch.int32, torch.int64])
def test_many_tiny_instances_match_reference(device, id_dtype):
    generator = torch.Generator().manual_seed(1)
    high = 65536 if id_dtype == torch.uint16 else 2**31
    instances = torch.randint(0, high, (2, 23, 37), generator=generator).to(id_dtype)
    instances[:, :, :10] = 7  # and one large instance
    features = torch.randn(2, 3, 23, 37, generator=generator)
    result = ops.instance_mean(features.to(device), instances.to(device))
    assert_close_relative(result, reference.instance_mean(features, instances.long()))


@pytest.mark.parametrize("device", DEVICES)
def test_ids_at_the_int32_limit_and_one_instance(device):
    instances = torch.full((1, 9, 11), 2**31 - 1, dtype=torch.int64)
    instances[0, :4] = 0
    features = torch.randn(1, 5, 9, 11)
    result = ops.instance_mean(features.to(device), instances.to(device))
    assert_close_relative(result, reference.instance_mean(features, instances))
    single = ops.instance_mean(
        features[0].to(device), torch.zeros(9, 11, dtype=torch.int32, device=device)
    )
    assert_close_relative(single, features[0].mean(dim=(1, 2), keepdim=True).expand(5, 9, 11))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 13), (13, 1)])
def test_thin_and_tiny_images(device, shape):
    instances = torch.randint(0, 3, shape, dtype=torch.int32)
    features = torch.randn(2, *shape)
    result = ops.instance_mean(features.to(device), instances.to(device))
    assert_close_relative(result, reference.instance_mean(features[None], instances[None])[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_features(device, dtype):
    instances = torch.randint(0, 6, (2, 16, 16), dtype=torch.int32)
    features = torch.randn(2, 3, 16, 16).to(dtype)
    result = ops.instance_mean(features.to(device), instances.to(device))
    assert result.dtype == dtype
    expected = reference.instance_mean(features.float(), instances)
    torch.testing.assert_close(result.cpu().float(), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_is_the_mean_of_the_gradient(device):
    instances = torch.randint(0, 4, (2, 8, 10), dtype=torch.int32)
    features = torch.randn(2, 3, 8, 10, requires_grad=True)
    weights = torch.randn(2, 3, 8, 10)
    (ops.instance_mean(features.to(device), instances.to(device)).cpu() * weights).sum().backward()
    expected_features = features.detach().clone().requires_grad_(True)
    (reference.instance_mean(expected_features, instances) * weights).sum().backward()
    assert_close_relative(features.grad, expected_features.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad", [-1, 2**31, 2**40])
def test_ids_that_do_not_fit_raise(device, bad):
    instances = torch.zeros(1, 4, 4, dtype=torch.int64, device=device)
    instances[0, 2, 2] = bad
    with pytest.raises(ValueError, match=f"instance id {bad} is outside"):
        ops.instance_mean(torch.zeros(1, 2, 4, 4, device=device), instances)


def test_bad_input_raises():
    instances = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="features must have shape"):
        ops.instance_mean(np.zeros((2, 4, 5), np.float32), instances)
    with pytest.raises(ValueError, match="expected float32, float16 or bfloat16"):
        ops.instance_mean(np.zeros((2, 4, 4), np.float64), instances)
    with pytest.raises(ValueError, match="numpy arrays, or torch tensors on one device"):
        ops.instance_mean(torch.zeros(2, 4, 4), instances)


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_instances_match_reference(device, cityscapes):
    generator = torch.Generator().manual_seed(2)
    for name, _, instances in cityscapes:
        instances = torch.from_numpy(instances.astype(np.int32))
        features = torch.rand(3, *instances.shape, generator=generator)
        result = ops.instance_mean(features.to(device), instances.to(device))
        expected = reference.instance_mean(features[None], instances[None])[0]
        torch.testing.assert_close(result.cpu().double(), expected.double(), rtol=1e-6, atol=0)
        assert name

# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("id_dtype", [torch.uint16, torch.int32, torch.int64])
@pytest.mark.parametrize("table_dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_random_match_reference(device, id_dtype, table_dtype):
    generator = torch.Generator().manual_seed(3)
    instances = torch.randint(0, 60, (2, 19, 33), generator=generator)
    ids = torch.randperm(80, generator=generator)[:40]  # some present, some absent
    table = torch.randn(40, 3, generator=generator).to(table_dtype)
    result = ops.instance_broadcast(
        instances.to(id_dtype).to(device), ids.to(id_dtype).to(device), table.to(device)
    )
    assert result.dtype == table_dtype and result.shape == (2, 3, 19, 33)
    assert torch.equal(result.cpu(), reference.instance_broadcast(instances, ids, table))


@pytest.mark.parametrize("device", DEVICES)
def test_many_ids_up_to_the_int32_limit(device):
    generator = torch.Generator().manual_seed(4)
    ids = torch.cat(
        [torch.randint(0, 2**31 - 1, (3000,), generator=generator), torch.tensor([2**31 - 1])]
    )
    ids = ids.unique()
    instances = ids[torch.randint(0, ids.numel(), (1, 40, 60), generator=generator)]
    table = torch.randn(ids.numel(), 2, generator=generator)
    result = ops.instance_broadcast(instances.to(device), ids.to(device), table.to(device))
    assert torch.equal(result.cpu(), reference.instance_broadcast(instances, ids, table))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1)])
def test_single_thin_images_and_no_ids(device, shape):
    instances = torch.randint(0, 3, shape, dtype=torch.int32)
    ids = torch.tensor([0, 2], dtype=torch.int32)
    table = torch.randn(2, 4)
    result = ops.instance_broadcast(instances.to(device), ids.to(device), table.to(device))
    assert result.shape == (4, *shape)
    assert torch.equal(result.cpu(), reference.instance_broadcast(instances[None], ids, table)[0])
    empty = ops.instance_broadcast(instances.to(device), ids[:0].to(device), table[:0].to(device))
    assert not empty.any()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_runs_of_ids_across_thread_chunks(device, threads):
    # The CPU loop looks an id up once per run: runs that cross the threads' chunks (2**14
    # pixels), an unlisted id inside a run of listed ones, and an invalid id in a long run.
    generator = torch.Generator().manual_seed(5)
    lengths = torch.randint(1, 9000, (40,), generator=generator)
    ids = torch.randint(0, 6, (40,), generator=generator)
    instances = torch.repeat_interleave(ids, lengths)[: 3 * 2**14].reshape(3, -1, 128)
    listed = torch.tensor([0, 2, 3, 5])
    table = torch.randn(4, 3, generator=generator)
    result = ops.instance_broadcast(
        instances.to(device), listed.to(device), table.to(device), threads=threads
    )
    assert torch.equal(result.cpu(), reference.instance_broadcast(instances, listed, table))
    instances[1, 30:40] = 2**33
    with pytest.raises(ValueError, match="instance id 8589934592 is outside"):
        ops.instance_broadcast(instances.to(device), listed.to(device), table.to(device))


@pytest.mark.parametrize("device", DEVICES)
def test_duplicate_and_out_of_range_ids_raise(device):
    instances = torch.zeros(4, 4, dtype=torch.int64, device=device)
    table = torch.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="id 5 appears more than once"):
        ops.instance_broadcast(instances, torch.tensor([5, 5], device=device), table)
    with pytest.raises(ValueError, match=r"id -3 in ids is outside"):
        ops.instance_broadcast(instances, torch.tensor([1, -3], device=device), table)
    instances[1, 1] = 2**33
    with pytest.raises(ValueError, match="instance id 8589934592 is outside"):
        ops.instance_broadcast(instances, torch.tensor([1, 3], device=device), table)


def test_bad_input_raises():
    instances = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="table must be M x K"):
        ops.instance_broadcast(instances, np.arange(2), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="table must be one of"):
        ops.instance_broadcast(instances, np.arange(2), np.zeros((2, 2), np.float64))
    with pytest.raises(ValueError, match="instance ids must be"):
        ops.instance_broadcast(instances, np.arange(2.0), np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_instances_match_reference(device, cityscapes):
    generator = torch.Generator().manual_seed(5)
    for name, _, instances in cityscapes:
        instances = torch.from_numpy(instances.astype(np.int64))
        ids = instances.unique()[::2]  # half of the instances get features
        table = torch.randn(ids.numel(), 3, generator=generator)
        result = ops.instance_broadcast(instances.to(device), ids.to(device), table.to(device))
        expected = reference.instance_broadcast(instances[None], ids, table)[0]
        assert torch.equal(result.cpu(), expected), name

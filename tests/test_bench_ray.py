# SPDX-License-Identifier: Apache-2.0
"""`p2phd-bench ray` on the test run's local Ray cluster: one row per case, each timing a
job that rendered every map, and a job that failed is an error, not a time."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2phd.bench import distributed as ray_bench
from p2phd.cli import bench
from p2phd.models import GeneratorConfig
from tests.dataset_helpers import write_test_dataset
from tests.model_helpers import save_random_bundle

pytest.importorskip("ray", reason="needs the p2phd[ray] extra")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

TINY = GeneratorConfig(ngf=2, n_downsample_global=1, n_blocks_global=1)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    return save_random_bundle(tmp_path_factory.mktemp("model") / "tiny", TINY)


def test_one_row_per_case_on_the_joined_cluster(ray_cluster, tiny_bundle, tmp_path, capsys):
    dataset = write_test_dataset(tmp_path / "data", 3, 40, 72)
    argv = ["ray", str(tiny_bundle), str(dataset), "--size", "32x64", "--runs", "1"]
    assert bench.main([*argv, "--actors", "1", "--batch-size", "2"]) == 0
    assert ray_cluster.is_initialized()  # the session's cluster, used and left running
    printed = capsys.readouterr().out
    assert "3 maps from" in printed and "at (32, 64)" in printed
    table = [line.strip("|").split("|") for line in printed.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in row] for row in table[2:]]
    assert [row[0] for row in rows] == ["one process", "Ray, 1 actor"]
    for row in rows:
        assert float(row[1]) > 0  # images/s


def test_a_failed_render_is_an_error_not_a_time(ray_cluster, tiny_bundle, tmp_path):
    dataset = write_test_dataset(tmp_path / "data", 2, 40, 72)
    broken = next((dataset / "test_label").glob("*.png"))
    Image.fromarray(np.zeros((40, 72, 3), np.uint8)).save(broken)  # RGB: not a label map
    with pytest.raises(RuntimeError, match="the local render failed"):
        ray_bench.run(str(tiny_bundle), dataset, None, 1, [1], 2)

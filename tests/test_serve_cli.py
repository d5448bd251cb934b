# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve as a user starts it: a real uvicorn process on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import httpx
import pytest

pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

import torch  # noqa: E402

from p2phd.runtime.devices import cpu_flags, interactive_precision  # noqa: E402
from tests.serve_helpers import PACKAGE_ROOT, save_tiny_feature_bundle, serve_process  # noqa: E402


def test_serves_on_loopback_and_says_so(tmp_path):
    model = save_tiny_feature_bundle(tmp_path / "tiny")
    log = tmp_path / "serve.log"
    with serve_process(str(model), "--scene-size", "32x64", log_path=log) as url:
        assert url.startswith("http://127.0.0.1:")
        assert "this machine only" in log.read_text()
        session = httpx.post(f"{url}/api/sessions", json={"seed": 1}).json()
        image = httpx.get(f"{url}/api/sessions/{session['id']}/render.png")
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        assert "p2phd editor" in httpx.get(url).text
        assert httpx.get(f"{url}/health").json()["max_batch"] == 8
        precision = httpx.get(f"{url}/api/model").json()["precision"]
        bf16_units = {"amx_bf16", "avx512_bf16"} & cpu_flags()
        assert precision == ("bf16" if bf16_units else "fp32")


def test_max_batch_is_as_told(tmp_path):
    model = save_tiny_feature_bundle(tmp_path / "tiny")
    args = (str(model), "--scene-size", "32x64", "--max-batch", "4")
    with serve_process(*args, log_path=tmp_path / "serve.log") as url:
        assert httpx.get(f"{url}/health").json()["max_batch"] == 4


def test_a_missing_model_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "p2phd.cli.serve", str(tmp_path / "nothing"), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
        timeout=120,
    )
    assert result.returncode == 1
    assert "no such model" in result.stderr and "Traceback" not in result.stderr


def test_accepted_connections_do_not_wait_on_nagle():
    """A response leaves in several writes (headers, then body). With Nagle's algorithm on,
    every write after the first waits for the client's delayed ACK: 40 ms added to each
    request on a kept-alive connection, which is every request the editor page makes."""
    from p2phd.cli.serve import listen

    listener = listen("127.0.0.1", 0)

    async def nodelay_of_an_accepted_connection() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection = writer.get_extra_info("socket")
            seen.set_result(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        # uvicorn serves the listener the same way: loop.create_server(sock=listener).
        server = await asyncio.start_server(accept, sock=listener)
        _, client = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            client.close()
            server.close()

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0


def test_the_editor_renders_in_bf16_where_the_cpu_multiplies_it_in_hardware():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    amx = frozenset({"avx512f", "amx_tile", "amx_bf16"})
    assert interactive_precision("auto", cpu, amx) == "bf16"
    # AVX512-BF16 (AMD Zen 4, Intel Cooper Lake) multiplies bf16 in hardware too.
    assert interactive_precision("auto", cpu, frozenset({"avx512f", "avx512_bf16"})) == "bf16"
    assert interactive_precision("auto", cpu, frozenset({"avx512f", "avx2"})) == "auto"
    assert interactive_precision("fp32", cpu, amx) == "fp32"  # as asked
    assert interactive_precision("auto", cuda, amx) == "auto"  # Runtime's: fp16 on CUDA


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="reads Linux's /proc/cpuinfo")
def test_cpu_flags_come_from_proc_cpuinfo():
    flags = cpu_flags()
    assert flags and all(flag == flag.strip() and flag for flag in flags)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-wait-ms", "inf"),
        ("--max-wait-ms", "nan"),
        ("--max-wait-ms", "-1"),
        ("--max-wait-ms", "1e9"),
        ("--port", "65536"),
        ("--port", "-1"),
        ("--port", "http"),
        ("--max-memory-mb", "inf"),
        ("--max-memory-mb", "nan"),
        ("--max-memory-mb", "0"),
        ("--max-memory-mb", "1e300"),
        ("--max-upload-mb", "inf"),
        ("--max-upload-mb", "-0"),
        ("--max-upload-mb", "1e300"),
        ("--max-side", "4"),
        ("--max-side", "99999"),
        ("--max-batch", "0"),
        ("--max-sessions", "-3"),
        ("--max-queue", "0"),
        ("--render-timeout-s", "0"),
        ("--render-timeout-s", "inf"),
        ("--render-timeout-s", "nan"),
        ("--scene-size", "8x8"),
        ("--scene-size", "4096x4096"),  # more than --max-side
        ("--host", "300.1.1.1"),
    ],
)
def test_option_values_that_cannot_work_are_usage_errors(option, value, capsys):
    from p2phd.cli.serve import main

    try:
        code = main(["/nonexistent-model", "--port", "0", option, value])
    except SystemExit as stop:
        code = stop.code
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert option.lstrip("-") in stderr.replace("_", "-") or value in stderr

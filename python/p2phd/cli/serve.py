# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve: the interactive pix2pixHD editor in a browser, and its HTTP API.

  p2phd-serve [MODEL] [--host 127.0.0.1] [--port 8000] [--device auto] [--backend auto]

MODEL defaults to the demo model shipped with p2phd. The editor is at http://HOST:PORT/,
the API's documentation at /docs (OpenAPI: /openapi.json). It listens on 127.0.0.1 (this
machine only) unless --host says otherwise. Needs the serve extra: pip install "p2phd[serve]".
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from p2phd.cli.common import (
    Parser,
    device_name,
    int_at_least,
    positive_int,
    run_command,
    scene_size,
)
from p2phd.extras import require

DEMO_MODEL = "demo"


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-serve", description=__doc__)
    parser.add_argument("model", nargs="?", default=DEMO_MODEL, help="what to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int_at_least(0), default=8000, help="0: any free port")
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda[:N]")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "fused", "onnxruntime", "tensorrt", "torchscript"],
        help="what runs the generator",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "bf16"],
        help="auto: bf16 on a CPU with AMX (2.8x faster there), else fp16 on CUDA and fp32 on "
        "a CPU",
    )
    parser.add_argument("--max-batch", type=positive_int, default=8, help="maps per Runtime call")
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="how long a render waits for others"
    )
    parser.add_argument("--max-sessions", type=positive_int, default=32, help="LRU eviction beyond")
    parser.add_argument(
        "--max-memory-mb", type=positive_float, default=512, help="all sessions' maps and history"
    )
    parser.add_argument("--max-upload-mb", type=positive_float, default=16, help="one PNG upload")
    parser.add_argument("--max-side", type=positive_int, default=2048, help="largest map side")
    parser.add_argument("--scene-size", type=scene_size, default=(256, 512), help="new scenes HxW")
    return parser


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (a name, an IPv4 or an IPv6 address).

    It is made with proto=IPPROTO_TCP, not socket.create_server's 0: asyncio turns Nagle's
    algorithm off (TCP_NODELAY) only on connections whose proto says TCP, and with Nagle on
    every kept-alive request waits 40 ms for a delayed ACK."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error}") from error
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen()
    except OSError as error:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {error}") from error
    return listener


def serve(args: argparse.Namespace) -> int:
    uvicorn = require("uvicorn")
    from p2phd.runtime import Runtime
    from p2phd.runtime.devices import cpu_flags, interactive_precision, resolve_device
    from p2phd.serve import Settings, create_app

    precision = interactive_precision(args.precision, resolve_device(args.device), cpu_flags())
    runtime = Runtime(args.model, backend=args.backend, device=args.device, precision=precision)
    settings = Settings(
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_sessions=args.max_sessions,
        max_memory_mb=args.max_memory_mb,
        max_upload_mb=args.max_upload_mb,
        max_side=args.max_side,
        scene_size=args.scene_size,
    )
    app = create_app(settings, runtime)
    listener = listen(args.host, args.port)
    host, port = listener.getsockname()[:2]
    reach = (
        "this machine only; --host 0.0.0.0 serves other machines too"
        if host in ("127.0.0.1", "::1")
        else "reachable from other machines: there is no authentication"
    )
    print(runtime.describe(), file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
    print(
        f"p2phd-serve: listening on http://{shown}:{port}/ ({reach})", file=sys.stderr, flush=True
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(parser.prog, lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())

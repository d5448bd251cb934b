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
import math
import socket
import sys
from collections.abc import Callable

from p2phd.cli.common import (
    MAX_SIDE,
    Parser,
    UsageError,
    add_runtime_arguments,
    positive_int,
    run_parsed,
    runtime_options,
    scene_size,
)
from p2phd.extras import require

DEMO_MODEL = "demo"


def int_between(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be in [{minimum}, {maximum}], got {value}")
        return value

    parse.__name__ = f"integer in [{minimum}, {maximum}]"
    return parse


def float_between(minimum: float, maximum: float, above: bool = False) -> Callable[[str], float]:
    """A finite number in [minimum, maximum], or (minimum, maximum] when `above`."""
    shown = f"{'(' if above else '['}{minimum:g}, {maximum:.12g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= minimum if above else value < minimum
        if not math.isfinite(value) or too_low or value > maximum:
            raise argparse.ArgumentTypeError(f"must be a number in {shown}, got {text}")
        return value

    parse.__name__ = f"number in {shown}"
    return parse


# The server's limits: option, its parser, default and meaning.
_LIMITS = (
    ("--max-batch", positive_int, 8, "maps per Runtime call"),
    ("--max-wait-ms", float_between(0, 60_000), 5.0, "how long a render waits for others"),
    (
        "--max-queue",
        positive_int,
        64,
        "renders waiting or under way; beyond that, 503 (retry after 1 s)",
    ),
    (
        "--render-timeout-s",
        float_between(0, 86_400, above=True),
        60.0,
        "a render not done this long after it was asked: 504",
    ),
    ("--max-sessions", positive_int, 32, "LRU eviction beyond"),
    ("--max-memory-mb", float_between(0, 2**30, above=True), 512, "all sessions' maps and history"),
    ("--max-upload-mb", float_between(0, 4096, above=True), 16, "one PNG upload"),
    ("--max-side", int_between(8, MAX_SIDE), 2048, "largest map side"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-serve", description=__doc__)
    parser.add_argument("model", nargs="?", default=DEMO_MODEL, help="what to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int_between(0, 65535), default=8000, help="0: any free port")
    add_runtime_arguments(
        parser,
        precision_help="auto: bf16 on a CPU with bf16 units (AMX or AVX512-BF16), else fp16 on "
        "CUDA and fp32 on a CPU",
    )
    for name, parse, default, meaning in _LIMITS:
        parser.add_argument(name, type=parse, default=default, help=meaning)
    parser.add_argument("--scene-size", type=scene_size, default=(256, 512), help="new scenes HxW")
    return parser


def resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    """The address family and socket address to listen on; a host that names no address
    is a usage error."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UsageError(
            f"--host {host!r} names no address to listen on: {error.strerror}"
        ) from None
    return family, address


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (a name, an IPv4 or an IPv6 address).

    It is made with proto=IPPROTO_TCP, not socket.create_server's 0: asyncio turns Nagle's
    algorithm off (TCP_NODELAY) only on connections whose proto says TCP, and with Nagle on
    every kept-alive request waits 40 ms for a delayed ACK."""
    family, address = resolve(host, port)
    try:
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

    resolve(args.host, args.port)  # before the model loads, as the options below
    try:  # before the model loads: options that do not fit together are a usage error
        settings = Settings(
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
            render_timeout_s=args.render_timeout_s,
            max_sessions=args.max_sessions,
            max_memory_mb=args.max_memory_mb,
            max_upload_mb=args.max_upload_mb,
            max_side=args.max_side,
            scene_size=args.scene_size,
        )
    except ValueError as error:
        raise UsageError(str(error).replace("_", "-")) from None
    options = runtime_options(args)
    # An editor wants its renders fast: auto picks bf16 on a CPU that has the units for it.
    options["precision"] = interactive_precision(
        args.precision, resolve_device(args.device), cpu_flags()
    )
    runtime = Runtime(args.model, **options)
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
    return run_parsed(build_parser(), serve, argv)


if __name__ == "__main__":
    sys.exit(main())

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

from p2phd.cli.bench import parse_size
from p2phd.cli.render import DEMO_MODEL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2phd-serve", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("model", nargs="?", default=str(DEMO_MODEL), help="default: demo model")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (8000)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--backend", default="auto", help="auto, torch, fused, onnxruntime, ...")
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16, bf16")
    parser.add_argument("--max-batch", type=int, default=8, help="maps per Runtime call (8)")
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="how long a render waits for others (5)"
    )
    parser.add_argument("--max-sessions", type=int, default=32, help="LRU eviction beyond (32)")
    parser.add_argument(
        "--max-memory-mb", type=float, default=512, help="all sessions' maps and history (512)"
    )
    parser.add_argument("--max-upload-mb", type=float, default=16, help="one PNG upload (16)")
    parser.add_argument("--max-side", type=int, default=2048, help="largest map side (2048)")
    parser.add_argument(
        "--scene-size", type=parse_size, default=(256, 512), help="new scenes HxW (256x512)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from p2phd.serve import Settings, create_app
    except ImportError as error:
        print(
            f"p2phd-serve: {error.name} is missing; install the serve extra: "
            'pip install "p2phd[serve]"',
            file=sys.stderr,
        )
        return 2
    from p2phd.runtime import Runtime

    try:
        settings = Settings(
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_sessions=args.max_sessions,
            max_memory_mb=args.max_memory_mb,
            max_upload_mb=args.max_upload_mb,
            max_side=args.max_side,
            scene_size=args.scene_size,
        )
        runtime = Runtime(
            args.model, backend=args.backend, device=args.device, precision=args.precision
        )
        app = create_app(settings, runtime)
    except (ValueError, RuntimeError, OSError, TypeError) as error:
        print(f"p2phd-serve: {error}", file=sys.stderr)
        return 2
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as error:
        print(f"p2phd-serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    sys.exit(main())

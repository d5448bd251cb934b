# SPDX-License-Identifier: Apache-2.0
"""What every p2phd command shares: a parser whose help shows the defaults and whose errors
are one line, `--version`, argument types with their limits, checks on output paths, and
`run_command`, the one place that turns a user's error into one line on stderr and an exit
code: 1 for errors at run time, 2 for bad usage. Set P2PHD_TRACEBACK=1 to see the traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from p2phd import __version__
from p2phd.extras import MissingExtra
from p2phd.image_io import write_png

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# synthetic_scene's smallest side, and the largest side Runtime.render accepts.
SCENE_MIN_SIDE = 16
MAX_SIDE = 8192

# The errors bad input, a missing GPU or a full disk raise: reported as their message.
# Anything else is a bug, still reported on one line but named as unexpected.
USER_ERRORS: tuple[type[BaseException], ...] = (
    MissingExtra,
    ValueError,
    OSError,
    RuntimeError,
    MemoryError,
    pickle.UnpicklingError,
)


class UsageError(Exception):
    """Arguments that parse but do not fit together (or name an unusable path): exit 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends each option's default to its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
        if (
            not shown
            or "%(default)" in text
            or default is None
            or default is False
            or (isinstance(default, str | list) and not default)
            or default is argparse.SUPPRESS
        ):
            return text
        rendered = format_default(default).replace("%", "%%")
        return f"{text} (default: {rendered})" if text else f"(default: {rendered})"


def format_default(value: Any) -> str:
    """A default as the user would type it: sizes as HxW, lists comma-separated."""
    if isinstance(value, range):
        return f"{value.start}-{value.stop - 1}"
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    if isinstance(value, list | tuple):
        return ",".join(format_default(item) for item in value)
    return str(value)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with `--version`, defaults in --help and one-line usage errors."""

    def __init__(self, *args: Any, version: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        if version:
            self.add_argument("--version", action="version", version=f"p2phd {__version__}")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def add_subcommands(parser: argparse.ArgumentParser, **kwargs: Any) -> Any:
    """Subparsers that are Parsers without their own --version line."""

    class Subparser(Parser):
        def __init__(self, *args: Any, **sub_kwargs: Any) -> None:
            super().__init__(*args, version=False, **sub_kwargs)

    return parser.add_subparsers(parser_class=Subparser, **kwargs)


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, KeyError):  # str() of a KeyError is only the key
        return f"no {error} entry"
    if isinstance(error, MemoryError):
        return f"out of memory: {error}" if str(error) else "out of memory"
    return str(error) or type(error).__name__


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Runs a command's body and returns its exit status; a user's error becomes one line."""
    # A file name that is not UTF-8 (a surrogate escape in Python) prints escaped, rather
    # than failing the command when a message names it.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        return body()
    except UsageError as error:
        return _report(prog, f"error: {one_line(error)}", EXIT_USAGE, error)
    except KeyboardInterrupt as error:
        return _report(prog, "interrupted", EXIT_INTERRUPTED, error)
    except USER_ERRORS as error:
        return _report(prog, one_line(describe_error(error)), EXIT_RUNTIME, error)
    except Exception as error:
        message = f"unexpected {type(error).__name__}: {one_line(error)}"
        return _report(prog, f"{message} (P2PHD_TRACEBACK=1 shows where)", EXIT_RUNTIME, error)


def run_parsed(
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], int],
    argv: list[str] | None,
) -> int:
    """A command's main: parses argv (a usage error exits 2 there), then runs body on the
    arguments through run_command."""
    args = parser.parse_args(argv)
    return run_command(parser.prog, lambda: body(args))


def _report(prog: str, message: str, code: int, error: BaseException) -> int:
    if os.environ.get("P2PHD_TRACEBACK"):
        raise error
    print(f"{prog}: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------- argument types


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def parse_size(text: str, minimum: int = 1, maximum: int = MAX_SIDE) -> tuple[int, int]:
    """'HxW' -> (height, width), each side in [minimum, maximum]."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 1024x2048 (HxW), got {text!r}"
        ) from None
    if not (minimum <= height <= maximum and minimum <= width <= maximum):
        raise argparse.ArgumentTypeError(
            f"height and width must be in [{minimum}, {maximum}], got {text!r}"
        )
    return height, width


def scene_size(text: str) -> tuple[int, int]:
    """HxW of a synthetic scene."""
    return parse_size(text, minimum=SCENE_MIN_SIDE)


def scene_sizes(text: str) -> list[tuple[int, int]]:
    return [scene_size(part) for part in text.split(",")]


def positive_ints(text: str) -> list[int]:
    return [positive_int(part) for part in text.split(",")]


def device_name(text: str) -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N' (whether CUDA is present is checked at run time)."""
    kind, _, index = text.partition(":")
    if text in ("auto", "cpu", "cuda") or (kind == "cuda" and index.isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")


# ---------------------------------------------------------------- outputs


def check_output_file(path: str | os.PathLike, option: str = "OUT") -> Path:
    """A file to write: a regular file where it exists (not a folder, a device, a FIFO),
    and under folders (not files) where they exist."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise UsageError(
            f"{option} {path} is not a regular file (a device, FIFO or socket); p2phd "
            "writes only regular files"
        )
    _check_parents(path, option)
    return path


def check_not_an_input(out: Path, inputs: list[str | None], option: str = "--out") -> None:
    """A usage error when the file to write is one of the files the command reads."""
    for given in inputs:
        if given and out.exists() and Path(given).exists() and os.path.samefile(out, given):
            raise UsageError(f"{option} {out} is the input {given}; it would be replaced")


def check_output_dir(path: str | os.PathLike, option: str = "OUT") -> Path:
    """A folder to write into: a folder where it exists, under folders where they exist."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        kind = "a file" if path.is_file() else "a device, FIFO or socket"
        raise UsageError(f"{option} {path} is {kind}, not a folder")
    _check_parents(path, option)
    return path


def _check_parents(path: Path, option: str) -> None:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
            return


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """write_png, with an error that names the file asked for (not its temporary twin)."""
    try:
        write_png(path, image)
    except OSError as error:
        raise OSError(f"cannot write {path}: {error.strerror or error}") from error


# ---------------------------------------------------------------- what runs a Runtime

# Runtime's backends (p2phd.runtime.runtime.BACKENDS) in the order --help lists them:
# written out, not imported, so that building a parser loads no torch.
BACKENDS = ("auto", "openvino", "torch", "fused", "onnxruntime", "tensorrt", "torchscript")
RUNTIME_PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def add_runtime_arguments(parser: argparse.ArgumentParser, precision_help: str) -> None:
    """--backend, --device, --precision (its auto explained by precision_help) and --threads:
    the Runtime a command renders with; runtime_options turns them into Runtime's arguments."""
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="what runs the generator (auto: openvino on a CPU, torch on CUDA)",
    )
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda[:N]")
    parser.add_argument(
        "--precision", default="auto", choices=RUNTIME_PRECISIONS, help=precision_help
    )
    parser.add_argument(
        "--threads",
        type=int_at_least(1),
        help="CPU threads of a render on the openvino backend (its INFERENCE_NUM_THREADS; "
        "default: all cores)",
    )


def runtime_options(args: argparse.Namespace) -> dict[str, Any]:
    """Runtime's backend=, device=, precision= and threads= from add_runtime_arguments'
    options; --threads only for the openvino backend."""
    options: dict[str, Any] = {
        "backend": args.backend,
        "device": args.device,
        "precision": args.precision,
    }
    if args.threads is not None:
        if args.backend not in ("auto", "openvino"):
            raise UsageError(f"--threads applies to the openvino backend, not {args.backend}")
        options["threads"] = args.threads
    return options

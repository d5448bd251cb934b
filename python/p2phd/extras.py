# SPDX-License-Identifier: Apache-2.0
"""The one way p2phd imports an optional dependency: `require("onnx")`.

The base install stays small; each optional feature is an extra in pyproject.toml. When a
module of an extra is missing, `require` raises MissingExtra, whose message names the extra
to install, so no command ends in a bare ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Top-level module -> the extra of pyproject.toml that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "onnx": "export",
    "onnxruntime": "export",
    "nncf": "int8",
    "ray": "ray",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "httpx": "serve",
    "tensorrt": "tensorrt-rtx",
    "tensorrt_rtx": "tensorrt-rtx",
    "tensorrt_rtx_bindings": "tensorrt-rtx",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f'{module} is not installed: install the {extra} extra, pip install "p2phd[{extra}]"',
            name=module,
        )
        self.extra = extra
        self.install = f'pip install "p2phd[{extra}]"'


def require(module: str) -> ModuleType:
    """Imports `module` (e.g. "onnx", "ray.data") or raises MissingExtra naming its extra.

    A module that is not found (the package, or one it needs, such as pyarrow for ray.data)
    is a missing extra; any other ImportError (a broken install, a missing shared library)
    propagates as it is.
    """
    top = module.split(".")[0]
    if top not in EXTRA_OF_MODULE:
        raise KeyError(f"{top} is not an optional dependency of p2phd: add it to EXTRA_OF_MODULE")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise MissingExtra(error.name or top, EXTRA_OF_MODULE[top]) from error


def require_one_of(*modules: str) -> ModuleType:
    """The first of `modules` that imports (alternatives such as tensorrt / TensorRT for RTX)."""
    missing: MissingExtra | None = None
    for module in modules:
        try:
            return require(module)
        except MissingExtra as error:
            missing = error  # the last alternative is the one the extra installs
    assert missing is not None, "require_one_of needs at least one module"
    raise missing

# SPDX-License-Identifier: Apache-2.0
"""The package's imports point one way: no module imports one from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "p2phd"
# Bottom to top; a module may import its own layer and those below. The package root
# (__init__.py) re-exports the public API and is above everything it names.
LAYERS: list[set[str]] = [
    {"_native", "atomic", "durations", "extras", "image_io", "line_log", "map_jobs", "reference"},
    {"ops"},
    {"models"},
    {"checkpoint", "data"},
    {"artifact_io", "sidecar"},
    {"runtime"},
    {"export", "quality", "train"},
    {"serve", "distributed"},
    {"bench"},
    {"cli"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def imported_parts(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, part) of every p2phd module that `path` imports, relative imports resolved."""
    here = ["p2phd", *path.relative_to(package).parts[:-1]]  # the module's own package
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            names = [".".join(module)]
            if len(module) == 1:  # `from p2phd import x` or `from .. import x`
                names = [f"p2phd.{alias.name}" for alias in node.names]
        found += [(node.lineno, name.split(".")[1]) for name in names if name.startswith("p2phd.")]
    return found


def test_every_part_has_a_layer():
    parts = {part_of(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}
    parts |= {path.name.split(".")[0] for path in PACKAGE.glob("_native*.so")}
    assert parts - set(LAYER_OF) == set(), "add the new part to LAYERS"


def test_no_import_climbs():
    climbs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        if part == "__init__":
            continue
        for line, target in imported_parts(path):
            if target in LAYER_OF and LAYER_OF[target] > LAYER_OF[part]:
                climbs.append(f"{path.relative_to(PACKAGE)}:{line}: {part} imports {target}")
    assert climbs == [], "\n".join(climbs)


def test_the_check_sees_every_form_of_import(tmp_path):
    module = tmp_path / "ops" / "probe.py"
    module.parent.mkdir()
    module.write_text(
        "from p2phd.cli import render\nfrom p2phd import runtime\nimport p2phd.serve.app\n"
        "from . import arrays\nfrom ..export import onnx\n"
    )
    parts = [part for _, part in imported_parts(module, tmp_path)]
    assert parts == ["cli", "runtime", "serve", "ops", "export"]


# Issue 25: a module is read in one sitting, a function on one screen or two.
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 85


def test_no_module_or_function_is_too_long():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == [], "\n".join(too_long)

# SPDX-License-Identifier: Apache-2.0
"""Optional dependencies: every import of one goes through p2phd.extras, whose error names the
extra to install; a command run without its extra says so in one line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from p2phd import extras
from p2phd.cli import export as export_cli
from p2phd.cli.render import DEMO_MODEL

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "p2phd"
# serve/__init__.py requires the serve extra before any module of the package is imported,
# so those modules may import fastapi at their top.
GATED_PACKAGES = {PACKAGE / "serve": "serve"}
IMPORTERS = {"import_module", "__import__"}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            first = node.args[0]
            if name in IMPORTERS and isinstance(first, ast.Constant):
                found.append((node.lineno, str(first.value)))
    return found


def _gated(path: Path, extra: str) -> bool:
    return any(
        path.is_relative_to(package) and path.name != "__init__.py" and gated == extra
        for package, gated in GATED_PACKAGES.items()
    )


def test_no_module_imports_an_optional_dependency_directly():
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "extras.py":
            continue
        for line, module in _imported_modules(ast.parse(path.read_text(), str(path))):
            extra = extras.EXTRA_OF_MODULE.get(module.split(".")[0])
            if extra is not None and not _gated(path, extra):
                bare.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bare, "use p2phd.extras.require:\n" + "\n".join(bare)


def test_the_walker_sees_every_form_of_import():
    source = "import onnx\nfrom ray.data import x\nimportlib.import_module('httpx')\n"
    assert [m for _, m in _imported_modules(ast.parse(source))] == ["onnx", "ray.data", "httpx"]


def test_every_extra_named_exists_in_pyproject():
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras.EXTRA_OF_MODULE.values()) <= set(optional)


@pytest.mark.parametrize("module", sorted(extras.EXTRA_OF_MODULE))
def test_a_missing_module_names_its_extra(module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if absent
    with pytest.raises(extras.MissingExtra) as raised:
        extras.require(module)
    extra = extras.EXTRA_OF_MODULE[module]
    assert f'pip install "p2phd[{extra}]"' in str(raised.value)
    assert raised.value.extra == extra


def test_a_submodule_missing_names_the_extra_of_its_package():
    # In a fresh interpreter: ray.data must really be imported, with pyarrow (which Ray Data
    # needs, ray alone does not) absent, as where ray was installed without [data].
    pytest.importorskip("ray")
    code = (
        "import sys\nsys.modules['pyarrow'] = None\nfrom p2phd import extras\n"
        "try:\n    extras.require('ray.data')\nexcept extras.MissingExtra as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert 'pip install "p2phd[ray]"' in result.stdout, result.stderr


def test_an_unknown_module_is_a_programming_error():
    with pytest.raises(KeyError, match="EXTRA_OF_MODULE"):
        extras.require("numpy")


def test_the_serve_package_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    for name in [name for name in sys.modules if name.startswith("p2phd.serve")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(extras.MissingExtra, match=r"p2phd\[serve\]"):
        import p2phd.serve  # noqa: F401


def test_export_without_onnx_says_which_extra_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    arguments = [str(DEMO_MODEL), "--to", "onnx", "--out", str(tmp_path / "demo.onnx")]
    assert export_cli.main(arguments) == 1
    error = capsys.readouterr().err.strip()
    assert 'pip install "p2phd[export]"' in error and "unexpected" not in error
    assert len(error.splitlines()) == 1
    assert not list(tmp_path.iterdir())

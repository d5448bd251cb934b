# SPDX-License-Identifier: Apache-2.0
"""The README's first commands are what CI runs, and the CLI table names real options."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_ci_runs_the_readme_test_command_verbatim():
    install, test = _first_commands()
    assert install.startswith("pip install torch==") and "p2phd-render" in install
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci

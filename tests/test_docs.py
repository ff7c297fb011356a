"""The README's first commands work on a fresh machine, as a new user would run them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT


def _readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert block, "README.md must open with a bash code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_and_test_commands():
    install_and_run, run_tests = _readme_commands()[:2]
    assert "pip install" in install_and_run
    assert "tracelab report" in install_and_run
    assert "pytest" in run_tests
    head = (REPO_ROOT / "README.md").read_text().splitlines()[:8]
    assert any("```" in line for line in head), "the commands must be in the README's first lines"


def _project_copy(dest: Path) -> Path:
    """The files a fresh clone would have (tracked and not ignored), without any venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.mark.slow
def test_readme_commands_run_on_a_fresh_copy(tmp_path):
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files a fresh clone has")
    project = _project_copy(tmp_path / "tracelab")
    install_and_run, run_tests = _readme_commands()[:2]
    # The tests themselves are what this test is part of: collect them rather than recurse.
    run_tests = run_tests.replace("pytest", "pytest --collect-only -q -p no:cacheprovider")
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    for command in (install_and_run, run_tests):
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True,
            timeout=1200,
        )
        assert done.returncode == 0, f"{command!r} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (project / "tracelab-report" / "report.html").is_file()
    assert (project / "tracelab-report" / "summary.json").is_file()
    assert sys.executable  # the outer interpreter is untouched

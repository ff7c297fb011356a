"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

# Pinned terminal so tables render the same everywhere.
CLI_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (real traces, calibration data); skips when it is absent (a user's clone)."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent: real-trace tests need the project's shared folder")
    return SHARED_DIR


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, args: list[str]):
    """Run ``tracelab ARGS`` in-process with a pinned terminal."""
    from tracelab.cli import app

    return runner.invoke(app, args, env=CLI_ENV)

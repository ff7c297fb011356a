"""The command as a whole: every verb has help, start-up stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import invoke

from tracelab.cli import VERBS, app


def _registered() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_listed_verb_is_registered():
    assert set(_registered()) == set(VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(runner, verb):
    result = invoke(runner, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert len(result.stdout.strip().splitlines()) > 3


def test_top_level_help_lists_the_verbs(runner):
    result = invoke(runner, ["--help"])
    assert result.exit_code == 0
    for verb in VERBS:
        assert verb in result.stdout


def test_importing_the_cli_does_not_import_heavy_libraries():
    code = (
        "import sys, tracelab.cli; "
        "heavy = [m for m in ('sklearn', 'scipy', 'pyarrow', 'numpy.linalg') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

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


def _run_main(args: list[str], setup: str = "") -> subprocess.CompletedProcess[str]:
    """The ``tracelab`` entry point in a fresh interpreter (its exit skips the teardown)."""
    code = f"import sys\n{setup}\nsys.argv = ['tracelab', *{args!r}]\nfrom tracelab.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_the_command_exits_with_its_status_and_flushed_output():
    listed = _run_main(["formats"])
    assert listed.returncode == 0
    assert "canonical" in listed.stdout
    missing = _run_main(["report", "/nonexistent/trace.parquet"])
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_quick_exit_still_removes_a_large_trace_s_work_folder(tmp_path):
    """Finalizers and the atexit handlers registered while the command runs still run
    before the process ends: a large input's work folder (a TemporaryDirectory) is gone."""
    from tracelab.resources import sample_traces_dir

    sample = sample_traces_dir() / "sample.canonical.parquet"
    setup = (
        "import atexit, tempfile, tracelab.ingest.reader as reader\n"
        f"reader.LARGE_BYTES = 0\ntempfile.tempdir = {str(tmp_path)!r}\n"
        "original = reader.read_trace\n"
        "def read_trace(*args, **kwargs):\n"
        "    atexit.register(lambda: print('atexit ran'))\n"
        "    return original(*args, **kwargs)\n"
        "reader.read_trace = read_trace\n"
        "import tracelab.ingest\ntracelab.ingest.read_trace = read_trace"
    )
    out = tmp_path / "labels.parquet"
    done = _run_main(["label", str(sample), "-o", str(out)], setup)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert "atexit ran" in done.stdout
    assert not list(tmp_path.glob("tracelab-*"))

"""Faults: a killed, terminated or concurrent run, a full disk, a read-only folder. Whatever
happens, an output folder holds the previous complete set or none, no temporary file or
work folder outlives its process, and the user reads one line (exit 2).

These run ``tracelab`` as a real process (signals and locks need one). Tests that need a
tmpfs mount (full disk, read-only) run as root and skip with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CLI_ENV, REPO_ROOT
from tracelab.outputs import MANIFEST

SAMPLE = REPO_ROOT / "sample_traces" / "sample.azure.csv"
BIG_ROWS = 700_000  # > 16 MB of Parquet: a "large" input, which gets a work folder
WAIT_S = 300.0  # upper bound on any wait (the machine may be shared and slow)


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, **CLI_ENV, "PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(tmp)}


def _start(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tracelab.cli import main; main()", *args],
        env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    proc = _start(args, tmp)
    out, err = proc.communicate(timeout=WAIT_S)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _wait_for(condition, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _work_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("tracelab-work-*"))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tracelab-" in p.name)


def _complete_set(out: Path) -> bool:
    """The folder holds exactly the files its manifest lists, and summary.json parses."""
    listed = set(json.loads((out / MANIFEST).read_text())["files"])
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    json.loads((out / "summary.json").read_text())
    return present == listed | {MANIFEST} and "report.md" in listed


def _one_line(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    path = folder / "big.parquet"
    done = _run(["synth", "-o", str(path), "--rows", str(BIG_ROWS)], folder)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_size > 16 * 1024 * 1024
    return path


def test_sigterm_removes_the_work_folder_and_writes_nothing(big, tmp_path):
    out = tmp_path / "out"
    proc = _start(["report", str(big), "-o", str(out)], tmp_path)
    _wait_for(lambda: bool(_work_folders(tmp_path)), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    _one_line(err.split("\n", 1)[-1] if err.startswith("\r") else err, "terminated")
    assert _work_folders(tmp_path) == []
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_sigkill_at_any_point_leaves_the_previous_complete_set(big, tmp_path):
    out = tmp_path / "out"
    first = _run(["report", str(SAMPLE), "-o", str(out)], tmp_path)
    assert first.returncode == 0, first.stderr
    before = (out / "summary.json").read_text()
    # Kill a second run into the same folder at several points: while it reads, once its
    # work folder exists, and a little later.
    for delay in (0.0, None, 1.0):
        proc = _start(["report", str(big), "-o", str(out)], tmp_path)
        if delay is None:
            _wait_for(lambda: bool(_work_folders(tmp_path)), proc)
        else:
            time.sleep(delay)
        proc.kill()
        proc.wait(timeout=WAIT_S)
        assert _complete_set(out)
        assert (out / "summary.json").read_text() == before
    # What the killed runs left (work folders, staging) goes at the next start.
    done = _run(["formats"], tmp_path)
    assert done.returncode == 0
    assert _work_folders(tmp_path) == []
    assert _leftovers(tmp_path) == []


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    pid = _dead_pid()
    work = tmp_path / f"tracelab-work-{pid}-abc"
    (work / "parts").mkdir(parents=True)
    stage = tmp_path / f".out.tracelab-new-{pid}"
    stage.mkdir()
    temp = tmp_path / f".t.parquet.tracelab-tmp-{pid}.parquet"
    temp.write_text("half")
    mine = tmp_path / f"tracelab-work-{os.getpid()}-live"  # a live process's: kept
    mine.mkdir()
    foreign = tmp_path / "tracelab-pg-1abc"  # not one of ours: kept
    foreign.mkdir()
    out = tmp_path / "t.parquet"
    done = _run(["ingest", str(SAMPLE), "-o", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p for p in (work, stage, temp) if p.exists()] == []
    assert [p for p in (mine, foreign) if not p.exists()] == []


def test_two_runs_into_one_output_one_fails_in_one_line(big, tmp_path):
    out = tmp_path / "out"
    lock = tmp_path / ".out.tracelab-lock"
    first = _start(["report", str(big), "-o", str(out)], tmp_path)
    _wait_for(lock.exists, first)
    second = _run(["report", str(SAMPLE), "-o", str(out)], tmp_path)
    assert second.returncode == 2
    _one_line(second.stderr, "another tracelab run", f"pid {first.pid}")
    first.communicate(timeout=WAIT_S)
    assert first.returncode == 0
    assert _complete_set(out)
    assert json.loads((out / "summary.json").read_text())["input"]["files"] == ["big.parquet"]
    assert not lock.exists()


def _mount_tmpfs(folder: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "tiny"
    _mount_tmpfs(folder, "size=64k")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "ro"
    _mount_tmpfs(folder, "ro,size=64k")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_full_disk_is_one_line_and_leaves_nothing(tiny_disk, tmp_path):
    report = _run(["report", str(SAMPLE), "-o", str(tiny_disk / "out")], tmp_path)
    assert report.returncode == 2
    _one_line(report.stderr.splitlines()[-1], "not enough space", str(tiny_disk), "MB there")
    ingest = _run(["synth", "-o", str(tiny_disk / "t.parquet"), "--rows", "20000"], tmp_path)
    assert ingest.returncode == 2
    _one_line(ingest.stderr, "no space left", "MB free")
    assert sorted(p.name for p in tiny_disk.iterdir()) == []


def test_full_disk_while_the_plan_streams_its_ledger(tiny_disk, tmp_path):
    trace = tmp_path / "t.parquet"
    assert _run(["synth", "-o", str(trace), "--rows", "20000"], tmp_path).returncode == 0
    plan = _run(["plan", str(trace), "-o", str(tiny_disk / "plan")], tmp_path)
    assert plan.returncode == 2, plan.stderr
    _one_line(plan.stderr.splitlines()[-1], "no space left", str(tiny_disk / "plan"), "MB free")
    assert sorted(p.name for p in tiny_disk.iterdir()) == []


def test_full_disk_on_a_mount_point_folder(tiny_disk, tmp_path):
    """-o naming the mount point itself (it cannot be swapped: written file by file)."""
    report = _run(["report", str(SAMPLE), "-o", str(tiny_disk)], tmp_path)
    assert report.returncode == 2
    _one_line(report.stderr.splitlines()[-1], "not enough space")
    assert sorted(p.name for p in tiny_disk.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["report", str(SAMPLE), "-o", "{ro}/out"],
    ["plan", str(SAMPLE), "-o", "{ro}/plan"],
    ["label", str(SAMPLE), "-o", "{ro}/labeled.parquet"],
    ["ingest", str(SAMPLE), "-o", "{ro}/t.parquet"],
    ["synth", "-o", "{ro}/s.parquet", "--rows", "10"],
    ["calibrate", "{calibration}", "-o", "{ro}/profile.toml"],
])
def test_read_only_output_is_one_line(read_only, tmp_path, args):
    calibration = tmp_path / "m.csv"
    calibration.write_text("model,phase,batch,context,ms\n"
                           "llama-3.1-8b,prefill,1,2048,60.0\nllama-3.1-8b,prefill,1,8192,260.0\n"
                           "llama-3.1-8b,decode,1,1024,8.0\nllama-3.1-8b,decode,64,1024,11.0\n"
                           "llama-3.1-8b,decode,256,1024,22.0\n")
    argv = [a.format(ro=read_only, calibration=calibration) for a in args]
    done = _run(argv, tmp_path)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "read-only", str(read_only))
    assert done.stdout == ""

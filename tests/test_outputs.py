"""tracelab.outputs: whole sets, no stale files, foreign folders refused, atomic files."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import REPO_ROOT, invoke
from tracelab.outputs import MANIFEST, OutputError, output_files, output_folder

SAMPLE = REPO_ROOT / "sample_traces" / "sample.azure.csv"


def test_a_folder_is_replaced_as_one_set(tmp_path):
    out = tmp_path / "out"
    with output_folder(out) as stage:
        (stage / "a.txt").write_text("1")
        (stage / "sub").mkdir()
        (stage / "sub" / "old.svg").write_text("<svg/>")
    assert json.loads((out / MANIFEST).read_text())["files"] == ["a.txt", "sub/old.svg"]
    with output_folder(out) as stage:
        (stage / "a.txt").write_text("2")
    assert (out / "a.txt").read_text() == "2"
    assert not (out / "sub" / "old.svg").exists()  # the earlier run's file is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_write_leaves_the_previous_set(tmp_path):
    out = tmp_path / "out"
    with output_folder(out) as stage:
        (stage / "a.txt").write_text("1")
    def half_written() -> None:
        with output_folder(out) as stage:
            (stage / "a.txt").write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        half_written()
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_of_someone_elses_files_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"holds files tracelab did not write \(e.g. notes.txt\)"):
        with output_folder(out):
            pass
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_file_added_to_a_report_folder_is_not_deleted(runner, tmp_path):
    out = tmp_path / "out"
    assert invoke(runner, ["report", str(SAMPLE), "-o", str(out)]).exit_code == 0
    (out / "my-notes.md").write_text("mine")
    result = invoke(runner, ["report", str(SAMPLE), "-o", str(out)])
    assert result.exit_code == 2
    assert "holds files tracelab did not write (e.g. my-notes.md)" in result.stderr
    assert (out / "my-notes.md").exists()


def test_a_report_folder_from_before_manifests_is_still_ours(tmp_path):
    out = tmp_path / "old"
    (out / "charts").mkdir(parents=True)
    for name in ("summary.json", "report.md", "charts/lengths.svg"):
        (out / name).write_text("x")
    with output_folder(out) as stage:
        (stage / "summary.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "summary.json"]


def test_an_empty_existing_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    with output_folder(out) as stage:
        (stage / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"


def test_files_are_renamed_into_place_only_on_success(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    def half_written() -> None:
        with output_files(target) as (temp,):
            temp.write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        half_written()
    assert target.read_text() == "old"
    with output_files(target) as (temp,):
        assert temp.parent == tmp_path
        assert target.read_text() == "old"  # nobody sees the new file before it is whole
        temp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_a_clean_ingest_removes_the_rejected_rows_of_an_earlier_run(runner, tmp_path):
    dirty = tmp_path / "dirty.csv"
    dirty.write_text("input_tokens,output_tokens\n1,1\n-1,1\n")
    out = tmp_path / "t.parquet"
    assert invoke(runner, ["ingest", str(dirty), "-o", str(out)]).exit_code == 0
    assert pl.read_parquet(tmp_path / "t.rejected.parquet").height == 1
    clean = tmp_path / "clean.csv"
    clean.write_text("input_tokens,output_tokens\n1,1\n")
    assert invoke(runner, ["ingest", str(clean), "-o", str(out)]).exit_code == 0
    assert not (tmp_path / "t.rejected.parquet").exists()


def test_a_foreign_file_with_a_rejected_name_is_kept(runner, tmp_path):
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "t.rejected.parquet")
    clean = tmp_path / "clean.csv"
    clean.write_text("input_tokens,output_tokens\n1,1\n")
    assert invoke(runner, ["ingest", str(clean), "-o", str(tmp_path / "t.parquet")]).exit_code == 0
    assert (tmp_path / "t.rejected.parquet").exists()


def test_a_second_claim_from_another_process_is_refused(tmp_path):
    import subprocess
    import sys

    from tracelab.outputs import claim

    out = tmp_path / "out"
    code = ("import sys; from pathlib import Path; from tracelab.outputs import claim\n"
            "from tracelab.errors import TracelabError\n"
            "try:\n    with claim(Path(sys.argv[1]), folder=True): pass\n"
            "except TracelabError as e: print(e); sys.exit(2)\n")
    with claim(out, folder=True):
        done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                              text=True, env={"PYTHONPATH": str(REPO_ROOT)}, check=False)
    assert done.returncode == 2, done.stderr
    assert "another tracelab run" in done.stdout
    again = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                           text=True, env={"PYTHONPATH": str(REPO_ROOT)}, check=False)
    assert again.returncode == 0, again.stdout + again.stderr

"""Partitioning, the per-partition profile and its merge, on the local and Dask executors."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from scale_fixtures import tiny_frame

from tracelab.errors import ConfigError, InputFileError
from tracelab.scale import (
    DaskExecutor,
    LocalExecutor,
    make_executor,
    plan_partitions,
    run_profile,
    scan_partition,
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.parquet"
    tiny_frame().write_parquet(path, row_group_size=2)  # 3 row groups of 2 rows
    return path


def test_plan_partitions_packs_row_groups(tiny: Path) -> None:
    parts = plan_partitions(tiny, target_rows=4)
    assert [(p.row_offset, p.n_rows) for p in parts] == [(0, 4), (4, 2)]
    assert [p.index for p in parts] == [0, 1]
    assert {p.format for p in parts} == {"canonical"}
    whole = plan_partitions(tiny, target_rows=100)
    assert [(p.row_offset, p.n_rows) for p in whole] == [(0, None)]


def test_scan_partition_keeps_source_rows(tiny: Path) -> None:
    last = plan_partitions(tiny, target_rows=2)[-1]
    rows = scan_partition(last).select("request_id", "source_row").collect()
    assert rows.to_dicts() == [
        {"request_id": "r4", "source_row": 5},
        {"request_id": "r5", "source_row": 6},
    ]


def test_profile_numbers_by_hand(tiny: Path) -> None:
    got = run_profile(tiny, target_rows=2)
    assert got["partitions"] == 3
    assert got["requests"] == 6
    assert got["windows"] == 3
    assert got["peak_window_requests"] == 3
    assert got["totals"] == {
        "input_tokens": 2100,
        "cached_input_tokens": 150,
        "output_tokens": 210,
        "prefill_tokens": 1950,  # null cached counts as nothing cached
        "context_tokens": 2310,
    }
    assert got["mean_ttft_s"] == pytest.approx(0.36)
    assert got["quantiles"]["input_tokens"]["p50"] == pytest.approx(300, rel=0.01)
    first = got["by_window_model"][0]
    assert (first["model"], first["requests"], first["input_tokens"]) == ("a", 2, 300)


def test_partitioning_does_not_change_the_profile(tiny: Path, tmp_path: Path) -> None:
    single = tmp_path / "one-group.parquet"
    tiny_frame().write_parquet(single, row_group_size=100)
    runs = [run_profile(tiny, target_rows=100), run_profile(tiny, target_rows=2),
            run_profile(single, target_rows=4)]
    assert [r.pop("partitions") for r in runs] == [1, 3, 2]
    assert runs[0] == runs[1] == runs[2]


def test_dask_local_cluster_equals_local(tiny: Path) -> None:
    pytest.importorskip("distributed")
    local = run_profile(tiny, target_rows=2, executor=LocalExecutor())
    with DaskExecutor(local_cluster=2, processes=False) as dask:
        assert dask.address.startswith("tcp://127.0.0.1:")
        remote = run_profile(tiny, target_rows=2, executor=dask)
    assert remote == local


def test_unreachable_scheduler_names_the_address() -> None:
    pytest.importorskip("distributed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(ConfigError, match=f"cannot reach the Dask scheduler at {address}"):
        DaskExecutor(scheduler=address, connect_timeout_s=0.5)


def test_dask_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"pip install '\.\[dask\]'"):
        DaskExecutor(local_cluster=1)


def test_make_executor_checks_its_options() -> None:
    assert isinstance(make_executor("local"), LocalExecutor)
    assert make_executor("inline") is None
    with pytest.raises(ConfigError, match="needs the dask executor"):
        make_executor("local", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(ConfigError, match="exactly one"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="at least 1"):
        make_executor("dask", local_cluster=0)


def test_bad_inputs(tmp_path: Path, tiny: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        plan_partitions(tmp_path / "missing.parquet")
    with pytest.raises(InputFileError, match="target_rows"):
        plan_partitions(tiny, target_rows=0)


def test_cli_boundary_turns_executor_errors_into_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """How a verb's --executor/--scheduler options fail: one line on stderr, exit 2."""
    import typer
    from typer.testing import CliRunner

    from tracelab.commands._boundary import boundary

    app = typer.Typer()

    @app.command()
    @boundary
    def run(executor: str = "dask", scheduler: str | None = None) -> None:
        with make_executor(executor, scheduler=scheduler):
            typer.echo("ran")

    monkeypatch.setitem(sys.modules, "distributed", None)
    result = CliRunner().invoke(app, ["--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: the dask executor needs Dask distributed")
    assert result.stderr.count("\n") == 1


def test_ranges_pack_small_and_cut_large_row_groups() -> None:
    from tracelab.ingest.partition import _ranges

    assert _ranges([2, 2, 2], 4) == [(0, 4), (4, 2)]
    assert _ranges([10], 4) == [(0, 3), (3, 3), (6, 4)]
    assert _ranges([1, 10, 1], 4) == [(0, 1), (1, 3), (4, 3), (7, 4), (11, 1)]
    assert _ranges([], 4) == [(0, 0)]


def test_trace_slices_cut_where_the_partitions_do(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local pipeline's slices and the executors' partitions are one rule: same rows."""
    import tracelab.ingest.reader as reader
    from tracelab.ingest import read_trace

    monkeypatch.setattr(reader, "LARGE_BYTES", 0)
    trace = read_trace(tiny)
    slices = [part.collect()["request_id"].to_list() for part in trace.slices(4)]
    parts = [scan_partition(p).collect()["request_id"].to_list()
             for p in plan_partitions(tiny, target_rows=4)]
    assert slices == parts == [["r0", "r1", "r2", "r3"], ["r4", "r5"]]
    assert trace.slice_sizes(4) == [4, 2]


def test_file_ranges_slice_a_csv_only_when_its_rows_are_counted(tmp_path: Path) -> None:
    from tracelab.ingest.partition import file_ranges

    path = tmp_path / "t.csv"
    path.write_text("request_id\n")
    assert file_ranges(path, 4) == [None]
    assert file_ranges(path, 4, total_rows=10) == [(0, 3), (3, 3), (6, 4)]
    assert file_ranges(path, 4, total_rows=3) == [None]
    assert file_ranges(tmp_path / "t.jsonl", 4, total_rows=10) == [None]

"""``tracelab report --executor``: a Dask run's summary.json equals the local partitioned run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

pytest.importorskip("distributed", reason="Dask is an optional extra: pip install '.[dask]' in a checkout")

WALL_CLOCK = ("generated_at", "elapsed_s")


def _summary(folder: Path) -> dict:
    data = json.loads((folder / "summary.json").read_text())
    for key in WALL_CLOCK:
        data.pop(key)
    return data


def test_dask_summary_equals_the_local_partitioned_summary(runner, tmp_path: Path) -> None:
    local = invoke(runner, ["report", "-o", str(tmp_path / "local"), "--executor", "local"])
    assert local.exit_code == 0, local.output
    dask = invoke(runner, ["report", "-o", str(tmp_path / "dask"), "--executor", "dask",
                           "--local-cluster", "2"])
    assert dask.exit_code == 0, dask.output
    assert _summary(tmp_path / "dask") == _summary(tmp_path / "local")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "127.0.0.1:9"),
        (["--local-cluster", "2"], "--executor dask"),
        (["--executor", "spark"], "inline, local or dask"),
    ],
)
def test_executor_errors_are_one_line(runner, tmp_path: Path, args: list[str], needle: str) -> None:
    result = invoke(runner, ["report", "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error:")
    assert needle in lines[0]
    assert not (tmp_path / "out").exists()

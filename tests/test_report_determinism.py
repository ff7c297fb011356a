"""The README's claim: summary.json is deterministic for a given input except generated_at and
elapsed_s, and a byte-identical copy under another name differs only in the file's name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tracelab.cli import app

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def _summary(path: Path, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", str(path), "-o", str(out),
                                      "--assume-model", "llama-3.1-8b"], env=ENV)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    for key in ("generated_at", "elapsed_s"):
        summary.pop(key)
    return summary


def _without_file_names(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with the input's file names taken out (all a rename may change)."""
    inputs = dict(summary["input"])
    inputs.pop("files", None)
    inputs["formats"] = sorted((inputs.get("formats") or {}).values())
    return {**summary, "input": inputs}


# rows without a request id (Azure: ids fall back to FILE:ROW) and prefix blocks (Mooncake)
@pytest.mark.parametrize("name", ["sample.azure.csv", "sample.mooncake.jsonl"])
def test_summary_is_the_same_run_to_run_and_for_a_renamed_copy(tmp_path: Path, name: str) -> None:
    source = tmp_path / name
    shutil.copyfile(SAMPLES / name, source)
    renamed = tmp_path / f"another-name{source.suffix}"
    shutil.copyfile(source, renamed)
    first = _summary(source, tmp_path / "a")
    second = _summary(source, tmp_path / "b")
    assert first == second
    copy = _summary(renamed, tmp_path / "c")
    assert copy["input"]["files"] != first["input"]["files"]
    assert _without_file_names(copy) == _without_file_names(first)

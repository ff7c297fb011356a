"""``tracelab diff`` as a user runs it: tables, Markdown, JSON, gate exit codes, bad input."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import invoke
from test_report_summary import fake_summary

from tracelab.report.summary import dump_summary


@pytest.fixture
def pair(tmp_path):
    base = fake_summary()
    current = copy.deepcopy(base)
    current["plan"]["usd_per_mtok"] = 2.3
    modes = {r["value"]: r for r in current["labels"]["label_mode"]}
    modes["interactive"]["share_requests"] = 0.56
    a, b = tmp_path / "base.json", tmp_path / "report"
    a.write_text(dump_summary(base))
    b.mkdir()
    (b / "summary.json").write_text(dump_summary(current))
    return str(a), str(b)


def test_diff_table(runner, pair):
    result = invoke(runner, ["diff", *pair])
    assert result.exit_code == 0, result.output
    assert "usd_per_mtok" in result.stdout
    assert "+15.0%" in result.stdout
    assert "share(mode=interactive)" in result.stdout
    assert "+6.0pp" in result.stdout


def test_diff_markdown_for_a_pr_comment(runner, pair):
    result = invoke(runner, ["diff", *pair, "--markdown", "--fail-on", "usd_per_mtok>+20%"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## tracelab diff: `base.json` → `report`")
    assert "| usd_per_mtok | $2.00 | $2.30 | +$0.30 (+15.0%) |" in result.stdout
    assert "All 1 gates passed." in result.stdout


def test_crossed_gate_exits_1(runner, pair):
    result = invoke(runner, ["diff", *pair, "--fail-on", "usd_per_mtok>+10%",
                             "--fail-on", "share(interactive)>+5pp"])
    assert result.exit_code == 1
    assert "2 of 2 gates failed." in result.stdout
    assert "gate FAILED: usd_per_mtok>+10% (observed +15.00%)" in result.stderr


def test_gate_not_crossed_exits_0(runner, pair):
    result = invoke(runner, ["diff", *pair, "--fail-on", "usd_per_mtok<-10%"])
    assert result.exit_code == 0


def test_diff_json(runner, pair):
    result = invoke(runner, ["diff", *pair, "--json", "--fail-on", "usd_per_mtok>+10%"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["failed"] is True
    assert data["metrics"]["usd_per_mtok"]["relative"] == pytest.approx(0.15)
    assert data["gates"][0]["crossed"] is True


@pytest.mark.parametrize("args", [
    ["--fail-on", "usd_per_mtok>>1"],
    ["--fail-on", "nonsense>+1%"],
])
def test_bad_gate_exits_2(runner, pair, args):
    result = invoke(runner, ["diff", *pair, *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_input_exits_2(runner, pair, tmp_path):
    result = invoke(runner, ["diff", pair[0], str(tmp_path / "missing.parquet")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_summary_exits_2(runner, pair, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "tracelab-summary", "schema_version": 1}')
    result = invoke(runner, ["diff", pair[0], str(bad)])
    assert result.exit_code == 2
    assert "not a tracelab summary.json" in result.stderr


def test_a_trace_is_priced_as_its_report_prices_it(runner, tmp_path, shared_dir):
    """diff TRACE once priced the program's fleet before the replay ($1.85/h on the Azure
    2023 code trace) while report and plan price the replayed, repaired one ($5.55/h): a
    trace and its own report's summary.json must not differ in cost."""
    trace = str(shared_dir / "traces" / "azure-2023" / "AzureLLMInferenceTrace_code.csv")
    model = ["--assume-model", "llama-3.1-8b"]
    report = invoke(runner, ["report", trace, *model, "-o", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    # the case that tells the two prices apart: the replay grew the fleet
    assert summary["plan"]["replay"]["fluid_usd_per_hour"] < summary["plan"]["usd_per_hour"]
    result = invoke(runner, ["diff", trace, str(tmp_path / "rep"), *model, "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    # summary.json rounds to 6 significant digits
    assert metrics["usd_per_mtok"]["base"] == pytest.approx(metrics["usd_per_mtok"]["current"],
                                                            rel=1e-5)
    assert metrics["usd_per_hour"]["base"] == pytest.approx(summary["plan"]["usd_per_hour"])

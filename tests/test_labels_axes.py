"""The label axes live in one module: an axis added there reaches the labels frame, the
cluster names, the summary, the Markdown and HTML report and the diff, with no other edit."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from conftest import REPO_ROOT, invoke
from test_report_cli import write_small_trace

import tracelab.labels.axes as axes
from tracelab.errors import ConfigError
from tracelab.labels import LabelAxis, compute_labels, label_dtype
from tracelab.labels.rules import RuleContext

PROMPT_MIN_TOKENS = 1000


def prompt_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """A toy axis: a threshold on one feature column."""
    tokens = pl.col("input_tokens")
    long = tokens >= PROMPT_MIN_TOKENS
    label = (pl.when(long).then(ctx.label("long-prompt"))
             .when(tokens.is_not_null()).then(ctx.label("short-prompt")))
    reason = pl.when(long).then(pl.lit("input ≥ 1000 → long-prompt")).otherwise(
        pl.lit("input < 1000 → short-prompt"))
    return label, reason


PROMPT = LabelAxis("prompt", ("short-prompt", "long-prompt"), "Prompt length against 1000.",
                   prompt_rule, rank=10, in_timeline=True)


@pytest.fixture
def with_prompt_axis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(axes, "AXES", (*axes.AXES, PROMPT))


def test_the_enum_holds_every_value_of_every_axis_sorted() -> None:
    assert label_dtype().categories.to_list() == [
        "agentic", "balanced", "batch", "datacenter", "decode-heavy", "edge-eligible", "interactive",
        "large", "long", "medium", "prefill-heavy", "short", "small", "unknown", "very-long"]
    assert axes.label_columns() == (
        "label_phase", "label_context", "label_mode", "label_model", "label_placement")
    assert axes.cluster_name_columns() == (
        "label_mode", "label_context", "label_phase", "label_model")
    assert axes.timeline_columns() == ("label_mode", "label_phase")


def test_the_readme_and_the_schema_name_every_axis_and_its_values() -> None:
    """The documents that list the axes by hand agree with the registry."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(label_\w+)` \| (.+?) \|", readme, flags=re.MULTILINE)
    assert [(column, tuple(re.findall(r"`([^`]+)`", values))) for column, values in rows] == [
        (axis.column, axis.values) for axis in axes.label_axes()]
    schema = json.loads((REPO_ROOT / "schemas" / "summary.schema.json").read_text())
    labels = schema["properties"]["labels"]["description"]
    assert f"({', '.join(axes.label_columns())})" in labels
    series = schema["properties"]["timeline"]["properties"]["series"]["description"]
    assert f"({', '.join([*axes.timeline_columns(), 'cluster_name'])})" in series


def test_an_unknown_axis_is_a_config_error() -> None:
    assert axes.get_axis("label_mode").name == "mode"
    with pytest.raises(ConfigError, match="unknown label axis 'size'; axes: phase, context"):
        axes.get_axis("size")


def test_axes_that_read_each_other_cannot_be_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    def reads(other: str) -> axes.Rule:
        return lambda ctx: (pl.col(other), pl.lit("x"))

    loop = (LabelAxis("a", ("x",), "", reads("label_b")), LabelAxis("b", ("x",), "", reads("label_a")))
    monkeypatch.setattr(axes, "AXES", loop)
    with pytest.raises(ValueError, match="label axes a, b read each other's labels"):
        compute_labels(pl.LazyFrame({"input_tokens": [1]}), edge_devices=pl.DataFrame())


@pytest.mark.usefixtures("with_prompt_axis")
def test_an_added_axis_widens_the_enum_and_the_column_lists() -> None:
    assert {"long-prompt", "short-prompt"} <= set(label_dtype().categories.to_list())
    assert axes.label_columns()[-1] == "label_prompt"
    assert axes.reason_columns()[-1] == "label_prompt_reason"
    assert axes.cluster_name_columns()[-1] == "label_prompt"
    assert axes.timeline_columns() == ("label_mode", "label_phase", "label_prompt")


@pytest.mark.usefixtures("with_prompt_axis")
def test_an_added_axis_reaches_labels_clusters_summary_report_and_diff(runner, tmp_path) -> None:
    trace = write_small_trace(tmp_path / "small.parquet", n=160, seed=4)
    labelled = tmp_path / "labelled.parquet"
    result = invoke(runner, ["label", str(trace), "-o", str(labelled)])
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(labelled)
    expected = ["long-prompt" if n >= PROMPT_MIN_TOKENS else "short-prompt"
                for n in frame.get_column("input_tokens")]
    assert frame.get_column("label_prompt").cast(pl.String).to_list() == expected
    assert "label_prompt_reason" in frame.columns

    out = tmp_path / "report"
    result = invoke(runner, ["report", str(trace), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["value"]: r["requests"] for r in summary["labels"]["label_prompt"]}
    longs = sum(value == "long-prompt" for value in expected)
    assert rows == {"long-prompt": longs, "short-prompt": len(expected) - longs}
    assert set(summary["timeline"]["series"]["label_prompt"]) == set(rows)
    names = [c["name"] for c in summary["clusters"] if c["name"]]
    assert names
    assert all(" · long-prompt · " in n or " · short-prompt · " in n for n in names), names
    for page in ("report.md", "report.html"):
        text = (out / page).read_text()
        assert "long-prompt" in text, page
        assert "prompt" in text, page

    result = invoke(runner, ["diff", str(out / "summary.json"), str(out / "summary.json")])
    assert result.exit_code == 0, result.output
    assert "share(prompt=long-prompt)" in result.stdout
    assert "share(prompt=short-prompt)" in result.stdout

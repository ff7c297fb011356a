"""``tracelab label``: every request with features, workload labels, reasons and cluster."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import (
    AssumeModel,
    Config,
    Format,
    Inputs,
    Json,
    K,
    ModelMap,
    OutputFile,
    RandomState,
    Strict,
    load_inputs,
    parse_model_map_option,
)
from tracelab.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

HELP = (
    "Label each request (phase, context, mode, model size, placement, each with its reason) "
    "and cluster the workload; -o FILE (.parquet or .csv) writes every row plus features, "
    "labels and cluster."
)


def _write(frame: pl.LazyFrame, path: Path) -> None:
    """Parquet, or CSV with list columns encoded as space-separated values; streamed from
    the lazy labelled frame (never held in memory whole). Labels and model names are
    Categoricals or Enums inside tracelab and plain text in the file."""
    import polars as pl

    frame = frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.sink_parquet(path)
    elif suffix == ".csv":
        lists = [n for n, t in frame.collect_schema().items() if isinstance(t, pl.List)]
        frame.with_columns(
            pl.col(n).cast(pl.List(pl.String)).list.join(" ") for n in lists
        ).sink_csv(path)
    else:
        msg = f"--output {path}: unsupported extension '{suffix}'; use .parquet or .csv"
        raise ConfigError(msg)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _tables(summary: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    labels = Table(title=f"Workload labels — {summary['requests']:,} requests")
    for col in ("axis", "label", "requests", "% requests", "% tokens", "% work"):
        labels.add_column(col, justify="right" if col != "label" and col != "axis" else "left")
    for axis, rows in summary["labels"].items():
        for row in rows:
            labels.add_row(axis, str(row[f"label_{axis}"] or "— (no tokens)"), f"{row['requests']:,}",
                           _pct(row["request_share"]), _pct(row["token_share"]),
                           _pct(row["work_share"]))
    clusters = Table(title=f"Clusters (k = {summary['k']})")
    for col in ("cluster", "name", "requests", "% requests", "% tokens", "% work",
                "median in/out tokens"):
        clusters.add_column(col, justify="left" if col == "name" else "right",
                            no_wrap=col != "name", min_width=40 if col == "name" else None)
    for row in summary["clusters"]:
        prof = row.get("profile") or {}
        medians = (
            f"{prof['median_prefill_tokens']:,.0f} / {prof['median_decode_tokens']:,.0f}"
            if prof.get("median_prefill_tokens") is not None else ""
        )
        missing = row["cluster"] is None
        clusters.add_row("—" if missing else str(row["cluster"]),
                         "unclustered (no token counts)" if missing else str(row["name"]), f"{row['requests']:,}",
                         _pct(row["request_share"]), _pct(row["token_share"]),
                         _pct(row["work_share"]), medians)
    a = summary["assumptions"]
    notes = [f"work estimated on {a['reference_device']}"]
    if a["work_model_assumed_requests"]:
        ref = next((m["work_model_id"] for m in a["models"] if m["work_model_assumed"]), "?")
        notes.append(f"{a['work_model_assumed_requests']:,} requests of unknown model costed as {ref}")
    if a["assume_model"]:
        notes.append(f"--assume-model {a['assume_model']}")
    if a["model_map"]:
        notes.append("--model-map " + " ".join(f"{k}={v}" for k, v in a["model_map"].items()))
    clusters.caption = "; ".join(notes)
    return [labels, clusters]


def label(
    inputs: Inputs = None,
    fmt: Format = None,
    strict: Strict = False,
    output: OutputFile = None,
    config: Config = None,
    k: K = None,
    random_state: RandomState = 0,
    model: Annotated[Path | None, typer.Option(
        "--model", help="Apply a saved cluster model (JSON from --save-model).")] = None,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="Save the fitted cluster model as JSON.")] = None,
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    as_json: Json = False,
) -> None:
    """Label each request and cluster the workload."""
    from rich.console import Console

    from tracelab.labels import label_trace, load_label_config, read_cluster_model
    from tracelab.labels.cluster_io import write_cluster_model

    cfg = load_label_config(config)
    clusterer = read_cluster_model(model) if model is not None else None
    mapping = parse_model_map_option(model_map)
    trace = load_inputs(inputs, fmt, strict)
    result = label_trace(
        trace.frame, config=cfg, clusterer=clusterer, k=k, random_state=random_state,
        model_map=mapping, assume_model=assume_model,
    )
    from tracelab.outputs import output_files

    if output is not None:
        with output_files(output) as (temp,):
            _write(result.frame, temp)
        sys.stderr.write(f"wrote {result.summary['requests']:,} labeled rows to {output}\n")
    if save_model is not None:
        with output_files(save_model) as (temp,):
            write_cluster_model(result.clusterer, temp)
        sys.stderr.write(f"saved cluster model (k = {result.clusterer.k_}) to {save_model}\n")
    if as_json:
        sys.stdout.write(json.dumps(result.summary, indent=2, default=str) + "\n")
        return
    console = Console(file=sys.stdout)
    for table in _tables(result.summary):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("label", help=HELP)(boundary(label, files=("output", "save_model")))

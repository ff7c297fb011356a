"""``tracelab label``: every request with features, workload labels, reasons and cluster."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    print_trace_notes,
)
from tracelab.commands._pipeline import open_pipeline, pipeline_options
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
    options = pipeline_options(fmt=fmt, strict=strict, config=config, k=k,
                               random_state=random_state, model_map=model_map,
                               assume_model=assume_model)
    from tracelab.commands._process import stdout_console
    from tracelab.labels import read_cluster_model
    from tracelab.labels.cluster_io import write_cluster_model

    pipe = open_pipeline(inputs, options)
    clusterer = read_cluster_model(model) if model is not None else None
    result = pipe.label(clusterer)
    from tracelab.outputs import output_files

    print_trace_notes(pipe.trace())
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
    from tracelab.report.tables import label_tables

    console = stdout_console()
    for table in label_tables(result.summary):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("label", help=HELP)(boundary(label, files=("output", "save_model")))

"""``tracelab diff BASE CURRENT``: what moved between two traces or two summary.json files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import (
    AssumeModel,
    Catalog,
    Config,
    Format,
    Growth,
    Json,
    K,
    ModelMap,
    Percentile,
    Price,
    Profile,
    RandomState,
    Replay,
    Slo,
    Strict,
    WindowS,
)
from tracelab.commands._pipeline import pipeline_options, run_report

if TYPE_CHECKING:
    from tracelab.pipeline import PipelineOptions
    from tracelab.report.summary_types import Summary

HELP = (
    "Compare BASE and CURRENT (each a trace, a summary.json or a report folder holding one): "
    "shifts in label mix, token totals, cache reuse, burstiness, the recommended fleet and $ "
    "per 1M tokens, as a table or Markdown (--markdown). Gates: --fail-on "
    "'usd_per_mtok>+10%', 'usd_per_mtok<-10%', 'share(interactive)>+5pp' (repeatable) exit 1 "
    "when crossed; bad input exits 2."
)
EXIT_GATE_FAILED = 1


def _load(path_text: str, options: PipelineOptions) -> Summary:
    """A summary from a summary.json, a report folder, or by running the pipeline on a trace."""
    from tracelab.report.summary import claims_summary, is_summary_file, read_summary

    path = Path(path_text)
    if path.is_dir() and (path / "summary.json").is_file():
        return read_summary(path / "summary.json")
    if is_summary_file(path) or claims_summary(path):
        return read_summary(path)
    return run_report([path_text], options).summary


def diff(
    base: Annotated[str, typer.Argument(help="Trace, summary.json or report folder (before).")],
    current: Annotated[str, typer.Argument(help="Trace, summary.json or report folder (after).")],
    fail_on: Annotated[list[str] | None, typer.Option(
        "--fail-on", help="Gate: METRIC OP THRESHOLD, e.g. 'usd_per_mtok>+10%', "
        "'share(interactive)>+5pp', 'usd_per_mtok>2.5' (repeatable); exit 1 when crossed.")
    ] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print Markdown (for a pull-request comment).")] = False,
    as_json: Json = False,
    fmt: Format = None,
    strict: Strict = False,
    config: Config = None,
    k: K = None,
    random_state: RandomState = 0,
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    catalog: Catalog = None,
    price: Price = None,
    profile: Profile = None,
    slo: Slo = None,
    percentile: Percentile = 95.0,
    growth: Growth = 1.0,
    window_s: WindowS = 60.0,
    replay: Replay = True,
) -> None:
    """Compare two traces or summaries; gates exit 1 when crossed."""
    from tracelab.report.diff import compute_shifts
    from tracelab.report.diff_view import diff_sections, diff_to_json
    from tracelab.report.gates import evaluate_gates, parse_gate

    gates_text = list(fail_on or [])
    for text in gates_text:  # grammar and metric names first, before any pipeline runs
        parse_gate(text)
    options = pipeline_options(
        fmt=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=model_map, assume_model=assume_model, catalog=catalog, price=price,
        profile=profile, slo=slo, percentile=percentile, growth=growth, window_s=window_s,
        verify=replay,  # a trace is priced as `tracelab report` prices it: replayed, repaired
    )
    before = _load(base, options)
    after = _load(current, options)
    results = evaluate_gates(gates_text, before, after)
    shifts = compute_shifts(before, after)
    sections = diff_sections(shifts, results)
    if as_json:
        sys.stdout.write(json.dumps(diff_to_json(shifts, results), indent=2, sort_keys=True) + "\n")
    elif markdown:
        from tracelab.report.markdown import render_sections

        sys.stdout.write(f"## tracelab diff: `{Path(base).name}` → `{Path(current).name}`\n\n")
        sys.stdout.write(render_sections(sections, {}, chart_dir=None, level=3))
    else:
        from tracelab.commands._process import stdout_console
        from tracelab.report.terminal import render_section_list

        stdout_console().print(render_section_list(sections))
    failed = [r for r in results if r.crossed]
    for result in failed:
        sys.stderr.write(f"gate {result.describe()}\n")
    if failed:
        raise typer.Exit(EXIT_GATE_FAILED)


def register(app: typer.Typer) -> None:
    app.command("diff", help=HELP)(boundary(diff))

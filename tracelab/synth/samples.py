"""The bundled sample traces: which files, from which seed, and their README.

``write_samples(folder)`` is what ``tracelab synth --samples sample_traces`` runs; the
files in ``sample_traces/`` are its output and a test checks they still match it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracelab.synth.generate import generate_trace
from tracelab.synth.render import render_trace

COMMAND = "tracelab synth --samples sample_traces"


@dataclass(frozen=True)
class SampleSpec:
    """One bundled file: ``rows`` requests of ``mix`` from ``seed`` over ``span_s`` seconds."""

    file: str
    format: str
    rows: int
    seed: int
    span_s: float = 600.0
    mix: str = "default"


SAMPLES: tuple[SampleSpec, ...] = (
    SampleSpec("sample.canonical.parquet", "canonical", 5000, 0, 3600.0),
    SampleSpec("sample.openai.jsonl", "openai", 300, 1),
    SampleSpec("sample.anthropic.jsonl", "anthropic", 300, 1),
    SampleSpec("sample.otel.json", "otel", 300, 1),
    SampleSpec("sample.litellm.csv", "litellm", 300, 1),
    SampleSpec("sample.aiperf.jsonl", "aiperf", 300, 1),
    SampleSpec("sample.azure.csv", "azure", 500, 2),
    SampleSpec("sample.burstgpt.csv", "burstgpt", 500, 2),
    SampleSpec("sample.mooncake.jsonl", "mooncake", 400, 3, mix="agentic"),
)


def sample_frame(spec: SampleSpec) -> pl.DataFrame:
    """The canonical frame a sample file is rendered from."""
    return generate_trace(spec.rows, seed=spec.seed, span_s=spec.span_s, mix=spec.mix)


def write_samples(folder: str | Path) -> list[tuple[Path, int]]:
    """Regenerate every bundled sample (and its README) in ``folder``; return (path, rows written)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    frames: dict[tuple[int, int, float, str], pl.DataFrame] = {}
    for spec in SAMPLES:
        key = (spec.rows, spec.seed, spec.span_s, spec.mix)
        if key not in frames:
            frames[key] = sample_frame(spec)
        path = folder / spec.file
        written.append((path, render_trace(frames[key], spec.format, path)))
    (folder / "README.md").write_text(_readme(frames[_key(SAMPLES[0])], written), encoding="utf-8")
    return written


def _key(spec: SampleSpec) -> tuple[int, int, float, str]:
    return (spec.rows, spec.seed, spec.span_s, spec.mix)


def _readme(canonical: pl.DataFrame, written: list[tuple[Path, int]]) -> str:
    mix = (
        canonical.group_by("synth_workload")
        .agg(
            pl.len().alias("rows"),
            pl.col("model").unique().sort().str.join(", ").alias("models"),
            pl.col("input_tokens").median().alias("p50_in"),
            pl.col("output_tokens").median().alias("p50_out"),
            pl.col("session_id").drop_nulls().n_unique().alias("sessions"),
        )
        .sort("rows", descending=True)
    )
    lines = [
        "# Sample traces",
        "",
        "Synthetic LLM serving traces made by tracelab's own generator, so they can ship with",
        "the project (no third-party data). Regenerate them all (same rows, same values) with:",
        "",
        f"    {COMMAND}",
        "",
        "This README is written by that command too. Distributions and their sources are in",
        "`tracelab/synth/workloads.py`; the seeds, spans and mixes in `tracelab/synth/samples.py`.",
        "",
        "| file | format | rows | seed | span | mix |",
        "|---|---|---|---|---|---|",
    ]
    for spec, (path, rows) in zip(SAMPLES, written, strict=True):
        lines.append(
            f"| `{path.name}` | {spec.format} | {rows} | {spec.seed} | {spec.span_s:g} s | {spec.mix} |"
        )
    lines += [
        "",
        "Formats without a status field (openai, anthropic, azure, mooncake) hold only the",
        "completed requests; burstgpt writes failures as 0 response tokens. The mooncake file",
        "comes from the agentic mix, so every row has prefix blocks (`hash_ids`, 512 tokens).",
        "",
        "`sample.canonical.parquet` is the default input of every command: 5,000 requests",
        "starting 2026-01-05T09:00:00Z over one hour, sorted by arrival. Besides the canonical",
        "columns it has `synth_workload`, the workload that generated each row (ground truth).",
        "",
        "| workload | rows | sessions | median input | median output | models |",
        "|---|---|---|---|---|---|",
    ]
    for row in mix.iter_rows(named=True):
        lines.append(
            f"| {row['synth_workload']} | {row['rows']} | {row['sessions']} | {row['p50_in']:g} | "
            f"{row['p50_out']:g} | {row['models']} |"
        )
    return "\n".join(lines) + "\n"

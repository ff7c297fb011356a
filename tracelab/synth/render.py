"""Render a canonical frame in the layouts other tools write, per ``shared/reference/formats.md``.

One function per format, each writing exactly the fields that tool writes (no prompt or
response text, as tracelab never keeps it). What each format cannot say is dropped:
formats without a status (OpenAI and Anthropic response objects, Azure, Mooncake) only
hold the completed (``ok``) requests, because those logs only ever see completed ones;
BurstGPT writes a failed request as ``Response tokens = 0``, as its authors do.
JSON layouts are compact (no spaces), as SDK ``model_dump_json`` and OTLP exporters write.
The JSON renderers build one dict per row: they are for small samples, not 100M-row files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.errors import ConfigError
from tracelab.synth.render_gateways import render_litellm, render_otel
from tracelab.synth.rows import ERRORS as _ERRORS
from tracelab.synth.rows import dumps as _dumps
from tracelab.synth.rows import ns as _ns
from tracelab.synth.rows import ok as _ok
from tracelab.synth.rows import unix_s as _unix_s
from tracelab.synth.rows import write_lines as _write_lines


def render_openai(frame: pl.DataFrame, path: Path) -> int:
    """ChatCompletion objects (``text_completion`` objects for that endpoint), one per line."""
    rows = _ok(frame)
    created = _unix_s(rows).to_list()

    def line(row: dict[str, Any], when: int) -> str:
        usage: dict[str, Any] = {
            "prompt_tokens": row["input_tokens"],
            "completion_tokens": row["output_tokens"],
            "total_tokens": row["input_tokens"] + row["output_tokens"],
        }
        if row["cached_input_tokens"] is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": row["cached_input_tokens"]}
        if row["reasoning_tokens"] is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": row["reasoning_tokens"]}
        text = row["endpoint"] == "text_completion"
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        choice.update({"text": ""} if text else {"message": {"role": "assistant", "content": ""}})
        return _dumps(
            {
                "id": f"{'cmpl' if text else 'chatcmpl'}-{row['request_id']}",
                "object": "text_completion" if text else "chat.completion",
                "created": when,
                "model": row["model"],
                "choices": [choice],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": None,
            }
        )

    return _write_lines(
        path, (line(r, t) for r, t in zip(rows.iter_rows(named=True), created, strict=True))
    )


def render_anthropic(frame: pl.DataFrame, path: Path) -> int:
    """Anthropic Message objects; ``usage.input_tokens`` excludes cache reads and writes."""
    rows = _ok(frame)

    def line(row: dict[str, Any]) -> str:
        read = row["cached_input_tokens"] or 0
        write = row["cache_write_tokens"] or 0
        usage: dict[str, Any] = {
            "input_tokens": row["input_tokens"] - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": row["output_tokens"],
            "service_tier": "batch" if row["endpoint"] == "batch" else "standard",
        }
        if row["reasoning_tokens"] is not None:
            usage["output_tokens_details"] = {"thinking_tokens": row["reasoning_tokens"]}
        return _dumps(
            {
                "id": f"msg_{row['request_id']}",
                "type": "message",
                "role": "assistant",
                "model": row["model"],
                "content": [{"type": "text", "text": ""}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )

    return _write_lines(path, (line(r) for r in rows.iter_rows(named=True)))


def render_aiperf(frame: pl.DataFrame, path: Path) -> int:
    """NVIDIA AIPerf ``profile_export.jsonl`` records (times in ms, as the record's unit says)."""
    start, end = _ns(frame)
    turns = frame.select(pl.int_range(pl.len()).over("session_id").alias("turn"))["turn"].to_list()

    def metric(value: Any, unit: str) -> dict[str, Any]:
        return {"value": round(value, 3) if isinstance(value, float) else value, "unit": unit}

    def line(index: int, row: dict[str, Any], t0: int, t1: int, turn: int) -> str:
        session = row["session_id"]
        cancelled = row["status"] == "cancelled"
        metrics: dict[str, Any] = {"request_latency": metric(row["e2e_latency_s"] * 1000, "ms")}
        error = None
        if row["status"] == "ok":
            out, reasoning = row["output_tokens"], row["reasoning_tokens"] or 0
            metrics["input_sequence_length"] = metric(row["input_tokens"], "tokens")
            metrics["output_sequence_length"] = metric(out, "tokens")
            metrics["output_token_count"] = metric(out - reasoning, "tokens")
            if row["reasoning_tokens"] is not None:
                metrics["reasoning_token_count"] = metric(reasoning, "tokens")
            if row["ttft_s"] is not None:
                metrics["time_to_first_token"] = metric(row["ttft_s"] * 1000, "ms")
                if out > 1:
                    itl = (row["e2e_latency_s"] - row["ttft_s"]) / (out - 1)
                    metrics["inter_token_latency"] = metric(itl * 1000, "ms")
                    metrics["output_token_throughput_per_user"] = metric(1 / itl, "tokens/sec/user")
        else:
            code, kind, message = _ERRORS[row["status"]]
            metrics["error_isl"] = metric(row["input_tokens"], "tokens")
            error = {"code": code, "type": kind, "message": message}
        meta = {
            "session_num": index,
            "x_request_id": row["request_id"],
            "x_correlation_id": session,
            "conversation_id": session,
            "turn_index": turn if session is not None else 0,
            "request_start_ns": t0,
            "request_ack_ns": t0 + 1_000_000,
            "request_end_ns": t1,
            "worker_id": f"worker_{index % 4}",
            "record_processor_id": "record_processor_0",
            "benchmark_phase": "profiling",
            "was_cancelled": cancelled,
            "cancellation_time_ns": t1 if cancelled else None,
        }
        return _dumps({"metadata": meta, "metrics": metrics, "error": error})

    rows = zip(frame.iter_rows(named=True), start.to_list(), end.to_list(), turns, strict=True)
    return _write_lines(path, (line(i, r, a, b, t) for i, (r, a, b, t) in enumerate(rows)))


def render_azure(frame: pl.DataFrame, path: Path) -> int:
    """Azure LLM inference trace 2023: ``TIMESTAMP`` naive UTC with 7 fractional digits, CRLF, no final newline."""
    rows = _ok(frame).select(
        (pl.col("arrival_ts").dt.strftime("%Y-%m-%d %H:%M:%S%.6f") + "0").alias("TIMESTAMP"),
        pl.col("input_tokens").alias("ContextTokens"),
        pl.col("output_tokens").alias("GeneratedTokens"),
    )
    body = rows.write_csv(line_terminator="\r\n").removesuffix("\r\n")
    path.write_bytes(body.encode())
    return rows.height


def render_burstgpt(frame: pl.DataFrame, path: Path) -> int:
    """BurstGPT CSV: integer seconds since 0:00 of the first day; a failure has 0 response tokens."""
    midnight = pl.col("arrival_ts").min().dt.truncate("1d")
    out = frame.select(
        ((pl.col("arrival_ts") - midnight).dt.total_seconds()).alias("Timestamp"),
        pl.col("model").alias("Model"),
        pl.col("input_tokens").alias("Request tokens"),
        pl.when(pl.col("status") == "ok")
        .then(pl.col("output_tokens"))
        .otherwise(0)
        .alias("Response tokens"),
    ).with_columns(
        (pl.col("Request tokens") + pl.col("Response tokens")).alias("Total tokens"),
        pl.when(frame["session_id"].is_not_null())
        .then(pl.lit("Conversation log"))
        .otherwise(pl.lit("API log"))
        .alias("Log Type"),
    )
    out.write_csv(path)
    return out.height


def render_mooncake(frame: pl.DataFrame, path: Path) -> int:
    """Mooncake JSONL: ms since the first request, lengths and ``hash_ids`` (512-token blocks)."""
    rows = _ok(frame)
    first = rows["arrival_ts"].min()
    out = rows.select(
        ((pl.col("arrival_ts") - pl.lit(first)).dt.total_milliseconds()).alias("timestamp"),
        pl.col("input_tokens").alias("input_length"),
        pl.col("output_tokens").alias("output_length"),
        pl.col("prefix_hash_blocks")
        .fill_null(pl.lit([], pl.List(pl.UInt64)))
        .cast(pl.List(pl.Int64))
        .alias("hash_ids"),
    )
    return _write_lines(path, (_dumps(r) for r in out.iter_rows(named=True)))


def render_canonical(frame: pl.DataFrame, path: Path) -> int:
    """The canonical frame itself: Parquet, or JSON lines when the path ends in ``.jsonl``.

    ``source_file`` and ``source_row`` say where ingest read a row; a generated row was
    read from nowhere, so when they are all null they are left out (ingest fills them).
    """
    provenance = [c for c in ("source_file", "source_row") if c in frame.columns]
    frame = frame.drop([c for c in provenance if frame[c].null_count() == frame.height])
    if path.suffix == ".jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path, compression="zstd", statistics=False)
    return frame.height


RENDERERS: dict[str, Callable[[pl.DataFrame, Path], int]] = {
    "canonical": render_canonical,
    "openai": render_openai,
    "anthropic": render_anthropic,
    "otel": render_otel,
    "litellm": render_litellm,
    "aiperf": render_aiperf,
    "azure": render_azure,
    "burstgpt": render_burstgpt,
    "mooncake": render_mooncake,
}


def render_trace(frame: pl.DataFrame, format: str, path: str | Path) -> int:
    """Write ``frame`` (canonical schema) to ``path`` in ``format``; return the rows written."""
    if format not in RENDERERS:
        msg = f"unknown format {format!r} for synth; choose one of {', '.join(RENDERERS)}"
        raise ConfigError(msg)
    return RENDERERS[format](frame, Path(path))

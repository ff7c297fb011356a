"""A canonical trace as a replay file for AIPerf, GuideLLM or Dynamo's Mooncake replay.

Formats (one JSON object per line):

* ``mooncake``: ``{"timestamp", "input_length", "output_length", "hash_ids"}``, timestamp
  in ms since the first request, ``hash_ids`` one id per 512-token prefix block (the
  FAST'25 Mooncake trace; read by Dynamo's replay and AIPerf's ``mooncake_trace``);
* ``aiperf``: the same record plus ``session_id`` (AIPerf ``MooncakeTrace``: input_length,
  output_length, hash_ids, timestamp in ms, session_id; ai-dynamo/aiperf
  docs/benchmark-modes/trace-replay.md), for ``aiperf profile --custom-dataset-type
  mooncake_trace --fixed-schedule``;
* ``guidellm``: ``{"timestamp", "input_length", "output_length"}`` with timestamp in
  SECONDS on a shared timeline (GuideLLM ``trace_synthetic`` data, vllm-project/guidellm
  docs/guides/datasets.md), for ``guidellm run --profile kind=replay --data
  kind=trace_synthetic,path=FILE``.

Anonymised: no request id, prompt or tenant is written; sessions are a hash of the
session id, and prefix blocks are renumbered 0, 1, 2, … in order of first use (the
Mooncake release's own remapping), so which requests share a prefix survives while the
original hashes do not. A request whose prefix blocks are unknown gets fresh ids (no
reuse): ceil(input / 512) blocks. ``rate_scale`` divides every gap between arrivals (2 =
the same traffic twice as fast). Rows without an arrival time cannot be scheduled and are
left out (counted in ``ReplayExport.dropped``); an unknown token count (a failed request's
output) is written as 0, since the tools need a length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracelab.errors import ConfigError, InputFileError
from tracelab.strformat import format_str

TARGETS = ("mooncake", "aiperf", "guidellm")
BLOCK_TOKENS = 512
_SEED = 0x7AC3  # fixed, so the same session hashes the same way in every export


@dataclass(frozen=True)
class ReplayExport:
    """The replay records (one per request, in arrival order) and the rows left out."""

    frame: pl.DataFrame
    target: str
    dropped: int


def _blocks(frame: pl.DataFrame) -> pl.Series:
    """``hash_ids`` per row: prefix blocks renumbered 0, 1, … in order of first use (row,
    then position); a row whose blocks are unknown gets ceil(input / 512) fresh ids."""
    fresh = ((pl.col("input_tokens").fill_null(0) + BLOCK_TOKENS - 1) // BLOCK_TOKENS)
    keys = frame.select(
        pl.int_range(pl.len()).alias("_row"),
        pl.when(pl.col("prefix_hash_blocks").is_not_null())
        .then(pl.col("prefix_hash_blocks").list.eval(pl.lit("k") + pl.element().cast(pl.String)))
        .otherwise(pl.int_ranges(0, fresh.clip(lower_bound=0)).list.eval(
            pl.element().cast(pl.String)))
        .alias("_key"),
        pl.col("prefix_hash_blocks").is_null().alias("_fresh"),
    ).explode("_key").with_columns(
        pl.int_range(pl.len()).over("_row").alias("_pos"),
        pl.when(pl.col("_fresh")).then(format_str("u{}-{}", "_row", "_key"))
        .otherwise(pl.col("_key")).alias("_key"),
    )
    used = keys.filter(pl.col("_key").is_not_null())
    order = (used.group_by("_key").agg(pl.col("_row").min(), pl.col("_pos").min())
             .sort("_row", "_pos").with_columns(pl.int_range(pl.len()).alias("_id")))
    ids = used.join(order.select("_key", "_id"), on="_key", how="left")
    lists = ids.sort("_row", "_pos").group_by("_row", maintain_order=True).agg("_id")
    every = pl.DataFrame({"_row": range(frame.height)}).with_columns(pl.col("_row").cast(
        lists.schema["_row"]))
    joined = every.join(lists, on="_row", how="left", maintain_order="left")
    return joined.get_column("_id").fill_null(pl.lit([], pl.List(pl.Int64))).alias("hash_ids")


def compute_replay(frame: pl.LazyFrame, target: str, rate_scale: float = 1.0) -> ReplayExport:
    """The replay records of ``frame`` (canonical rows) for ``target`` (see ``TARGETS``)."""
    if target not in TARGETS:
        msg = f"unknown export target {target!r}; use one of {', '.join(TARGETS)}"
        raise ConfigError(msg)
    if not rate_scale > 0:
        msg = f"rate scale {rate_scale} is not a positive number (2 = twice as fast)"
        raise ConfigError(msg)
    rows = frame.select(
        "arrival_ts", "input_tokens", "output_tokens", "prefix_hash_blocks", "session_id"
    ).collect()
    if rows.height == 0:
        msg = "no request to replay: the selection holds no rows"
        raise InputFileError(msg, param="selection")
    timed = rows.filter(pl.col("arrival_ts").is_not_null()).sort("arrival_ts", maintain_order=True)
    if timed.height == 0:
        msg = "no request has an arrival time, so there is no schedule to replay"
        raise InputFileError(msg)
    start = timed.get_column("arrival_ts").min()
    offset_ms = ((pl.col("arrival_ts") - pl.lit(start)).dt.total_microseconds()
                 / 1000 / rate_scale)
    blocked = timed.with_columns(_blocks(timed))
    out = blocked.select(
        (offset_ms / 1000 if target == "guidellm" else offset_ms).alias("timestamp"),
        pl.col("input_tokens").fill_null(0).alias("input_length"),
        pl.col("output_tokens").fill_null(0).alias("output_length"),
        *([pl.col("hash_ids")] if target != "guidellm" else []),
        *([pl.when(pl.col("session_id").is_not_null())
           .then(pl.col("session_id").hash(_SEED).cast(pl.String))
           .alias("session_id")] if target == "aiperf" else []),
    )
    return ReplayExport(out, target, rows.height - timed.height)


def write_replay(export: ReplayExport, path: Path) -> None:
    """Write the records as JSON Lines."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        export.frame.write_ndjson(path)
    except OSError as exc:
        msg = f"{path}: cannot write the export ({exc.strerror or exc}); check the folder"
        raise InputFileError(msg) from None

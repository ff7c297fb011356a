"""The mode rules on real and synthetic traces: a batch task submitted at once, a
conversation service, and sessions of people and of agents whose logs lack the streaming
flag (the evidence then has to come from behaviour)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tracelab.ingest import read_trace
from tracelab.labels import label_trace
from tracelab.schema import conform
from tracelab.synth.generate import generate_trace


def _modes(frame: pl.LazyFrame, *extra: str) -> pl.DataFrame:
    return label_trace(frame).frame.select(
        "label_mode", "label_mode_reason", "turn_index", "session_turns", *extra).collect()


def test_servegen_batch_task_submitted_at_once_is_batch(shared_dir: Path) -> None:
    trace = read_trace(shared_dir / "traces" / "servegen-offline" / "trace_d.head.jsonl")
    out = _modes(trace.frame)
    batch = (out["label_mode"] == "batch").mean()
    assert batch is not None
    assert batch >= 0.9
    assert out.item(0, "label_mode_reason").startswith(
        "2615 requests of one tenant in this file with no arrival time, not streamed")


def test_azure_conversation_service_is_not_batch(shared_dir: Path) -> None:
    trace = read_trace(shared_dir / "traces" / "azure-2023" / "AzureLLMInferenceTrace_conv.csv")
    out = _modes(trace.frame)
    batch = (out["label_mode"] == "batch").mean()
    assert batch is not None
    assert batch <= 0.05


def test_synth_sessions_without_streaming_flags() -> None:
    # Chat sessions think ~20 s (human); agent loops ~0.3 s with growing context. Without
    # is_streaming, ttft_s and endpoint only the sessions' behaviour is left to go on.
    raw = generate_trace(6000, seed=1).with_columns(
        pl.lit(None, pl.Boolean).alias("is_streaming"), pl.lit(None, pl.Float64).alias("ttft_s"),
        pl.lit(None, pl.String).alias("endpoint"))
    out = _modes(conform(raw.lazy()), "synth_workload")
    chat = out.filter((pl.col("synth_workload") == "chat") & (pl.col("session_turns") >= 2))
    assert chat.height > 500
    share = (chat["label_mode"] == "interactive").mean()
    first = (chat.filter(pl.col("turn_index") == 1)["label_mode"] == "interactive").mean()
    assert share is not None
    assert first is not None
    assert share >= 0.9
    assert first >= 0.9
    loops = out.filter((pl.col("synth_workload") == "agentic") & (pl.col("session_turns") >= 3))
    agentic = (loops["label_mode"] == "agentic").mean()
    assert agentic is not None
    assert agentic >= 0.9
    # Nothing in this trace is labelled agentic outside the agent workload.
    others = out.filter(pl.col("synth_workload") != "agentic")
    assert (others["label_mode"] == "agentic").sum() == 0

"""The feature registry: every per-request feature with its unit, formula and inputs.

``compute_features`` adds exactly these columns (in this order) to the canonical frame;
``describe_features`` shows them as a table (``tracelab label --help`` points to it). A
feature is null when an input it needs is null: unknown stays unknown, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Feature:
    """One per-request feature: its column name, unit, formula in words and input columns."""

    name: str
    unit: str
    formula: str
    inputs: tuple[str, ...]


FEATURES: tuple[Feature, ...] = (
    # Tokens.
    Feature("prefill_tokens", "tokens",
            "input_tokens - cached_input_tokens; = input_tokens when cached_input_tokens is null "
            "(no cache evidence: every prompt token is computed)",
            ("input_tokens", "cached_input_tokens")),
    Feature("cached_share", "fraction", "cached_input_tokens / input_tokens (null when either is "
            "null or input_tokens = 0)", ("input_tokens", "cached_input_tokens")),
    Feature("decode_tokens", "tokens", "output_tokens", ("output_tokens",)),
    Feature("prefill_decode_ratio", "tokens/token", "prefill_tokens / decode_tokens (null when "
            "decode_tokens = 0)", ("input_tokens", "cached_input_tokens", "output_tokens")),
    Feature("context_tokens", "tokens", "input_tokens + output_tokens",
            ("input_tokens", "output_tokens")),
    Feature("reasoning_share", "fraction", "reasoning_tokens / output_tokens (null when either is "
            "null or output_tokens = 0)", ("reasoning_tokens", "output_tokens")),
    # Model facts (tracelab.hardware.registry).
    Feature("model_id", "", "model registry id for `model` (after the model map; the assumed model "
            "for unknown or missing names)", ("model",)),
    Feature("model_match", "", "how model_id was found: the registry's answer, 'assumed' or "
            "'unknown'", ("model",)),
    Feature("params_b", "1e9 parameters", "registry total parameters", ("model",)),
    Feature("active_params_b", "1e9 parameters", "registry parameters active per token (MoE)",
            ("model",)),
    Feature("kv_bytes_per_token", "bytes/token", "registry KV-cache bytes per token (bf16)",
            ("model",)),
    Feature("weight_bytes", "bytes", "registry bf16 weight bytes", ("model",)),
    Feature("kv_bytes", "bytes", "context_tokens * kv_bytes_per_token",
            ("input_tokens", "output_tokens", "model")),
    # Work per phase on the reference device (tracelab.hardware.perf).
    Feature("work_model_id", "", "model_id, or the reference model when model_id is null",
            ("model",)),
    Feature("work_model_assumed", "bool", "true when work_model_id is the reference model "
            "standing in for an unknown model", ("model",)),
    Feature("work_device", "", "reference device the work is estimated on", ()),
    Feature("prefill_device_s", "s", "e + a*L + b*L^2 with L = prefill_tokens (0 when L = 0); a, b, e (fixed per request) "
            "from PerfModel.work_coefficients(work_device, work_model_id, bf16)",
            ("input_tokens", "cached_input_tokens", "model")),
    Feature("decode_device_s", "s", "decode_tokens * (c + d*(input_tokens + decode_tokens/2)): "
            "per-token device time at the mean context of the decode phase, at the reference "
            "decode batch", ("input_tokens", "output_tokens", "model")),
    Feature("prefill_work_share", "fraction",
            "prefill_device_s / (prefill_device_s + decode_device_s)",
            ("input_tokens", "cached_input_tokens", "output_tokens", "model")),
    # Sessions (never inferred: null without session_id).
    Feature("turn_index", "turns", "1-based position in the session by arrival_ts (ties: "
            "source_row, then source file; no arrival_ts: last)", ("session_id", "arrival_ts")),
    Feature("session_turns", "turns", "number of requests in the session", ("session_id",)),
    Feature("session_context_tokens", "tokens", "cumulative context_tokens of the session up to "
            "and including this turn", ("session_id", "input_tokens", "output_tokens")),
    Feature("think_time_s", "s", "arrival_ts - end of the previous turn, where end = arrival_ts + "
            "e2e_latency_s when known, else the previous arrival_ts (an upper bound)",
            ("session_id", "arrival_ts", "e2e_latency_s")),
    # Session pace and growth (tracelab.features.behaviour): one value per session.
    Feature("session_gaps", "turns", "turns of the session with a think_time_s (all but the "
            "first, less those without arrival_ts)", ("session_id", "arrival_ts")),
    Feature("session_think_median_s", "s", "median think_time_s over the session's turns "
            "(null without a gap)", ("session_id", "arrival_ts", "e2e_latency_s")),
    Feature("session_growing_share", "fraction", "share of the session's gaps after which "
            "context_tokens grew over the previous turn's", ("session_id", "arrival_ts",
            "input_tokens", "output_tokens")),
    # Interactivity and batch evidence.
    Feature("has_ttft", "bool", "ttft_s is not null", ("ttft_s",)),
    Feature("is_batch_endpoint", "bool", "endpoint == 'batch' (null when endpoint is null)",
            ("endpoint",)),
    Feature("co_submitted", "requests", "non-streaming requests of the same tenant arriving in the "
            "same whole second (null unless is_streaming is false)",
            ("is_streaming", "tenant_id", "arrival_ts")),
    Feature("submission_requests", "requests", "requests of the same tenant and source file "
            "with no arrival_ts and not streamed: one job handed over as a whole (null for "
            "requests with an arrival_ts or streamed)",
            ("arrival_ts", "is_streaming", "tenant_id", "source_file")),
    Feature("hour_utc", "h", "hour of day of arrival_ts, UTC (null for relative time)",
            ("arrival_ts", "time_base")),
    # Arrival context: tumbling windows of window_s seconds.
    Feature("window_requests_per_s", "requests/s", "requests arriving in the request's window "
            "/ window_s", ("arrival_ts",)),
    Feature("window_tokens_per_s", "tokens/s", "context_tokens of requests in the window / "
            "window_s", ("arrival_ts", "input_tokens", "output_tokens")),
    Feature("window_interarrival_cv", "ratio", "std / mean of the gaps between consecutive "
            "arrivals in the window (null with < 3 arrivals or zero mean)", ("arrival_ts",)),
    Feature("window_dispersion", "ratio", "index of dispersion (variance / mean) of per-second "
            "arrival counts in the window, empty seconds included (1 = Poisson, > 1 bursty)",
            ("arrival_ts",)),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def describe_features() -> pl.DataFrame:
    """The registry as a frame: name, unit, formula, inputs (comma-separated)."""
    return pl.DataFrame(
        {
            "name": [f.name for f in FEATURES],
            "unit": [f.unit for f in FEATURES],
            "formula": [f.formula for f in FEATURES],
            "inputs": [", ".join(f.inputs) for f in FEATURES],
        }
    )

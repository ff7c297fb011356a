"""Draw every column of one workload's requests with numpy, vectorised per workload."""

from __future__ import annotations

import numpy as np

from tracelab.synth.arrivals import Clock, arrivals, segmented_cumsum, segments, session_lengths
from tracelab.synth.workloads import (
    BLOCK_TOKENS,
    MAX_CONTEXT_TOKENS,
    MODEL_SPEEDS,
    REASONING_MODELS,
    TIMEOUT_S,
    Workload,
)

# Block ids of the agents' shared system prompts live below this; session blocks above it.
_SESSION_BLOCK_BASE = 1 << 20


def _choose(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = np.array([name for name, _ in pairs], dtype=object)
    weights = np.array([weight for _, weight in pairs])
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def draw_workload(
    w: Workload, n: int, rng: np.random.Generator, clock: Clock, block_base: int
) -> dict[str, np.ndarray]:
    """All columns of ``n`` requests of one workload, rows in session/turn order."""
    lengths = session_lengths(rng, n, w.turns_mean)
    session, turn, first = segments(lengths)
    model = _choose(rng, w.models, len(lengths))[session]
    tenant = np.array(w.tenants, dtype=object)[rng.integers(len(w.tenants), size=len(lengths))][
        session
    ]
    output = w.output_tokens.sample(rng, n)
    added = w.input_tokens.sample(rng, n)
    sys_tokens = np.zeros(n, dtype=np.int64)
    agent = np.zeros(n, dtype=np.int64)
    if w.sessions and w.turn_tokens is not None:
        later = turn > 0
        added[later] = w.turn_tokens.sample(rng, int(later.sum()))
        if w.system_prompt_blocks:
            agent = rng.integers(len(w.system_prompt_blocks), size=len(lengths))[session]
            sys_tokens = np.array(w.system_prompt_blocks)[agent] * BLOCK_TOKENS
        prev_output = np.where(later, np.roll(output, 1), 0)
        step = added + prev_output + np.where(later, 0, sys_tokens)
        input_tokens = np.minimum(segmented_cumsum(step, first), MAX_CONTEXT_TOKENS)
        prev_context = np.where(later, np.roll(input_tokens, 1) + np.roll(output, 1), 0)
        cached = np.minimum(np.where(later, prev_context, sys_tokens), input_tokens)
    else:
        input_tokens = added
        cached = np.zeros(n, dtype=np.int64)

    reasoning = np.where(
        np.isin(model, list(REASONING_MODELS)),
        np.rint(output * rng.uniform(0.2, 0.6, size=n)).astype(np.int64),
        0,
    )
    prefill_rate = np.array([MODEL_SPEEDS[m][0] for m in model])
    tpot = np.array([MODEL_SPEEDS[m][1] for m in model]) * rng.lognormal(0.0, 0.15, size=n)
    if w.batch_job_size:
        queue = rng.uniform(0.0, 0.5 * w.batch_job_size, size=n)  # a job drains at ~2 req/s
    else:
        queue = rng.exponential(0.05, size=n)
    ttft = 0.015 + queue + (input_tokens - cached) / prefill_rate * rng.lognormal(0, 0.2, size=n)
    e2e = ttft + output * tpot

    # Failures: error fails fast with no output; cancelled streams part of the answer;
    # timeout hits the gateway's limit with nothing reported.
    u = rng.random(n)
    rates = w.failure_rates
    is_error = u < rates.get("error", 0.0)
    is_cancel = ~is_error & (u < rates.get("error", 0.0) + rates.get("cancelled", 0.0))
    failed = sum(rates.get(k, 0.0) for k in ("error", "cancelled", "timeout"))
    is_timeout = ~is_error & ~is_cancel & (u < failed)
    status = np.where(is_error, "error", np.where(is_cancel, "cancelled", "ok")).astype(object)
    status[is_timeout] = "timeout"
    partial = np.floor(output * rng.random(n)).astype(np.int64)
    output = np.where(is_cancel, partial, output)
    reasoning = np.minimum(reasoning, output)
    e2e = np.where(is_cancel, ttft + output * tpot, e2e)
    e2e = np.where(is_error, 0.01 + queue, e2e)
    e2e = np.where(is_timeout, TIMEOUT_S["batch" if w.batch_job_size else "interactive"], e2e)
    no_output = is_error | is_timeout
    no_ttft = no_output | (is_cancel & (output == 0)) | (not w.streaming)

    offsets, session_no = arrivals(w, rng, clock, lengths, session, turn, first, e2e)
    sys_start, sys_count, new_start, new_count = _blocks(
        w, lengths, session, agent, input_tokens, block_base
    )
    return {
        "offset_s": offsets,
        "session_no": session_no,
        "turn": turn,
        "model": model,
        "tenant_id": tenant,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached if w.logs_cached else np.full(n, -1),
        "output_tokens": np.where(no_output, -1, output),
        "reasoning_tokens": np.where(no_output, -1, reasoning),
        "ttft_s": np.where(no_ttft, np.nan, ttft),
        "e2e_latency_s": e2e,
        "status": status,
        "sys_start": sys_start,
        "sys_count": sys_count,
        "new_start": new_start,
        "new_count": new_count,
    }


def _blocks(
    w: Workload,
    lengths: np.ndarray,
    session: np.ndarray,
    agent: np.ndarray,
    input_tokens: np.ndarray,
    block_base: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prefix blocks (512 tokens) per row: (system id start, system count, new start, new count).

    A row's list is the agent's system-prompt ids followed by ids ``new_start ..
    new_start + new_count``; a session's ids are consecutive, so each turn's list extends
    the previous turn's. System-prompt ids are shared by every session of the same agent.
    """
    n = len(session)
    if not w.system_prompt_blocks:
        zeros = np.zeros(n, dtype=np.int64)
        return zeros, zeros, zeros, zeros
    sys_sizes = np.array(w.system_prompt_blocks)
    sys_offsets = np.cumsum(sys_sizes) - sys_sizes
    total = -(-input_tokens // BLOCK_TOKENS)
    new_count = total - sys_sizes[agent]
    per_session = np.maximum.reduceat(new_count, np.cumsum(lengths) - lengths)
    session_start = block_base + _SESSION_BLOCK_BASE + np.cumsum(per_session) - per_session
    return sys_offsets[agent], sys_sizes[agent], session_start[session], new_count

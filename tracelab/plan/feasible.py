"""Requests no fleet can serve within their TTFT: the budget their SLO gives them is shorter
than their own prefill alone on the fastest replica the plan may buy.

A request's TTFT in a replay is at least its prefill on an idle replica of the pool it
lands on: other work only adds tokens to its steps, and the engine never gives one request
more than ``per_step`` prefill tokens a step (the role's prefill budget — ``chunk_tokens``
on a colocated replica, ``max_num_batched_tokens`` on a prefill one — capped at
``long_prefill_token_threshold``; ``tracelab.simulate.SimOptions``). The least of that time
over every replica shape the plan can route the request's model to is a bound no fleet
beats, so a TTFT budget below it is a miss of the SLO's making, not of capacity's. Those
requests are named, with both numbers, and left out of the attainment the repair aims at
(which reports it with them too), so the repair does not buy replicas that cannot help.

Cost: per shape, one vectorised closed-form sum (``unloaded_prefill_many``, the same
arithmetic as ``StepModel.span_s`` and ``step_s``) over the distinct (model, prompt, cached
prefix) among the requests that missed TTFT; a Python loop over those keys cost 2.3 CPU-s
on a session-heavy day (18,124 replayed requests, 35 shapes) where every prompt is distinct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware.perf import PerfModel
from tracelab.plan.slo import Slo
from tracelab.simulate import Replay, SimOptions
from tracelab.simulate.result import ttft_budget_s
from tracelab.simulate.steps import StepModel

# A replica shape that prefills: (device, replica size, role), role colocated or prefill.
Shape = tuple[str, int, str]
COLUMNS = {"request_id": pl.String, "model_id": pl.String, "slo_mode": pl.String,
           "prefill_tokens": pl.Int64, "context_tokens": pl.Int64,
           "ttft_budget_s": pl.Float64, "ttft_s": pl.Float64, "unloaded_ttft_s": pl.Float64,
           "fastest_replica": pl.String}


def per_step_tokens(role: str, options: SimOptions) -> int:
    """Prefill tokens the engine gives one request in a step of an idle replica."""
    budget = options.max_num_batched_tokens if role == "prefill" else min(
        options.chunk_tokens, options.max_num_batched_tokens)
    cap = options.long_prefill_token_threshold
    return min(budget, cap) if cap > 0 else budget


def unloaded_prefill_s(step: StepModel, prefill: int, cached: int, per_step: int) -> float:
    """Seconds to prefill ``prefill`` tokens after ``cached`` ones alone on an idle replica,
    ``per_step`` tokens a step (the last step carries the rest), each chunk attending to
    the prompt before it."""
    full, rest = divmod(prefill, per_step)
    total = step.span_s(0, 0.0, per_step, full, float(cached)) if full else 0.0
    if rest:
        q = cached + full * per_step
        total += step.step_s(0, 0.0, rest, float(rest * q), float(q))
    return total


def unloaded_prefill_many(step: StepModel, prefill: np.ndarray, cached: np.ndarray,
                          per_step: int) -> np.ndarray:
    """``unloaded_prefill_s`` of each (``prefill``, ``cached``) pair (int arrays), with the
    same floating-point operations in the same order, so each equals the scalar's exactly."""
    full, rest = np.divmod(prefill, per_step)
    const, fa, ba = step.parts(0, per_step)
    fs, bs = step.fs, step.bs
    k = full.astype(np.float64)
    prefix = cached.astype(np.float64)
    # ``span_s(0, 0.0, per_step, full, cached)``: u_j, v_j are two lines in the step j
    u0 = fa + fs * (0.0 + per_step * prefix)
    v0 = ba + bs * (0.0 + prefix)
    du, dv = fs * (0 + per_step * per_step), bs * (0 + per_step)
    tri = k * (k - 1) / 2.0
    su, sv = k * u0 + du * tri, k * v0 + dv * tri
    apart = (u0 >= v0) == (u0 + du * (k - 1) >= v0 + dv * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.minimum(np.maximum(np.ceil((v0 - u0) / (du - dv)), 0), k)
    tj = j * (j - 1) / 2.0
    first_u, first_v = j * u0 + du * tj, j * v0 + dv * tj
    u_first = u0 >= v0
    head = np.where(u_first, first_u, first_v)
    tail = np.where(u_first, sv - first_v, su - first_u)
    span = np.where(du == dv or apart, k * const + np.maximum(su, sv), k * const + head + tail)
    span = np.where(full == 1, const + np.maximum(u0, v0), span)
    total = np.where(full > 0, span, 0.0)
    # the last step: ``step_s(0, 0.0, rest, rest·q, q)`` after q = cached + full·per_step
    c_r, fa_r, ba_r = step.prefill_parts(np.maximum(rest, 1))
    q = cached + full * per_step
    last = c_r + np.maximum(fa_r + fs * (0.0 + (rest * q).astype(np.float64)),
                            ba_r + bs * (0.0 + q.astype(np.float64)))
    return np.where(rest > 0, total + last, total)


def find_infeasible(replay: Replay, shapes: Mapping[str, Sequence[Shape]], perf: PerfModel,
                    slos: Mapping[str, Slo], modes: Sequence[str], options: SimOptions,
                    precision: str = "bf16") -> pl.DataFrame:
    """The requests held to ``modes`` whose TTFT budget is below their prefill alone on the
    fastest of their model's ``shapes`` (columns ``COLUMNS``, by request_id); see the
    module docstring."""
    labels = [*sorted(set(replay.requests["label_mode"].drop_nulls()) | set(slos)), None]
    missed = replay.requests.filter(
        pl.col("slo_mode").is_in(list(modes)) & ~pl.col("meets_ttft")
    ).with_columns(
        ttft_budget_s(slos, labels).alias("ttft_budget_s"),
        pl.col("prefill_tokens").clip(1).alias("_pre"),
    ).with_columns(
        (pl.max_horizontal("context_tokens", "_pre") - pl.col("_pre")).alias("_cached"),
    ).filter(pl.col("ttft_budget_s") > 0)
    if missed.height == 0:
        return pl.DataFrame(schema=COLUMNS)
    steps: dict[tuple[str, str, int], StepModel | None] = {}
    parts = []
    keys = missed.select("model_id", "_pre", "_cached").unique().sort("model_id", "_pre", "_cached")
    for (model,), rows in keys.group_by("model_id", maintain_order=True):
        pre, cached = rows["_pre"].to_numpy(), rows["_cached"].to_numpy()
        best, where = np.full(rows.height, np.inf), np.full(rows.height, "", dtype=object)
        for device, size, role in shapes.get(str(model), ()):
            key = (device, str(model), size)
            if key not in steps:
                try:
                    steps[key] = StepModel(perf, device, str(model), precision, size)
                except ConfigError:  # a shape the device cannot run
                    steps[key] = None
            step = steps[key]
            if step is None:
                continue
            took = unloaded_prefill_many(step, pre, cached, per_step_tokens(role, options))
            faster = took < best  # the first of equally fast shapes, as in the shapes' order
            best = np.where(faster, took, best)
            where[faster] = f"{device}/{model}/x{size}/{role}"
        parts.append(rows.with_columns(pl.Series("unloaded_ttft_s", best, pl.Float64),
                                       pl.Series("fastest_replica", where, pl.String)))
    bound = pl.concat(parts)
    return missed.join(bound, on=["model_id", "_pre", "_cached"], how="left").filter(
        pl.col("unloaded_ttft_s") > pl.col("ttft_budget_s")
    ).select(list(COLUMNS)).cast(COLUMNS).sort("request_id")  # type: ignore[arg-type]


def explain(frame: pl.DataFrame, held: int) -> str:
    """One sentence on the infeasible requests of ``frame`` out of ``held``."""
    if frame.height == 0:
        return "every request's TTFT budget is above its prefill alone on the fastest replica"
    worst = frame.sort(pl.col("unloaded_ttft_s") - pl.col("ttft_budget_s"), descending=True
                       ).row(0, named=True)
    return (f"{frame.height} of {held:,} requests have a TTFT budget below their own prefill "
            f"alone on the fastest replica the plan may buy (e.g. {worst['request_id']}: "
            f"{worst['prefill_tokens']:,} prompt tokens, budget {worst['ttft_budget_s']:.2f} s, "
            f"{worst['unloaded_ttft_s']:.2f} s on an idle {worst['fastest_replica']}); no fleet "
            "can meet them, so they are reported here and left out of the attainment target")

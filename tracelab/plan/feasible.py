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

Cost: one closed-form sum (``StepModel.span_s``) per distinct (model, prompt, cached prefix)
among the requests that missed TTFT, per shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware.perf import PerfModel
from tracelab.plan.slo import Slo
from tracelab.simulate import Replay, SimOptions
from tracelab.simulate.result import slo_field
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
        (slo_field(slos, labels, "ttft_s") + slo_field(slos, labels, "ttft_s_per_ktoken")
         * pl.col("context_tokens") / 1000.0).alias("ttft_budget_s"),
        pl.col("prefill_tokens").clip(1).alias("_pre"),
    ).with_columns(
        (pl.max_horizontal("context_tokens", "_pre") - pl.col("_pre")).alias("_cached"),
    ).filter(pl.col("ttft_budget_s") > 0)
    if missed.height == 0:
        return pl.DataFrame(schema=COLUMNS)
    steps: dict[tuple[str, str, int], StepModel | None] = {}
    rows = []
    for model, pre, cached in missed.select("model_id", "_pre", "_cached").unique().iter_rows():
        best, where = float("inf"), ""
        for device, size, role in shapes.get(model, ()):
            key = (device, model, size)
            if key not in steps:
                try:
                    steps[key] = StepModel(perf, device, model, precision, size)
                except ConfigError:  # a shape the device cannot run
                    steps[key] = None
            step = steps[key]
            if step is None:
                continue
            took = unloaded_prefill_s(step, pre, cached, per_step_tokens(role, options))
            if took < best:
                best, where = took, f"{device}/{model}/x{size}/{role}"
        rows.append({"model_id": model, "_pre": pre, "_cached": cached,
                     "unloaded_ttft_s": best, "fastest_replica": where})
    bound = pl.DataFrame(rows, schema={"model_id": pl.String, "_pre": pl.Int64,
                                       "_cached": pl.Int64, "unloaded_ttft_s": pl.Float64,
                                       "fastest_replica": pl.String})
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

"""The replay's result: per-request times, per class and pool percentiles and attainment,
utilisation over time, and how far behind an undersized fleet fell. Seconds throughout.

A request meets TTFT when ``ttft_s <= ttft_s + ttft_s_per_ktoken × context / 1000`` of the
SLO its ``label_mode`` selects (``tracelab.plan.slo.slo_for``), TPOT when its mean time per
output token after the first is within the target (a one-token answer has none), the
deadline when ``e2e_s`` is within it; a target of 0 always holds (a TTFT of 0 too, whatever
its per-1,000-token allowance). A request no replica
could hold (its context and output exceed one replica's KV) or that reached a pool with
no replicas is not served: its times are null and it meets nothing.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.lookup import lookup
from tracelab.plan.slo import Slo, slo_for
from tracelab.simulate.distributions import NOT_MODELLED, compute_distributions

if TYPE_CHECKING:
    from tracelab.simulate.engine import SimOptions
    from tracelab.simulate.fleet import PoolSpec
    from tracelab.simulate.memo import ReplicaUse

QUANTILES = (50, 90, 99)
UNKNOWN_MODE = "unknown"
REQUEST_OUTPUT = ("request_id", "class_id", "model_id", "label_mode", "slo_mode", "arrival_s",
                  "prefill_tokens", "context_tokens", "output_tokens",
                  "pool_prefill", "pool_decode", "replica", "replica_prefill", "queue_s",
                  "ttft_s", "tpot_s", "e2e_s", "finish_s", "preemptions", "served",
                  "meets_ttft", "meets_tpot", "meets_deadline", "meets_slo")


@dataclass
class Replay:
    """What a replay measured (see the module docstring).

    ``requests``: one row per request (``REQUEST_OUTPUT``). ``pools``/``classes``: one row per
    pool/class with ``requests``, ``p50/p90/p99`` of ``ttft_s``/``tpot_s``, ``attainment``
    (share meeting TTFT, TPOT and deadline), ``max_queue_s``, ``preemptions`` (pools also
    ``replicas``, ``utilisation`` = share of replica-time stepping, which continuous
    batching keeps near 1 whenever anything runs; ``mean_batch`` = decoders per step while
    stepping; ``kv_share`` = time-average share of KV capacity held). ``timeline``: per pool
    and bucket, ``busy``, ``batch`` (time-average decoders per replica), ``kv_share`` and
    ``arrivals``. ``summary``: counts, window, backlog. ``distributions``: per SLO mode,
    TTFT and TPOT against the targets (``tracelab.simulate.distributions``).
    """

    requests: pl.DataFrame
    pools: pl.DataFrame
    classes: pl.DataFrame
    timeline: pl.DataFrame
    summary: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    distributions: list[dict[str, Any]] = field(default_factory=list)

    def attainment(self, mode: str | None = "interactive") -> float:
        """Share of the requests of ``mode`` (None: all) that meet TTFT, TPOT and deadline;
        1.0 when there are none. A request's mode is the SLO table that applies to it;
        "interactive" also counts requests of unknown mode, which the bundled SLOs hold to
        the interactive targets (a trace without mode evidence is all "unknown")."""
        wanted = [mode] if mode != "interactive" else [mode, UNKNOWN_MODE]
        rows = self.requests if mode is None else self.requests.filter(
            pl.col("slo_mode").is_in(wanted))
        return 1.0 if rows.height == 0 else _float(rows["meets_slo"].mean())

    def little(self) -> dict[str, float]:
        """Little's law from the event log (arrivals +1, finishes −1) of served requests:
        ``L`` = time-average number in the system over first arrival to last finish,
        ``lam`` = arrivals per second over that span, ``W`` = mean time in the system."""
        served = self.requests.filter(pl.col("served"))
        a = served["arrival_s"].to_numpy()
        d = served["finish_s"].to_numpy()
        if len(a) == 0:
            return {"L": 0.0, "lam": 0.0, "W": 0.0}
        times = np.concatenate([a, d])
        steps = np.concatenate([np.ones(len(a)), -np.ones(len(d))])
        order = np.argsort(times, kind="stable")
        times, steps = times[order], steps[order]
        count = np.cumsum(steps)
        area = float(np.sum(count[:-1] * np.diff(times)))
        span = float(times[-1] - times[0])
        if span <= 0:
            return {"L": 0.0, "lam": 0.0, "W": 0.0}
        return {"L": area / span, "lam": len(a) / span, "W": float(np.mean(d - a))}

    def to_json(self) -> dict[str, Any]:
        """The summary, per class and per pool (``plan.json``'s ``replay``)."""
        return {
            **self.summary,
            "attainment": {
                "overall": self.attainment(None),
                "by_mode": {m: self.attainment(m)
                            for m in sorted(set(self.requests["slo_mode"].drop_nulls()))},
            },
            "classes": _records(self.classes),
            "pools": _records(self.pools),
            "timeline": _records(self.timeline),
            "distributions": self.distributions,
            "not_modelled": list(NOT_MODELLED),
            "options": self.options,
        }


def _float(value: Any) -> float:
    """A polars scalar (None for an empty or all-null column) as a float, 0.0 for None."""
    return 0.0 if value is None else float(value)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v
    return [{k: clean(v) for k, v in row.items()} for row in frame.to_dicts()]


def slo_field(slos: Mapping[str, Slo], modes: Sequence[str | None], name: str) -> pl.Expr:
    """Per request, the SLO field ``name`` of its ``label_mode`` (0: no target); ``modes``:
    every label mode the frame holds, None included."""
    return lookup("label_mode", [(m, getattr(slo_for(dict(slos), m), name)) for m in modes],
                  pl.Float64, getattr(slo_for(dict(slos), None), name))


def ttft_budget_s(slos: Mapping[str, Slo], modes: Sequence[str | None]) -> pl.Expr:
    """Per request, the TTFT its mode allows a prompt of its ``context_tokens`` (0: no
    target, as ``Slo.ttft_budget_s``: the per-1,000-token allowance grows a target)."""
    floor = slo_field(slos, modes, "ttft_s")
    grown = floor + slo_field(slos, modes, "ttft_s_per_ktoken") * pl.col("context_tokens") / 1000.0
    return pl.when(floor > 0).then(grown).otherwise(0.0)


def _stats(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    aggs = [pl.len().alias("requests"), pl.col("served").sum().alias("served")]
    for col in ("ttft_s", "tpot_s"):
        aggs += [pl.col(col).drop_nulls().quantile(q / 100, "linear").alias(f"p{q}_{col}")
                 for q in QUANTILES]
    aggs += [pl.col("meets_slo").mean().alias("attainment"),
             pl.col("meets_ttft").mean().alias("meets_ttft"),
             pl.col("meets_tpot").mean().alias("meets_tpot"),
             pl.col("queue_s").max().alias("max_queue_s"),
             pl.col("preemptions").sum().alias("preemptions")]
    return frame.group_by(key).agg(aggs).sort(key)


def _per_request(frame: pl.DataFrame, slos: Mapping[str, Slo]) -> pl.DataFrame:
    modes = [*sorted(set(frame["label_mode"].drop_nulls()) | set(slos)), None]
    disagg = pl.col("pool_prefill") != pl.col("pool_decode")
    ttft_budget = ttft_budget_s(slos, modes)
    tpot_budget, deadline = slo_field(slos, modes, "tpot_s"), slo_field(slos, modes, "deadline_s")
    served = pl.col("done").is_not_nan()
    out = frame.with_columns(
        pl.col("done").alias("finish_s"),
        (pl.col("start_p") - pl.col("arrival_s") + pl.when(disagg).then(
            pl.col("start_d") - pl.col("arrive_d")).otherwise(0.0)).alias("queue_s"),
        (pl.col("first") - pl.col("arrival_s")).alias("ttft_s"),
        (pl.col("done") - pl.col("arrival_s")).alias("e2e_s"),
        pl.when(pl.col("output_tokens") > 1).then(
            (pl.col("done") - pl.col("first")) / (pl.col("output_tokens") - 1)).alias("tpot_s"),
        served.alias("served"),
        lookup("label_mode", [(m, slo_for(dict(slos), m).mode) for m in modes], pl.String,
               slo_for(dict(slos), None).mode).alias("slo_mode"),
    ).with_columns(pl.col(c).fill_nan(None) for c in ("queue_s", "ttft_s", "e2e_s", "tpot_s",
                                                       "finish_s"))
    out = out.with_columns(
        (served & ((ttft_budget <= 0) | (pl.col("ttft_s") <= ttft_budget))).alias("meets_ttft"),
        (served & ((tpot_budget <= 0) | pl.col("tpot_s").is_null()
                   | (pl.col("tpot_s") <= tpot_budget))).alias("meets_tpot"),
        (served & ((deadline <= 0) | (pl.col("e2e_s") <= deadline))).alias("meets_deadline"),
    ).with_columns(
        (pl.col("meets_ttft") & pl.col("meets_tpot") & pl.col("meets_deadline")
         ).alias("meets_slo"))
    return out.select(REQUEST_OUTPUT)


def _buckets(reps: Sequence[ReplicaUse], arrivals: pl.Series, width: float
             ) -> dict[int, tuple[float, float, float]]:
    """The timeline's buckets of one pool: (seconds stepping, decoders × s, KV tokens × s)
    summed over its replicas, for every bucket a replica stepped in or a request arrived in,
    and the first idle bucket after each such run (so a step chart falls to zero), up to
    the last: a long idle stretch is one zero bucket, not one per bucket of the calendar."""
    cells: dict[int, list[float]] = {}
    for r in reps:
        for b, used in r.busy.items():
            cell = cells.setdefault(b, [0.0, 0.0, 0.0])
            cell[0] += used
            cell[1] += r.batch_area[b]
            cell[2] += r.kv_area[b]
    for t in arrivals:
        cells.setdefault(round(t / width), [0.0, 0.0, 0.0])
    last = max(cells, default=-1)
    for b in [b + 1 for b in cells if b + 1 not in cells and b < last]:
        cells[b] = [0.0, 0.0, 0.0]
    return {b: (c[0], c[1], c[2]) for b, c in cells.items()}


def build_replay(frame: pl.DataFrame,
                 runs: Mapping[str, tuple[PoolSpec, Sequence[ReplicaUse], float]],
                 slos: Mapping[str, Slo], options: SimOptions, skipped: int) -> Replay:
    """Assemble the Replay from the engine's per-request times and per-pool replicas."""
    requests = _per_request(frame, slos)
    last_arrival = _float(requests["arrival_s"].max()) if requests.height else 0.0
    end = max(last_arrival, _float(requests["finish_s"].max())) if requests.height else 0.0
    horizon = end if end > 0 else 1.0
    by_pool = pl.concat([
        requests.with_columns(pl.col("pool_prefill").alias("pool_id")),
        requests.filter(pl.col("pool_prefill") != pl.col("pool_decode")).with_columns(
            pl.col("pool_decode").alias("pool_id")),
    ])
    arrivals = by_pool.group_by("pool_id", (pl.col("arrival_s") // options.bucket_s
                                            * options.bucket_s).alias("t_s")).len("arrivals")
    pool_rows, timeline = [], []
    for pool_id, (spec, reps, cap) in sorted(runs.items()):
        busy = sum(sum(r.busy.values()) for r in reps)
        replica_s = max(spec.replicas, 1) * horizon
        pool_rows.append({"pool_id": pool_id, "role": spec.role, "device_id": spec.device_id,
                          "model_id": spec.model_id, "replicas": spec.replicas,
                          "devices_per_replica": spec.devices_per_replica,
                          "kv_capacity_tokens": cap,
                          "utilisation": busy / replica_s,
                          "mean_batch": sum(sum(r.batch_area.values()) for r in reps) / busy
                          if busy else 0.0,
                          "kv_share": sum(sum(r.kv_area.values()) for r in reps)
                          / (replica_s * cap)
                          if cap else 0.0,
                          "loop_preemptions": sum(r.preemptions for r in reps)})
        width = options.bucket_s
        per = max(spec.replicas, 1) * width
        for b, (used, batch, kv) in sorted(_buckets(reps, arrivals.filter(
                pl.col("pool_id") == pool_id)["t_s"], width).items()):
            timeline.append({"pool_id": pool_id, "t_s": b * width, "busy": used / per,
                             "batch": batch / per, "kv_share": kv / (per * cap) if cap else 0.0})
    pool_frame = pl.DataFrame(pool_rows, schema={
        "pool_id": pl.String, "role": pl.String, "device_id": pl.String, "model_id": pl.String,
        "replicas": pl.Int64, "devices_per_replica": pl.Int64, "kv_capacity_tokens": pl.Float64,
        "utilisation": pl.Float64, "mean_batch": pl.Float64, "kv_share": pl.Float64,
        "loop_preemptions": pl.Int64})
    pools = pool_frame.join(_stats(by_pool, "pool_id"), on="pool_id", how="left")
    timeline_frame = pl.DataFrame(timeline, schema={
        "pool_id": pl.String, "t_s": pl.Float64, "busy": pl.Float64, "batch": pl.Float64,
        "kv_share": pl.Float64}).join(
        arrivals, on=["pool_id", "t_s"], how="left").with_columns(
        pl.col("arrivals").fill_null(0)).sort("pool_id", "t_s")
    unserved = requests.filter(~pl.col("served")).height
    behind = requests.filter(pl.col("served") & (pl.col("finish_s") > last_arrival))
    summary = {
        "requests": requests.height,
        "skipped_no_model": skipped,
        "unserved": unserved,
        "window_s": last_arrival,
        "end_s": end,
        "backlog_at_last_arrival": behind.height + unserved,
        "drain_s": end - last_arrival,
        "max_queue_s": _float(requests["queue_s"].max()) if requests.height else 0.0,
        "preemptions": int(requests["preemptions"].sum() or 0),
    }
    return Replay(requests, pools, _stats(requests, "class_id"), timeline_frame, summary,
                  asdict(options), compute_distributions(requests, slos))


def write_replay(replay: Replay, directory: Path) -> list[Path]:
    """``replay.parquet`` (per request) and ``replay.json`` in ``directory``, each written
    to a temporary name in the folder and renamed, so a reader never sees half a file."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{directory}: cannot create the folder ({exc.strerror}); pick another path"
        raise ConfigError(msg) from None
    paths = [directory / "replay.parquet", directory / "replay.json"]
    writers = [lambda p: replay.requests.write_parquet(p),
               lambda p: p.write_text(json.dumps(replay.to_json(), indent=2) + "\n")]
    for path, write in zip(paths, writers, strict=True):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        os.close(fd)
        try:
            write(Path(tmp))
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return paths

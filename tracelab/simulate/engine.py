"""``simulate``: route every request to its pools, replay each pool, collect the times.

Routing is fixed before any time passes: a request's route within its class comes from its
``route_u`` (the ledger's key, ``tracelab.plan.ledger.route_unit``: a hash of the request,
carried by ``scan_replay_requests``; hashed from ``request_id`` when absent) against the
cumulative route fractions, so a replay never depends on timing or row order.
Pools that take new requests (colocated, prefill) are replayed first; a disaggregated
request reaches its decode pool when its prefill ends plus the KV transfer (context tokens
× KV bytes per token ÷ the slower device link), and the decode pools are replayed on those
arrivals. The decode pool produces every output token, so TTFT includes the transfer and
any wait for a decode slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware import roofline as rf
from tracelab.hardware.perf import PerfModel
from tracelab.hardware.profile import MAX_NUM_SEQS
from tracelab.plan.ledger import route_unit
from tracelab.plan.slo import Slo, load_slos
from tracelab.simulate.batching import PoolState, Prefills
from tracelab.simulate.dispatch import run_pool
from tracelab.simulate.fleet import Fleet, PoolSpec
from tracelab.simulate.memo import PoolRun, PoolRuns, ReplicaUse, canonical_sessions
from tracelab.simulate.result import Replay, build_replay
from tracelab.simulate.steps import StepModel

# What join-shortest-queue measures a replica's queue in (``SimOptions.dispatch``).
DISPATCH = ("tokens", "requests")
REQUEST_COLUMNS = ("request_id", "arrival_s", "class_id", "model_id", "prefill_tokens",
                   "context_tokens", "output_tokens", "session_id", "label_mode")


@dataclass(frozen=True)
class SimOptions:
    """Scheduler settings of every replica (vLLM's names; ``describe`` gives the sources).

    ``max_num_seqs``: running sequences per replica (vLLM's default 256, recalled: the
    planner's decode batch cap, ``tracelab.hardware.profile.MAX_NUM_SEQS``).
    ``chunk_tokens``: prefill tokens a colocated step carries beside its decodes (512: the
    planner's ``CHUNK_TOKENS``, vLLM's first chunked-prefill default, vllm-project/vllm#4580).
    ``max_num_batched_tokens``: tokens per step in all (decode + prefill; a prefill-only
    pool's chunk), 8192. ``long_prefill_token_threshold``: prefill tokens one request may
    take in a step (0: up to the step's budget, FCFS); ``max_num_partial_prefills`` and
    ``max_long_partial_prefills``: requests prefilling at once, and long ones (prompt above
    the threshold) among them (0: no limit). ``dispatch``: what join-shortest-queue measures
    a replica's queue in (``DISPATCH``): "tokens", the KV its requests in the system will
    hold (each its reservation plus its output), then their number; "requests", their
    number alone. ``balance_abs_threshold`` and ``balance_rel_threshold``: when a session's
    later turn would stay on its replica, the pool is rebalanced instead if the busiest
    replica holds more than ``abs`` more requests than the least busy and more than ``rel``
    times as many (SGLang's cache-aware router rule); a negative ``abs``: never.
    ``bucket_s``: width of the utilisation
    timeline's buckets. ``max_span_steps``: steps one segment of the loop may run at once
    (default: as many as pass before the next event; 1 replays step by step, to check).
    """

    max_num_seqs: int = MAX_NUM_SEQS
    chunk_tokens: int = 512
    max_num_batched_tokens: int = 8192
    bucket_s: float = 60.0
    max_span_steps: int = 1 << 62
    long_prefill_token_threshold: int = 0
    max_num_partial_prefills: int = 0
    max_long_partial_prefills: int = 0
    dispatch: str = "tokens"
    balance_abs_threshold: int = 64
    balance_rel_threshold: float = 1.5

    def check(self) -> None:
        if self.dispatch not in DISPATCH:
            msg = f"dispatch {self.dispatch!r}: use one of {', '.join(DISPATCH)}"
            raise ConfigError(msg)
        if min(self.max_num_seqs, self.chunk_tokens, self.max_span_steps) < 1 or \
                self.bucket_s <= 0:
            msg = "max_num_seqs, chunk_tokens and max_span_steps must be >= 1 and bucket_s > 0"
            raise ConfigError(msg)
        if min(self.long_prefill_token_threshold, self.max_num_partial_prefills,
               self.max_long_partial_prefills) < 0:
            msg = ("long_prefill_token_threshold, max_num_partial_prefills and "
                   "max_long_partial_prefills must be >= 0 (0: no limit)")
            raise ConfigError(msg)
        if self.balance_rel_threshold < 1:
            msg = f"balance_rel_threshold {self.balance_rel_threshold} must be >= 1"
            raise ConfigError(msg)
        if self.max_num_batched_tokens <= self.max_num_seqs:
            msg = (f"max_num_batched_tokens {self.max_num_batched_tokens} must exceed "
                   f"max_num_seqs {self.max_num_seqs}, or decodes leave no room for prefill")
            raise ConfigError(msg)

    def describe(self) -> dict[str, object]:
        """The settings and what each models, for a plan's assumptions."""
        return {
            "engine": "iteration-level continuous batching as vLLM's scheduler runs it: running "
                      "requests first (every decode one token, then running prefills in "
                      "admission order), then waiting requests FCFS, within one token budget "
                      "a step (vllm/v1/core/sched/scheduler.py, schedule(); recalled)",
            "dispatch": {
                "value": self.dispatch,
                "source": "join-shortest-queue inside a pool; 'tokens' weighs each replica by "
                          "the KV its requests will hold, as Dynamo's KV router weighs workers "
                          "by their active blocks (docs.nvidia.com/dynamo, Router Design), so a "
                          "long prompt's replica is not handed the next request as if it held "
                          "a short one; 'requests': by their number alone"},
            "session_affinity": {
                "value": {"balance_abs_threshold": self.balance_abs_threshold,
                          "balance_rel_threshold": self.balance_rel_threshold},
                "source": "a session's later turns go to the replica that served its first, "
                          "unless the pool is imbalanced: the busiest replica holds more than "
                          "abs more requests than the least busy and more than rel times as "
                          "many; then to the shortest queue, which the session follows. "
                          "SGLang router (sgl-model-gateway) cache_aware defaults 64 and 1.5 "
                          "(its RouterArgs balance_abs_threshold and balance_rel_threshold; "
                          "docs: Load Balancing, cache-aware)"},
            "max_num_seqs": self.max_num_seqs,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "chunk_tokens": {"value": self.chunk_tokens, "source": "prefill tokens a colocated "
                             "step may carry: vLLM's first chunked-prefill default "
                             "max_num_batched_tokens, 512 (vllm-project/vllm#4580; recalled)"},
            "long_prefill_token_threshold": {
                "value": self.long_prefill_token_threshold,
                "source": "vLLM SchedulerConfig: a request's prefill chunk is capped at it, so "
                          "requests behind a long prompt get budget in the same step "
                          "(docs.vllm.ai/en/stable/api/vllm/config/scheduler); 0: no cap"},
            "max_num_partial_prefills": {
                "value": self.max_num_partial_prefills,
                "source": "vLLM SchedulerConfig (default 1, read by its V0 scheduler; the V1 "
                          "scheduler sets no such limit); 0 here: no limit"},
            "max_long_partial_prefills": {
                "value": self.max_long_partial_prefills,
                "source": "vLLM SchedulerConfig: long prompts prefilling at once; a short one "
                          "waiting behind them goes first (V0 PartialPrefillMetadata); 0: no "
                          "limit"},
        }

    def prefills(self) -> Prefills:
        """The replicas' prefill sharing (``tracelab.simulate.batching.Prefills``)."""
        return Prefills(self.long_prefill_token_threshold, self.max_num_partial_prefills,
                        self.max_long_partial_prefills)


def read_requests(requests: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The contract's columns, in arrival order (ties by request_id), and ``route_u`` (the
    ledger's route key: given, or hashed from ``request_id``); a missing column is a
    ConfigError naming it."""
    lazy = requests.lazy()
    names = lazy.collect_schema().names()
    missing = [c for c in REQUEST_COLUMNS if c not in names and c != "session_id"]
    if missing:
        msg = f"the requests to replay lack {', '.join(missing)}; build them with "
        msg += "tracelab.simulate.scan_replay_requests"
        raise ConfigError(msg)
    session = pl.col("session_id") if "session_id" in names else pl.lit(None, pl.String)
    key = pl.col("route_u").cast(pl.Float64) if "route_u" in names else route_unit()
    return lazy.select(
        pl.col("request_id").cast(pl.String),
        pl.col("arrival_s").cast(pl.Float64),
        pl.col("class_id").cast(pl.String),
        pl.col("model_id").cast(pl.String),
        pl.col("prefill_tokens").cast(pl.Int64).fill_null(0).clip(0),
        pl.col("context_tokens").cast(pl.Int64).fill_null(0).clip(0),
        pl.col("output_tokens").cast(pl.Int64).fill_null(0).clip(0),
        session.cast(pl.String).alias("session_id"),
        pl.col("label_mode").cast(pl.String),
        key.alias("route_u"),
    ).sort("arrival_s", "request_id", nulls_last=True).collect()


def _most_requests_outside(frame: pl.DataFrame, column: str,
                           known: set[str]) -> tuple[str, int] | None:
    """The value of ``column`` outside ``known`` with the most requests, and their count."""
    left = frame.filter(~pl.col(column).is_in(sorted(known))).group_by(column).len()
    if left.height == 0:
        return None
    value, n = left.sort(["len", column], descending=[True, False]).row(0)
    return str(value), int(n)


def _check_fit(frame: pl.DataFrame, fleet: Fleet, source: str) -> None:
    lost = _most_requests_outside(frame, "model_id", {p.model_id for p in fleet.pools})
    if lost is not None:
        msg = f"{source}: no pool serves model {lost[0]!r} ({lost[1]:,} requests of the "
        msg += "trace); plan this trace again"
        raise ConfigError(msg)
    lost = _most_requests_outside(frame, "class_id", {r.class_id for r in fleet.routes})
    if lost is not None:
        msg = f"{source}: class {lost[0]!r} ({lost[1]:,} requests) has no route; plan this "
        msg += "trace again, grouped into classes the same way"
        raise ConfigError(msg)
    pools = {p.pool_id: p for p in fleet.pools}
    class_model = dict(frame.group_by("class_id").agg(pl.col("model_id").first()).iter_rows())
    for r in fleet.routes:
        model = pools[r.prefill_pool].model_id
        if r.class_id in class_model and class_model[r.class_id] != model:
            msg = f"{source}: class {r.class_id!r} ({class_model[r.class_id]}) is routed to "
            msg += f"{r.prefill_pool}, which serves {model}; plan this trace again"
            raise ConfigError(msg)


def _assign_routes(frame: pl.DataFrame, fleet: Fleet) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Route number per request and the (prefill pool, decode pool) of each route."""
    rows: list[dict[str, object]] = []
    ends: list[tuple[str, str]] = []
    for class_id in sorted({r.class_id for r in fleet.routes}):
        shares = sorted((r for r in fleet.routes if r.class_id == class_id and r.fraction > 0),
                        key=lambda r: (r.prefill_pool, r.decode_pool))
        lo = 0.0
        for k, r in enumerate(shares):
            hi = 2.0 if k == len(shares) - 1 else lo + r.fraction
            rows.append({"class_id": class_id, "lo": lo, "hi": hi, "route": len(ends)})
            ends.append((r.prefill_pool, r.decode_pool))
            lo = hi
    table = pl.DataFrame(rows, schema={"class_id": pl.String, "lo": pl.Float64,
                                       "hi": pl.Float64, "route": pl.Int64})
    keyed = frame.select("request_id", "class_id", "route_u").with_row_index("_row")
    matched = keyed.join(table, on="class_id", how="left").filter(
        (pl.col("route_u") >= pl.col("lo")) & (pl.col("route_u") < pl.col("hi"))
    ).sort("_row")
    if matched.height != frame.height:
        msg = "a class's route fractions do not cover [0, 1)"
        raise ConfigError(msg)
    return matched["route"].to_numpy(), ends


def transfer_s(perf: PerfModel, pre: PoolSpec, dec: PoolSpec) -> float:
    """Seconds per KV token moved from a ``pre`` replica to a ``dec`` replica."""
    links = [perf.catalog.get(p.device_id).link_gbs for p in (pre, dec)]
    usable = [g for g in links if g is not None and g > 0]
    if len(usable) < 2:
        msg = f"{pre.device_id} -> {dec.device_id}: no link bandwidth in the catalog to move KV"
        raise ConfigError(msg)
    kvb = perf.model(pre.model_id).kv_bytes_per_token * rf.KV_SCALE[pre.precision]
    return kvb / (min(usable) * 1e9)


def _run(spec: PoolSpec, perf: PerfModel, options: SimOptions, arrival: np.ndarray,
         pre: np.ndarray, ctx: np.ndarray, out: np.ndarray,
         session: np.ndarray) -> PoolRun:
    """Replay one pool on its requests (sorted by ``arrival``)."""
    n = len(arrival)
    if spec.replicas == 0:
        return PoolRun(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                       np.full(n, -1, np.int64), np.zeros(n, np.int64), (), 0.0)
    step = StepModel(perf, spec.device_id, spec.model_id, spec.precision, spec.devices_per_replica)
    cap = perf.kv_capacity_tokens(spec.device_id, spec.model_id, spec.precision,
                                  spec.devices_per_replica)
    state = PoolState(n, options.bucket_s)
    kvr = np.maximum(ctx, pre)
    need = kvr + (out if spec.role != "prefill" else 0)
    state.pre_left = pre.tolist()
    state.pre0 = pre.tolist()
    state.kvr = kvr.tolist()
    state.dec_left = (out if spec.role != "prefill" else np.zeros_like(out)).tolist()
    state.rep = np.where(need > cap, -2, -1).tolist()  # -2: cannot fit one replica's KV
    state.weight = need.tolist() if options.dispatch == "tokens" else [0] * n
    chunk = options.chunk_tokens if spec.role == "colocated" else options.max_num_batched_tokens
    reps = run_pool(arrival.tolist(), session.tolist(), state, spec.replicas, step, cap,
                    options.max_num_seqs, chunk, options.max_num_batched_tokens,
                    options.max_span_steps, spec.available, options.prefills(),
                    (options.balance_abs_threshold, options.balance_rel_threshold))
    return PoolRun(np.asarray(state.start, np.float64), np.asarray(state.first, np.float64),
                   np.asarray(state.done, np.float64), np.asarray(state.rep, np.int64),
                   np.asarray(state.npre, np.int64),
                   tuple(ReplicaUse(r.busy, r.batch_area, r.kv_area, r.preemptions)
                         for r in reps), cap)


def _run_pool(spec: PoolSpec, perf: PerfModel, options: SimOptions, memo: PoolRuns | None,
              arrival: np.ndarray, pre: np.ndarray, ctx: np.ndarray, out: np.ndarray,
              session: np.ndarray) -> PoolRun:
    """``_run``, or the run ``memo`` holds for the same inputs (``tracelab.simulate.memo``)."""
    if memo is None:
        return _run(spec, perf, options, arrival, pre, ctx, out, session)
    session = canonical_sessions(session)  # the same sessions, whichever frame they came from
    key = (spec, options, arrival.tobytes(), pre.tobytes(), ctx.tobytes(), out.tobytes(),
           session.tobytes())
    return memo.get(key, perf, lambda: _run(spec, perf, options, arrival, pre, ctx, out,
                                            session))


def simulate(requests: pl.DataFrame | pl.LazyFrame, fleet: Fleet, perf: PerfModel, *,
             slos: Mapping[str, Slo] | None = None, options: SimOptions | None = None,
             source: str = "the plan", memo: PoolRuns | None = None) -> Replay:
    """Replay ``requests`` (columns: ``REQUEST_COLUMNS``; ``arrival_s`` in seconds from the
    window's start, ``prefill_tokens`` already net of cache hits) through ``fleet``, step
    times from ``perf``, SLOs per ``label_mode`` from ``slos`` (default: the bundled ones).
    A fleet that does not fit the requests (a model without a pool, a class without a route)
    is a ConfigError naming ``source``; a fleet too small is a Replay that says how far
    behind it fell. ``memo``: pool replays kept from earlier calls on the same ``perf``, to
    reuse for pools whose inputs did not change (``tracelab.simulate.memo``)."""
    options = options or SimOptions()
    options.check()
    slos = dict(slos) if slos is not None else load_slos()
    frame = read_requests(requests)
    if frame.height and frame["model_id"].null_count() == frame.height:
        msg = (f"{source}: none of the trace's {frame.height:,} requests names a model, and "
               "every pool serves one; replay it with the model it was planned with")
        raise ConfigError(msg, param="assume_model")
    skipped = frame.filter(pl.col("model_id").is_null() | pl.col("arrival_s").is_null()).height
    frame = frame.filter(pl.col("model_id").is_not_null() & pl.col("arrival_s").is_not_null())
    _check_fit(frame, fleet, source)
    route, ends = _assign_routes(frame, fleet)
    pools = {p.pool_id: p for p in fleet.pools}
    n = frame.height
    arrival = frame["arrival_s"].to_numpy()
    pre = np.maximum(frame["prefill_tokens"].to_numpy(), 1)  # a full hit still runs one token
    ctx = frame["context_tokens"].to_numpy()
    out = np.maximum(frame["output_tokens"].to_numpy(), 1)
    session = frame.select(pl.col("session_id").rank("dense").fill_null(0).cast(pl.Int64) - 1
                           )["session_id"].to_numpy()
    pre_pool = np.array([ends[r][0] for r in range(len(ends))], dtype=object)[route] if n else \
        np.array([], dtype=object)
    dec_pool = np.array([ends[r][1] for r in range(len(ends))], dtype=object)[route] if n else \
        np.array([], dtype=object)
    times = {k: np.full(n, np.nan)
             for k in ("start_p", "done_p", "start_d", "arrive_d", "first", "done")}
    replica = np.full(n, -1, dtype=np.int64)
    replica_p = np.full(n, -1, dtype=np.int64)
    preempted = np.zeros(n, dtype=np.int64)
    runs: dict[str, tuple[PoolSpec, Sequence[ReplicaUse], float]] = {}
    for spec in sorted(fleet.pools, key=lambda p: (p.role == "decode", p.pool_id)):
        if spec.role == "decode":
            idx = np.flatnonzero(dec_pool == spec.pool_id)
            ready = times["done_p"][idx]
            moved = np.array([transfer_s(perf, pools[p], spec) for p in pre_pool[idx]])
            t_in = ready + moved * ctx[idx]
            served = ~np.isnan(t_in)
            idx, t_in = idx[served], t_in[served]
            order = np.argsort(t_in, kind="stable")
            idx, t_in = idx[order], t_in[order]
            times["arrive_d"][idx] = t_in
            run = _run_pool(spec, perf, options, memo, t_in, np.zeros(len(idx), np.int64),
                            ctx[idx], out[idx], session[idx])
            times["start_d"][idx] = run.start
            times["first"][idx] = run.first
            times["done"][idx] = run.done
            replica[idx] = run.rep
        else:
            idx = np.flatnonzero(pre_pool == spec.pool_id)
            run = _run_pool(spec, perf, options, memo, arrival[idx], pre[idx], ctx[idx],
                            out[idx], session[idx])
            times["start_p"][idx] = run.start
            times["done_p"][idx] = run.done
            replica_p[idx] = run.rep
            if spec.role == "colocated":
                times["first"][idx] = run.first
                times["done"][idx] = run.done
                replica[idx] = run.rep
        preempted[idx] += run.npre
        runs[spec.pool_id] = (spec, run.replicas, run.cap)
    frame = frame.with_columns(
        pl.Series("pool_prefill", pre_pool.tolist(), pl.String),
        pl.Series("pool_decode", dec_pool.tolist(), pl.String),
        pl.Series("replica", replica), pl.Series("replica_prefill", replica_p),
        *[pl.Series(k, v) for k, v in times.items()], pl.Series("preemptions", preempted),
    )
    return build_replay(frame, runs, slos, options, skipped)


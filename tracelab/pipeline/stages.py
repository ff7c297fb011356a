"""The pipeline's stages: each a function with a typed input and a typed result.

``prepare`` (options → ``Settings``: every file an option names, read and checked) runs
before any trace is read, so a typo fails fast. Then, in data order::

    ingest ─► cache ─► features ─► plan ─► verify
       │                  └──────► cluster
       └─► label (every column, lazily: ``tracelab label``)

``tracelab.pipeline.run.Pipeline`` composes them; every verb asks it for the stages it
needs, so the same trace and options give the same numbers from every verb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelab.errors import ParamError
from tracelab.pipeline.options import PipelineOptions

if TYPE_CHECKING:
    from tracelab.cache import ReuseResult
    from tracelab.cache.credit import CreditBound
    from tracelab.hardware.catalog import Catalog
    from tracelab.hardware.perf import PerfModel
    from tracelab.hardware.profile import PerfProfile
    from tracelab.ingest import Trace
    from tracelab.labels import LabelConfig, LabeledTrace, WorkloadClusterer
    from tracelab.plan import Plan, Slo
    from tracelab.plan.providers import Provider

PathsLike = str | Path | Sequence[str | Path]
# The LRU capacity credited to the plan when none is given: the smallest cache reaching this
# share of the achievable (infinite-cache) hits (tracelab.cache knees).
DEFAULT_CACHE_KNEE = 0.8


@dataclass(frozen=True)
class Settings:
    """The options with every file they name read and checked (``prepare``)."""

    options: PipelineOptions
    slos: dict[str, Slo]
    catalog: Catalog
    profile: PerfProfile
    label_config: LabelConfig
    providers: tuple[Provider, ...] = ()
    # The bundled per-token providers, weighed against the pools when ``providers`` is
    # empty (the plan's ``per_token_alternatives``); none when the plan uses providers.
    compare_providers: tuple[Provider, ...] = ()

    @property
    def model_map(self) -> dict[str, str] | None:
        """The logged-name → registry-id mapping, None when empty (the stages' spelling)."""
        return dict(self.options.model_map) or None

    def perf_model(self) -> PerfModel:
        """The performance model over this catalog, the bundled registry and the profile."""
        from tracelab.hardware.perf import PerfModel

        return PerfModel(self.catalog, profile=self.profile)


def prepare(options: PipelineOptions) -> Settings:
    """Validate ``options`` and read what they name (SLO table and overrides, catalog and
    prices, profile, label thresholds); ``ConfigError``/``ParamError`` on the first problem.
    Cheap: no trace is read."""
    from tracelab.hardware.catalog import load_catalog, parse_prices
    from tracelab.hardware.profile import load_profile
    from tracelab.labels import load_label_config
    from tracelab.plan import load_slos

    options.validate()
    slos = load_slos(overrides=options.slos)
    catalog = load_catalog(options.catalog, prices=parse_prices(options.prices))
    ids = [str(d.id) for d in catalog.plannable()]
    for name in ("only", "exclude"):
        unknown = sorted(set(getattr(options, name) or ()) - set(ids))
        if unknown:
            reason = f"unknown or unpriced device; priced devices: {', '.join(ids)}"
            raise ParamError(param=name, value=",".join(unknown), reason=reason)
    if not set(options.only or ids) - set(options.exclude or ()):
        raise ParamError(param="exclude", value=",".join(options.exclude or ()),
                         reason="leaves no device to plan on")
    from tracelab.plan.providers import load_providers, read_providers_option

    providers = read_providers_option(options.providers)
    return Settings(options=options, slos=slos, catalog=catalog,
                    profile=load_profile(options.profile),
                    label_config=load_label_config(options.config), providers=providers,
                    compare_providers=() if providers else tuple(load_providers()))


def ingest(paths: PathsLike, settings: Settings) -> Trace:
    """The trace at ``paths`` (files, globs, folders): accepted rows, rejected rows, counts."""
    from tracelab.ingest import read_trace
    from tracelab.ingest.reader import require_accepted

    trace = read_trace(paths, format=settings.options.format, strict=settings.options.strict)
    require_accepted(trace)  # every row rejected: say why, before a stage blames a symptom
    return trace


@dataclass(frozen=True)
class CacheCredit:
    """The reuse curve and the prefix-cache hits the plan is credited with.

    ``capacity_blocks``: the LRU capacity whose hits are credited (None: no reuse evidence,
    no credit); ``capacity_how``: how it was chosen; ``hits``: ``[_trace_row,
    cache_hit_tokens]`` per request with reuse evidence, keyed by its position in the trace.
    """

    reuse: ReuseResult
    capacity_blocks: int | None
    capacity_how: str
    hits: pl.DataFrame | None
    estimate: bool = False  # reuse inferred from sessions alone (``tracelab.cache.credit``)
    bound: CreditBound | None = None  # what the plan's fleet holds, once a plan is fitted

    @property
    def hit_tokens(self) -> int | None:
        """Input tokens served from the simulated cache, None without a credit."""
        return None if self.hits is None else int(self.hits["cache_hit_tokens"].sum())

    @property
    def hits_known(self) -> int:
        """Requests whose hits are known (those with reuse evidence)."""
        return 0 if self.hits is None else self.hits.height


def _knee_capacity(reuse: ReuseResult, fraction: float) -> int | None:
    knees = reuse.knees
    if knees.height == 0:
        return None
    row = knees.filter(pl.col("fraction") == fraction)
    if row.height == 0:
        row = knees.sort("fraction").tail(1)
    value = row["capacity_blocks"].item()
    return int(value) if value is not None else None


def cache(trace: Trace, settings: Settings) -> CacheCredit:
    """LRU reuse curve of ``trace`` and the hits of the credited capacity (the given
    ``cache_capacity``, else the smallest reaching DEFAULT_CACHE_KNEE of achievable hits)."""
    from tracelab.cache import compute_reuse_curve
    from tracelab.cache.credit import is_estimate
    from tracelab.labels.materialise import TRACE_ROW

    options = settings.options
    reuse = compute_reuse_curve(trace.frame, capacities_blocks=list(options.capacities) or None,
                                sample_rate=options.sample_rate, model_map=settings.model_map,
                                assume_model=options.assume_model)
    if reuse.evidence == "none":
        return CacheCredit(reuse, None, "no reuse evidence: no cache credit", None)
    estimate = is_estimate(reuse.evidence, _provider_counts(trace))
    if estimate and not options.credit_session_reuse:
        return CacheCredit(reuse, None, ESTIMATE_HOW, None, estimate=True)
    given = options.cache_capacity
    capacity = given if given is not None else _knee_capacity(reuse, DEFAULT_CACHE_KNEE)
    how = ("given" if given is not None else f"smallest LRU capacity reaching "
           f"{DEFAULT_CACHE_KNEE:.0%} of the achievable hits")
    hits = (None if capacity is None else
            reuse.compute_cache_hits_by_row(capacity).rename({"row": TRACE_ROW}))
    return CacheCredit(reuse, capacity, how, hits, estimate=estimate)


ESTIMATE_HOW = ("reuse inferred from session structure alone (no prefix blocks, no provider "
                "cache counts) is an estimate: not credited unless credit_session_reuse is set")


def _provider_counts(trace: Trace) -> bool:
    """The log itself counts cached prompt tokens on some row."""
    if "cached_input_tokens" not in trace.frame.collect_schema().names():
        return False
    present = trace.frame.select(pl.col("cached_input_tokens").is_not_null().any())
    return bool(present.collect(engine="streaming").item())


def bound_credit(fitted: Plan, frame: pl.LazyFrame, credit: CacheCredit, settings: Settings,
                 spans: Sequence[tuple[int, int]] = ()) -> tuple[Plan, CacheCredit, pl.LazyFrame]:
    """No more cache credit than ``fitted``'s fleet holds (``tracelab.cache.credit``): when
    the credited capacity is larger, its hits at the bound replace those in ``frame`` and
    the plan is fitted again; the tier advice is cut to the fleet either way. Returns the
    plan, the credit and the requests it was fitted on (``frame`` itself unless the hits
    were replaced), which the replay must take."""
    from tracelab.cache.credit import (
        bound_tiers,
        compute_plan_bound,
        credit_capacity,
        replace_hits,
    )
    from tracelab.labels.materialise import TRACE_ROW

    if credit.capacity_blocks is None:
        return fitted, credit, frame
    bound = compute_plan_bound(credit.reuse, fitted, settings.perf_model(), frame)
    capacity, bounded = credit_capacity(credit.capacity_blocks, bound)
    reuse = bound_tiers(credit.reuse, bound)
    if bounded is None:
        how = f"{credit.capacity_how}; fits the recommended fleet's memory ({bound.describe()})"
        return fitted, replace(credit, reuse=reuse, capacity_how=how, bound=bound), frame
    hits = reuse.compute_cache_hits_by_row(capacity).rename({"row": TRACE_ROW})
    bounded_frame = replace_hits(frame, hits, TRACE_ROW)
    refitted = plan(bounded_frame, settings, spans)
    return refitted, replace(credit, reuse=reuse, capacity_blocks=capacity, hits=hits,
                             capacity_how=f"{credit.capacity_how}; {bounded} (plan refitted)",
                             bound=bound), bounded_frame  # fmt: skip


@dataclass(frozen=True)
class Features:
    """The labelled requests (features, labels, credited cache hits), computed once.

    ``modelled``: requests whose model the registry knows (the plan needs at least one);
    ``assumed_work``: requests whose work was estimated with the reference model;
    ``timed``: requests with an arrival time (the plan sizes for arrival rates: it needs
    at least one).
    """

    frame: pl.LazyFrame
    modelled: int
    assumed_work: int
    timed: int

    @property
    def plannable(self) -> bool:
        """True when a fleet can be planned: a known model and arrival times."""
        return bool(self.modelled and self.timed)


def features(trace: Trace, settings: Settings, credit: CacheCredit | None) -> Features:
    """Features and labels of every request of ``trace``, with ``credit``'s hits attached."""
    from tracelab.labels import materialise_labels

    frame = materialise_labels(trace, config=settings.label_config, model_map=settings.model_map,
                               assume_model=settings.options.assume_model,
                               row_values=None if credit is None else credit.hits)
    modelled, assumed = frame.select(
        pl.col("model_id").is_not_null().sum(),
        pl.col("work_model_assumed").fill_null(False).sum(),
    ).collect(engine="streaming").row(0)
    timed = trace.time_bases.absolute_rows + trace.time_bases.relative_rows
    return Features(frame, int(modelled), int(assumed), int(timed))


def label(trace: Trace, settings: Settings,
          clusterer: WorkloadClusterer | None = None) -> LabeledTrace:
    """Every request of ``trace`` with every feature, label, reason and its cluster, lazily
    (``tracelab label``'s rows: nothing materialised, no cache credit), with the share
    tables; the cluster model is fitted unless ``clusterer`` is given."""
    from tracelab.labels import label_trace

    options = settings.options
    return label_trace(trace.frame, config=settings.label_config, clusterer=clusterer,
                       k=options.k, random_state=options.random_state,
                       model_map=settings.model_map, assume_model=options.assume_model)


def cluster(found: Features, settings: Settings, *, summary: bool = False) -> LabeledTrace:
    """Workload clusters of the labelled requests (``summary``: also the share tables)."""
    from tracelab.labels import cluster_labeled

    options = settings.options
    return cluster_labeled(found.frame, config=settings.label_config, k=options.k,
                           random_state=options.random_state, model_map=settings.model_map,
                           assume_model=options.assume_model, summary=summary)


def plan(frame: pl.LazyFrame, settings: Settings, spans: Sequence[tuple[int, int]] = ()) -> Plan:
    """The cheapest fleet for the labelled requests ``frame`` (with clusters when the plan's
    classes are clusters, ``by="cluster"``); ``spans``: the stretches of time the input files
    cover (``TimeBases.spans``), the only time its rates and hours count."""
    from tracelab.plan import fit_plan

    options = settings.options
    return fit_plan(frame, settings.perf_model(), slos=settings.slos, by=options.by,
                    window_s=options.window_s, percentile=options.percentile,
                    growth=options.growth, only=options.only, exclude=options.exclude,
                    precision=options.precision, max_device_types=options.max_device_types,
                    max_pools=options.max_pools, providers=settings.providers,
                    compare_providers=settings.compare_providers,
                    commitment=options.commitment, spot=options.spot, observed=spans)


ReplayWindow = tuple[pl.DataFrame, dict[str, Any]]


def replay_window(frame: pl.LazyFrame, settings: Settings) -> ReplayWindow | None:
    """The requests the verify stage replays and what they are: the busiest hour of the
    labelled ``frame``, or its busiest shorter window when that hour holds more than
    ``MAX_REPLAY_REQUESTS`` (``tracelab.simulate.requests.busiest_labeled_window``); None
    unless ``options.verify``. It reads only the requests, so it can be cut while the plan
    is fitted."""
    return _busiest_window(frame, settings) if settings.options.verify else None


def _busiest_window(frame: pl.LazyFrame, settings: Settings) -> ReplayWindow:
    from tracelab.simulate.requests import busiest_labeled_window

    return busiest_labeled_window(frame, settings.options.by)


def verify(fitted: Plan, frame: pl.LazyFrame, settings: Settings,
           window: ReplayWindow | None = None) -> Plan:
    """The slot for replaying ``fitted`` on the trace's requests and repairing it.

    The contract between simulator, planner and pipeline: ``tracelab.plan.repair.
    verify_and_repair(plan, requests, perf, slos)`` replays ``requests`` (the simulator's
    per-request input, ``tracelab.simulate.requests.scan_replay_requests`` of the labelled
    frame with the plan's class grouping) through the plan's fleet, adjusts replicas per
    pool and returns the plan with its replay (``plan.json``'s ``"replay"``; the report
    shows it) and its ledger carrying the final replay's per-request times. The requests
    handed over are ``replay_window``'s (``window``, when already cut from ``frame``); the
    replay's ``window`` says which. When that window is shorter than a busiest hour of at
    most ``HOUR_CHECK_REQUESTS``, the repaired fleet is replayed once over the whole hour
    (the replay's ``hour``). ``frame``: the labelled requests the plan was fitted on (with
    clusters when its classes are clusters). A no-op returning ``fitted`` unless
    ``options.verify``.
    """
    if not settings.options.verify:
        return fitted
    from tracelab.plan.repair import verify_and_repair
    from tracelab.simulate.requests import HOUR_CHECK_REQUESTS

    requests, about = window or _busiest_window(frame, settings)
    repaired: Plan = verify_and_repair(fitted, requests, settings.perf_model(),
                                       settings.slos, target=settings.options.attainment,
                                       window_name=about["name"])
    if repaired.replay is None:
        return repaired
    replay = {**repaired.replay, "window": about}
    if about["name"] not in ("whole trace", "busiest hour") and \
            about["busiest_hour_requests"] <= HOUR_CHECK_REQUESTS:
        replay["hour"] = _replay_hour(replace(repaired, replay=replay), frame, settings)
    return replace(repaired, replay=replay)


def _replay_hour(repaired: Plan, frame: pl.LazyFrame, settings: Settings) -> dict[str, Any]:
    """The repaired fleet replayed once over the whole busiest hour it was verified on a
    window of (``tracelab.plan.repair.replay_hour``), with the hour's bounds: the window
    cut again with the hour check's budget, which the hour fits, so it comes back whole."""
    from tracelab.plan.repair import replay_hour
    from tracelab.simulate.requests import HOUR_CHECK_REQUESTS, busiest_labeled_window

    hour, about = busiest_labeled_window(frame, settings.options.by,
                                         max_requests=HOUR_CHECK_REQUESTS)
    return {"start_s": about["start_s"], "end_s": about["end_s"],
            **replay_hour(repaired, hour, settings.perf_model(), settings.slos)}


def schedule(planned: Plan, frame: pl.LazyFrame, settings: Settings) -> Plan:
    """``planned`` with its schedule: the pools' replica counts per window of the day,
    replayed over the whole trace when the plan was (``tracelab.plan.schedule_replay``);
    ``planned`` itself when ``options.schedule`` is "none". ``frame``: the labelled
    requests the plan was fitted on (with clusters when its classes are clusters)."""
    options = settings.options
    if options.schedule == "none":
        return planned
    from tracelab.plan.schedule_replay import fit_schedule
    from tracelab.simulate.requests import scan_replay_requests

    first = frame.select(pl.col("arrival_ts").min()).collect().item()
    offset_s = 0.0 if first is None else (
        first.hour * 3600.0 + first.minute * 60.0 + first.second + first.microsecond / 1e6)
    fitted = fit_schedule(planned, scan_replay_requests(frame, options.by, first),
                          settings.perf_model(), settings.slos, offset_s=offset_s,
                          schedule=options.schedule, floor=options.schedule_floor,
                          target=options.attainment, replay=options.verify)
    return replace(planned, schedule=fitted.summary, schedule_table=fitted.table)

"""The shape of ``summary.json`` as types: what the report builds and every renderer reads.

One ``TypedDict`` per object of ``schemas/summary.schema.json``: a key the schema requires is
a required key here and every other key is ``NotRequired`` (``tests/test_summary_types.py``
checks the two agree, section by section). A summary read back from disk is validated
against the schema first (``read_summary``), so typed access holds for it too. Values the
schema allows to be null are ``X | None``. Free-form leaves (cluster profiles, the cache's
knees, the plan's settings) are ``JSONValue``. No ``from __future__ import annotations``
here: a TypedDict needs its annotations evaluated to know which keys are ``NotRequired``.
"""

from typing import NotRequired, TypeAlias, TypedDict

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]


class InputSection(TypedDict):
    """What was read: file names (not paths), formats, row counts, rejected-row reasons."""

    files: list[str]
    formats: dict[str, str]
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rejected_reasons: dict[str, int]


class TimeSection(TypedDict):
    time_base: str | None
    start: str | None
    end: str | None
    span_s: float
    note: NotRequired[str | None]  # absent from summaries written before it existed


class Histogram(TypedDict):
    bins_per_decade: int
    buckets: list[list[int]]


class LengthStats(TypedDict):
    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    histogram: Histogram


class WorkSeconds(TypedDict):
    prefill_s: float
    decode_s: float


class WorkloadSection(TypedDict):
    requests: int
    status: dict[str, int]
    tokens: dict[str, int | None]
    work_s: WorkSeconds
    prefill_work_share: float | None
    lengths: dict[str, LengthStats]


class ArrivalsSection(TypedDict):
    window_s: float
    windows: int
    requests_per_s_mean: float | None
    requests_per_s_p95: float | None
    requests_per_s_max: float | None
    interarrival_mean_s: float | None
    interarrival_cv: float | None
    index_of_dispersion: float | None


class MixRow(TypedDict):
    """Requests, tokens and work of one label value or cluster, and their shares."""

    requests: int
    tokens: int
    work_s: float
    share_requests: float | None
    share_tokens: float | None
    share_work: float | None


class LabelRow(MixRow):
    value: str


class ClusterRow(MixRow):
    cluster: int | None
    name: str | None
    profile: NotRequired[dict[str, JSONValue] | None]


class ModelRow(TypedDict):
    model: str
    model_id: str | None
    match: str | None
    requests: int


class TimelineSection(TypedDict):
    bucket_s: int
    start: str | None
    requests: list[int]
    tokens: list[int]
    series: dict[str, dict[str, list[int]]]


class CurvePoint(TypedDict):
    capacity_blocks: int
    hit_ratio: float
    capacity_tokens: NotRequired[int | None]
    capacity_bytes: NotRequired[int | None]


class CacheTier(TypedDict):
    """One memory tier's advice (``tracelab.cache.tiers``) and its sentence."""

    recommendation: str
    tier: NotRequired[str]
    name: NotRequired[str]
    from_blocks: NotRequired[int]
    to_blocks: NotRequired[int]
    capacity_gb: NotRequired[float]
    hit_ratio_added: NotRequired[float | None]
    hold_usd_per_hour: NotRequired[float]
    worth_it: NotRequired[bool]


class CacheSection(TypedDict):
    evidence: str
    method: str | None
    sample_rate: float | None
    sampling_error: dict[str, float] | None
    block_tokens: int | None
    n_references: int | None
    n_distinct: int | None
    reuse_ratio_infinite: float | None
    model: dict[str, JSONValue] | None
    curve: list[CurvePoint]
    knees: list[dict[str, JSONValue]]
    tiers: list[CacheTier]
    capacity_blocks: int | None
    capacity_tokens: int | None
    hit_tokens: int | None
    rows_rejected: int
    # the credit (``tracelab.cache.credit``): session-only reuse is an estimate; how the
    # credited capacity was chosen and bounded; what the recommended fleet holds
    estimate: NotRequired[bool]
    credit: NotRequired[str]
    credit_bound: NotRequired[dict[str, JSONValue] | None]


class Baseline(TypedDict):
    device_id: str | None
    label: str
    usd_per_hour: float
    usd_per_mtok: float | None


class FleetRow(TypedDict):
    device_id: str
    model_id: str | None
    role: str | None
    replicas: int
    devices: int
    usd_per_hour: float
    # With commitments: reserved and burst (peak) replicas and the price terms bought at.
    reserved: NotRequired[int]
    burst: NotRequired[int]
    price_term: NotRequired[str]


class PerTokenAlternative(TypedDict):
    """A model whose pools cost more than its tokens would at a per-token provider the plan
    was not given (``Plan.per_token_alternatives``): not planned, not replayed."""

    model_id: str
    usd_per_hour: float
    providers: list[str]
    classes: int
    pools: list[str]
    pools_usd_per_hour: float
    requests: int
    saving_usd_per_hour: float


class PerTokenRow(TypedDict):
    """A per-token provider route: what the ledger sent there (no replicas)."""

    pool_id: str
    device_id: str
    requests: int
    prefill_tokens: int
    decode_tokens: int
    cache_hit_tokens: int
    usd: float
    usd_per_hour: float


class FlowRow(TypedDict):
    label: str
    phase: str
    device: str
    tokens: int
    usd: float


class ReasonRow(TypedDict):
    reason: str
    requests: int
    usd: float | None


class ReplayWindow(TypedDict):
    """The replayed requests: ``name`` ("busiest hour", "whole trace", ...), seconds from
    the trace's first arrival."""

    name: str
    start_s: float
    end_s: float
    requests: int


class ReplayDistribution(TypedDict):
    """TTFT and TPOT of one SLO mode's replayed requests against its targets (seconds; 0:
    no target); ``cdf_*``: values at ``ReplaySection.cdf_points`` percent."""

    slo_mode: str
    requests: int
    served: int
    ttft_target_s: float
    ttft_target_s_per_ktoken: float
    tpot_target_s: float
    meets_ttft: float
    meets_tpot: float
    attainment: float
    p50_ttft_s: float | None
    p90_ttft_s: float | None
    p99_ttft_s: float | None
    p50_tpot_s: float | None
    p90_tpot_s: float | None
    p99_tpot_s: float | None
    cdf_ttft_s: list[float]
    cdf_tpot_s: list[float]


class ReplayPool(TypedDict):
    pool_id: str
    role: str
    replicas: int
    utilisation: float
    requests: int | None
    attainment: float | None
    p99_ttft_s: float | None
    p99_tpot_s: float | None


class ReplayHour(TypedDict):
    """The fleet replayed over the whole busiest hour (``tracelab.plan.repair.replay_hour``)."""

    start_s: float
    end_s: float
    requests: int
    attained: float
    attained_with_infeasible: float
    infeasible_by_slo: int
    attainment_target_met: bool


class ReplayBucket(TypedDict):
    """Share of one pool's replica-time stepping in the bucket starting at ``t_s``."""

    pool_id: str
    t_s: float
    busy: float


class ReplaySection(TypedDict):
    """The verify stage's replay of the plan's fleet (``tracelab.plan.repair``)."""

    window: ReplayWindow
    target: float
    modes: list[str]
    attained: float
    attainment_target_met: bool
    verdict: str
    bucket_s: float
    cdf_points: list[float]
    distributions: list[ReplayDistribution]
    pools: list[ReplayPool]
    timeline: list[ReplayBucket]
    not_modelled: list[str]
    # requests no fleet can serve in time (tracelab.plan.feasible): count, held, why, rows
    infeasible_by_slo: NotRequired[dict[str, JSONValue]]
    # the fleet the program sized before any replay ($/h) and the share it attained
    fluid_usd_per_hour: NotRequired[float]
    fluid_attained: NotRequired[float]
    # the whole busiest hour replayed once, when the window was shorter
    hour: NotRequired[ReplayHour]


class ScheduleRow(TypedDict):
    """One pool's replicas in one window of the day (``hour``: its index from midnight UTC)
    and the window's cost."""

    hour: int
    pool_id: str
    replicas: int
    devices: int
    usd: float


class ScheduleSection(TypedDict):
    """The plan's pools per window of the day (``tracelab.plan.schedule_replay``); only
    ``window_s`` and ``note`` when there was nothing to schedule."""

    window_s: float
    note: str
    windows: NotRequired[list[int]]
    floor: NotRequired[int]
    static_usd_per_hour: NotRequired[float]
    scheduled_usd_per_hour: NotRequired[float]
    saving: NotRequired[float]
    priced_at: NotRequired[str]
    prewarm_usd_per_hour: NotRequired[float]
    lead_times: NotRequired[list[dict[str, JSONValue]]]
    replay: NotRequired[dict[str, JSONValue]]
    rows: NotRequired[list[ScheduleRow]]


class PlanSection(TypedDict):
    usd_per_hour: float
    usd_per_mtok: float
    span_hours: float
    fleet_usd: float
    ledger_usd: float
    idle_usd: float
    tokens: int
    cache_hit_tokens: int
    baselines: dict[str, Baseline | None]
    savings: dict[str, float | None]
    fleet: list[FleetRow]
    token_flow: list[FlowRow]
    top_reasons: list[ReasonRow]
    settings: dict[str, JSONValue]
    replay: NotRequired[ReplaySection | None]  # None: the plan was not replayed
    per_token: NotRequired[list[PerTokenRow]]  # per-token provider routes, when any
    # Models cheaper per token at a provider the plan was not given, when any.
    per_token_alternatives: NotRequired[list[PerTokenAlternative]]
    schedule: NotRequired[ScheduleSection | None]  # absent: no schedule was asked for


class PriceRow(TypedDict):
    device_id: str
    usd_per_hour: float | None
    source: str | None
    as_of: str | None
    estimated: bool
    override: bool


class Efficiencies(TypedDict):
    source: str
    values: dict[str, JSONValue]
    provenance: NotRequired[dict[str, JSONValue]]


class AssumptionsSection(TypedDict):
    prices: list[PriceRow]
    slos: dict[str, dict[str, JSONValue]]
    efficiencies: Efficiencies
    model_mapping: list[ModelRow]
    defaults: dict[str, JSONValue]
    notes: list[str]
    slo_source: NotRequired[str]


class Summary(TypedDict):
    """``summary.json``: every section a report shows (see the schema for units)."""

    kind: str
    schema_version: int
    tracelab_version: str
    generated_at: str | None
    elapsed_s: float | None
    input: InputSection
    time: TimeSection
    workload: WorkloadSection
    arrivals: ArrivalsSection
    labels: dict[str, list[LabelRow]]
    clusters: list[ClusterRow]
    models: list[ModelRow]
    timeline: TimelineSection
    cache: CacheSection | None
    plan: PlanSection | None
    assumptions: AssumptionsSection

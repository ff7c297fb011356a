"""``PipelineOptions``: every setting of every stage in one object, validated once.

The CLI builds one from its flags and a Python caller builds one directly; both get the
same checks, from the constraints declared in ``CONSTRAINTS``, before any file is read
(``validate``). Checks that need a file (the SLO overrides against the SLO table, device
ids against the catalog) run in ``tracelab.pipeline.stages.prepare``, still before ingest.

```python
from tracelab.pipeline import PipelineOptions
options = PipelineOptions(window_s=30.0, growth=2.0, assume_model="llama-3.1-8b").validate()
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import cast

from tracelab.errors import ParamError
from tracelab.validation import Constraint, Interval, Options, validate_params

# The most clusters a workload is split into: the report names and tabulates every one,
# and a k-means fit on the clusterer's 20,000-row sample gains nothing from more.
MAX_K = 64
# Seeds take what k-means (numpy's RandomState) accepts.
MAX_RANDOM_STATE = 2**32 - 1


@dataclass(frozen=True)
class PipelineOptions:
    """Settings of every stage (units in the names; defaults are the CLI's).

    Reading: ``format`` (None: sniffed), ``strict`` (a rejected row fails the read).
    Models: ``model_map`` (logged name → registry id), ``assume_model`` (registry id for
    requests whose model is unknown). Labels: ``config`` (thresholds TOML over the packaged
    labels.toml), ``k`` (clusters; None: chosen by silhouette), ``random_state``.
    Cache: ``cache_capacity`` (LRU blocks credited to the plan; None: the 80% knee; either
    bounded by what the plan's fleet holds), ``credit_session_reuse`` (credit reuse inferred
    from sessions alone, an estimate; off by default),
    ``capacities`` (extra curve points, blocks), ``sample_rate`` (SHARDS rate; None: by size).
    Hardware: ``catalog`` (TOML over the packaged one), ``prices`` (``ID=USD`` per
    device-hour), ``profile`` (efficiencies TOML), ``precision``. Plan: ``slos``
    (``MODE.FIELD=SECONDS`` overrides), ``percentile`` of demand windows, ``growth``
    (demand multiplier), ``window_s`` (demand window, seconds), ``by`` (class grouping),
    ``only``/``exclude`` (device ids). ``verify``: replay the plan afterwards (the verify
    stage; see ``tracelab.pipeline.stages.verify``) until ``attainment`` of the requests
    held to a latency SLO meet it. ``max_device_types``/``max_pools``: the fleet's
    operational limits (``max_pools`` None: 2 per model). ``schedule``: the plan's replica
    counts per window of the day ("hourly", or "none"), each pool keeping at least
    ``schedule_floor`` replicas (``tracelab.plan.schedule``).
    """

    format: str | None = None
    strict: bool = False
    model_map: Mapping[str, str] = field(default_factory=dict)
    assume_model: str | None = None
    config: Path | None = None
    k: int | None = None
    random_state: int = 0
    cache_capacity: int | None = None
    credit_session_reuse: bool = False
    capacities: tuple[int, ...] = ()
    sample_rate: float | None = None
    catalog: Path | None = None
    prices: tuple[str, ...] = ()
    profile: Path | None = None
    precision: str = "bf16"
    slos: tuple[str, ...] = ()
    percentile: float = 95.0
    growth: float = 1.0
    window_s: float = 60.0
    by: str = "labels"
    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    verify: bool = False
    max_device_types: int = 3
    max_pools: int | None = None
    attainment: float = 0.99
    # Per-token providers the plan may route to: a TOML file over the bundled table, or
    # "bundled" for the bundled table alone; None: no providers (tracelab.plan.providers).
    providers: str | None = None
    # Reserved capacity the plan may buy: "none" (every replica on demand for the whole span),
    # "1y" or "3y" (a reserved base plus burst by the hour; tracelab.plan.commit); ``spot``:
    # burst replicas at the spot price where the catalog lists one.
    commitment: str = "none"
    spot: bool = False
    schedule: str = "hourly"
    schedule_floor: int = 1

    def validate(self) -> PipelineOptions:
        """Check every option against ``CONSTRAINTS`` (``ParamError`` on the first that
        fails); return self, so ``PipelineOptions(...).validate()`` reads as one step."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        validate_params(values, constraints())
        for capacity in self.capacities:
            validate_params({"capacities": capacity}, {"capacities": CAPACITY})
        for name in ("only", "exclude"):
            chosen = getattr(self, name)
            if chosen is not None and not chosen:
                raise ParamError(param=name, value=list(chosen),
                                 reason="names no device; give at least one id")
        return self

    @classmethod
    def from_kwargs(cls, base: PipelineOptions | None = None,
                    **values: object) -> PipelineOptions:
        """``base`` (default: the defaults) with the keyword arguments, spelled as
        ``run_pipeline``'s were (lists for tuples, text for paths, None for no mapping)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            msg = f"unknown pipeline option {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            raise TypeError(msg)
        out: dict[str, object] = {f.name: getattr(base or cls(), f.name) for f in fields(cls)}
        for name, value in values.items():
            if name == "model_map":
                value = dict(value or {})  # type: ignore[call-overload]
            elif name in _TUPLES and value is not None:
                value = tuple(cast("Iterable[object]", value))
            elif name in ("config", "catalog", "profile") and value is not None:
                value = Path(value)  # type: ignore[arg-type]
            elif name in ("only", "exclude") and value is not None:
                value = tuple(cast("Iterable[object]", value)) or None
            out[name] = value
        return cls(**out)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        """The options as JSON-ready values (paths as text)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


_TUPLES = ("capacities", "prices", "slos")
CAPACITY: list[Constraint] = [Interval(int, 1, None, closed="left")]


def constraints() -> dict[str, list[Constraint]]:
    """Each option's declared constraints (the choices come from the modules owning them)."""
    from tracelab.hardware.catalog import PRECISIONS
    from tracelab.ingest.formats import FORMATS
    from tracelab.plan.commit import TERMS
    from tracelab.plan.demand import BY_CHOICES
    from tracelab.plan.schedule import SCHEDULE_CHOICES

    return {
        "format": [None, Options(tuple(FORMATS))],
        "precision": [Options(PRECISIONS)],
        "by": [Options(BY_CHOICES)],
        "commitment": [Options(TERMS)],
        "schedule": [Options(SCHEDULE_CHOICES)],
        **CONSTRAINTS,
    }


CONSTRAINTS: dict[str, list[Constraint]] = {
    "k": [None, Interval(int, 1, MAX_K)],
    "random_state": [Interval(int, 0, MAX_RANDOM_STATE)],
    "cache_capacity": [None, Interval(int, 0, None, closed="left")],
    "sample_rate": [None, Interval(float, 0, 1, closed="right")],
    "percentile": [Interval(float, 0, 100)],
    "growth": [Interval(float, 0, None, closed="neither")],
    "window_s": [Interval(float, 0, None, closed="neither")],
    "max_device_types": [Interval(int, 1, None)],
    "max_pools": [None, Interval(int, 1, None)],
    "attainment": [Interval(float, 0, 1, closed="right")],
    "schedule_floor": [Interval(int, 0, None, closed="left")],
}

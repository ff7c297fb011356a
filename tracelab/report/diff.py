"""Compare two summaries: the named metrics a diff shows and a gate can test.

A metric is a number read from ``summary.json``: ``usd_per_mtok``, ``requests``,
``cache_reuse``, ``share(interactive)`` (share of requests with that label value; write
``share(label_mode=unknown)`` when a value exists on two axes), ``token_share(...)``,
``devices(h100-sxm)`` (devices of that type in the recommended fleet) and the others in
:data:`METRICS`. Shares are fractions (0..1); their changes are shown in percentage points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tracelab.errors import ConfigError
from tracelab.labels.axes import label_columns, label_values
from tracelab.report.summary_types import (
    ArrivalsSection,
    CacheSection,
    PlanSection,
    Summary,
    WorkloadSection,
)

# The label vocabulary is ``tracelab.labels.axes``: a share of a value absent from a trace is 0.
Reader = Callable[[Summary], float | None]


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _plan(read: Callable[[PlanSection], float | None]) -> Reader:
    """A plan metric: None when the summary has no plan."""
    return lambda s: None if s["plan"] is None else _number(read(s["plan"]))


def _cache(read: Callable[[CacheSection], float | None]) -> Reader:
    """A cache metric: None when the summary has no cache section."""
    return lambda s: None if s["cache"] is None else _number(read(s["cache"]))


def _workload(read: Callable[[WorkloadSection], float | None]) -> Reader:
    return lambda s: _number(read(s["workload"]))


def _arrivals(read: Callable[[ArrivalsSection], float | None]) -> Reader:
    return lambda s: _number(read(s["arrivals"]))


def _p50(column: str) -> Reader:
    """The median length of ``column``; None when the trace has no such length."""
    def read(s: Summary) -> float | None:
        stats = s["workload"]["lengths"].get(column)
        return None if stats is None else _number(stats["p50"])

    return read


@dataclass(frozen=True)
class Metric:
    name: str
    read: Reader
    is_share: bool = False
    unit: str = ""
    help: str = ""


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("usd_per_mtok", _plan(lambda p: p["usd_per_mtok"]), unit="$",
               help="$ per 1M tokens"),
        Metric("usd_per_hour", _plan(lambda p: p["usd_per_hour"]), unit="$", help="fleet $/hour"),
        Metric("idle_usd", _plan(lambda p: p["idle_usd"]), unit="$",
               help="fleet $ no request used"),
        Metric("savings_vs_h100", _plan(lambda p: p["savings"].get("h100")), True,
               help="saving against all-H100"),
        Metric("savings_vs_best_single", _plan(lambda p: p["savings"].get("best_single")), True,
               help="saving against the best single device type"),
        Metric("fleet_devices", lambda s: _fleet_devices(s, None), help="devices in the fleet"),
        Metric("requests", _workload(lambda w: w["requests"]), help="requests"),
        Metric("input_tokens", _workload(lambda w: w["tokens"]["input_tokens"]),
               help="input tokens"),
        Metric("output_tokens", _workload(lambda w: w["tokens"]["output_tokens"]),
               help="output tokens"),
        Metric("total_tokens", _workload(lambda w: w["tokens"]["total_tokens"]),
               help="all tokens"),
        Metric("cached_input_tokens", _workload(lambda w: w["tokens"].get("cached_input_tokens")),
               help="cached input tokens"),
        Metric("input_p50", _p50("input_tokens"), help="median input tokens"),
        Metric("output_p50", _p50("output_tokens"), help="median output tokens"),
        Metric("prefill_work_share", _workload(lambda w: w["prefill_work_share"]), True,
               help="prefill share of device-time"),
        Metric("cache_reuse", _cache(lambda c: c["reuse_ratio_infinite"]), True,
               help="infinite-cache reuse ratio"),
        Metric("cache_hit_tokens", _cache(lambda c: c["hit_tokens"]),
               help="prompt tokens hit in cache"),
        Metric("burstiness", _arrivals(lambda a: a["interarrival_cv"]),
               help="inter-arrival coefficient of variation"),
        Metric("dispersion", _arrivals(lambda a: a["index_of_dispersion"]),
               help="index of dispersion of per-window counts"),
        Metric("rate_mean", _arrivals(lambda a: a["requests_per_s_mean"]),
               help="requests/s, mean"),
        Metric("rate_p95", _arrivals(lambda a: a["requests_per_s_p95"]),
               help="requests/s, p95 window"),
    )
}
_CALL = re.compile(r"^(?P<fn>share|token_share|devices)\((?P<arg>[^()]*)\)$")


def _fleet_devices(summary: Summary, device: str | None) -> float | None:
    plan = summary["plan"]
    if not plan:
        return None
    return float(sum(f["devices"] for f in plan["fleet"]
                     if device is None or f["device_id"] == device))


def _label_share(summary: Summary, axis: str, value: str, by_tokens: bool) -> float:
    for row in summary["labels"].get(axis, []):
        if row["value"] == value:
            return float((row["share_tokens"] if by_tokens else row["share_requests"]) or 0.0)
    return 0.0


def _axes_with(value: str, summaries: tuple[Summary, ...]) -> list[str]:
    found = {axis for axis, values in label_values().items() if value in values}
    for summary in summaries:
        for axis, rows in summary["labels"].items():
            if any(r["value"] == value for r in rows):
                found.add(axis)
    return sorted(found)


def resolve_metric(name: str, *summaries: Summary) -> Metric:
    """The metric called ``name``; ConfigError naming it and the known metrics if unknown."""
    name = name.strip()
    if name in METRICS:
        return METRICS[name]
    call = _CALL.match(name)
    if call is None:
        names = ", ".join([*METRICS, "share(LABEL)", "token_share(LABEL)", "devices(DEVICE)"])
        msg = f"unknown metric {name!r}; known metrics: {names}"
        raise ConfigError(msg)
    fn, arg = call["fn"], call["arg"].strip()
    if fn == "devices":
        return Metric(name, lambda s: _fleet_devices(s, arg), help=f"{arg} devices in the fleet")
    axis, _, value = arg.rpartition("=")
    if axis:
        axis = axis if axis.startswith("label_") else f"label_{axis}"
        if axis not in label_columns():
            msg = f"unknown label axis {axis!r} in {name!r}; axes: {', '.join(label_columns())}"
            raise ConfigError(msg)
    else:
        axes = _axes_with(value, summaries)
        if not axes:
            vocabulary = sorted({v for vs in label_values().values() for v in vs})
            msg = f"unknown label {value!r} in {name!r}; labels: {', '.join(vocabulary)}"
            raise ConfigError(msg)
        if len(axes) > 1:
            choices = " or ".join(f"{fn}({a.removeprefix('label_')}={value})" for a in axes)
            msg = f"label {value!r} in {name!r} is on several axes; write {choices}"
            raise ConfigError(msg)
        axis = axes[0]
    by_tokens = fn == "token_share"
    what = "tokens" if by_tokens else "requests"
    return Metric(name, lambda s: _label_share(s, axis, value, by_tokens), True,
                  help=f"share of {what} labelled {axis.removeprefix('label_')}={value}")


@dataclass(frozen=True)
class Shift:
    """One metric in both summaries and how it moved."""

    metric: Metric
    base: float | None
    current: float | None

    @property
    def change(self) -> float | None:
        """Absolute change (current − base); for shares, a fraction (×100 = points)."""
        if self.base is None or self.current is None:
            return None
        return self.current - self.base

    @property
    def relative(self) -> float | None:
        """Relative change (current − base) / |base|; ±inf when base is 0 and current is not."""
        if self.base is None or self.current is None:
            return None
        if self.base == 0:
            return 0.0 if self.current == 0 else float("inf") * (1 if self.current > 0 else -1)
        return (self.current - self.base) / abs(self.base)


def _label_metrics(*summaries: Summary) -> list[str]:
    names = []
    for axis in label_columns():
        values = sorted({r["value"] for s in summaries for r in s["labels"].get(axis, [])})
        names += [f"share({axis.removeprefix('label_')}={v})" for v in values]
    return names


def compute_shifts(base: Summary, current: Summary) -> dict[str, list[Shift]]:
    """The diff's sections: metric shifts grouped as a person reads them."""
    devices = sorted({f["device_id"] for s in (base, current)
                      for f in (s["plan"]["fleet"] if s["plan"] else [])})
    groups = {
        "cost": ["usd_per_mtok", "usd_per_hour", "savings_vs_h100", "savings_vs_best_single",
                 "idle_usd"],
        "fleet": ["fleet_devices", *(f"devices({d})" for d in devices)],
        "tokens": ["requests", "input_tokens", "output_tokens", "total_tokens",
                   "cached_input_tokens", "input_p50", "output_p50", "prefill_work_share"],
        "labels": _label_metrics(base, current),
        "cache": ["cache_reuse", "cache_hit_tokens"],
        "arrivals": ["rate_mean", "rate_p95", "burstiness", "dispersion"],
    }
    out: dict[str, list[Shift]] = {}
    for group, names in groups.items():
        metrics = [resolve_metric(n, base, current) for n in names]
        out[group] = [Shift(m, m.read(base), m.read(current)) for m in metrics]
    return out

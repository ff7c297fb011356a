"""``summary.json``: the report's numbers, derived from merged aggregates, deterministic.

:func:`finalize_summary` turns the counts and sums of ``tracelab.report.aggregate`` (plus the
plan, cache and assumption sections the pipeline adds) into shares, quantiles and rates.
:func:`dump_summary` writes it with sorted keys and floats rounded to 6 significant digits,
so the same input gives the same bytes except under the wall-clock keys ``generated_at`` and
``elapsed_s`` (drop them to compare runs). The layout is documented in
``schemas/summary.schema.json``; :func:`validate_summary` checks it.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from tracelab.errors import InputFileError
from tracelab.ingest.timebase import covered_windows
from tracelab.labels.axes import label_columns
from tracelab.report.histogram import BINS_PER_DECADE, histogram_quantile
from tracelab.report.summary_types import (
    ArrivalsSection,
    AssumptionsSection,
    CacheSection,
    ClusterRow,
    InputSection,
    JSONValue,
    LabelRow,
    LengthStats,
    PlanSection,
    Summary,
    TimelineSection,
    WorkSeconds,
)

SUMMARY_KIND = "tracelab-summary"
SCHEMA_VERSION = 1
WALL_CLOCK_KEYS = ("generated_at", "elapsed_s")
SIGNIFICANT_DIGITS = 6
_US = 1_000_000


def round_sig(value: float, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """``value`` rounded to ``digits`` significant digits; NaN/inf become None (JSON null)."""
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def canonicalize(obj: object) -> JSONValue:
    """Round every float, turn tuples into lists and keys into strings (recursively)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, float):
        return round_sig(obj)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): canonicalize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [canonicalize(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return canonicalize(obj.item())
    return str(obj)


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / _US, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lengths(hists: Mapping[str, Mapping[str, int]],
             totals: Mapping[str, Any]) -> dict[str, LengthStats]:
    out: dict[str, LengthStats] = {}
    for column, hist in sorted(hists.items()):
        count = sum(hist.values())
        low, high = totals.get(f"{column}_min"), totals.get(f"{column}_max")
        out[column] = {
            "count": count,
            "mean": totals[column] / count if count else None,
            "p50": histogram_quantile(hist, 0.50, low, high),
            "p90": histogram_quantile(hist, 0.90, low, high),
            "p99": histogram_quantile(hist, 0.99, low, high),
            "histogram": {
                "bins_per_decade": BINS_PER_DECADE,
                "buckets": [[int(k), n] for k, n in sorted(hist.items(), key=lambda i: int(i[0]))],
            },
        }
    return out


def _mix_rows(mix: Mapping[str, Mapping[str, Any]]) -> list[LabelRow]:
    totals = {k: sum(v[k] for v in mix.values()) for k in ("requests", "tokens", "work_s")}
    rows: list[LabelRow] = []
    for value, m in sorted(mix.items()):
        rows.append(
            {
                "value": value,
                "requests": m["requests"],
                "tokens": m["tokens"],
                "work_s": float(m["work_s"]),
                "share_requests": _share(m["requests"], totals["requests"]),
                "share_tokens": _share(m["tokens"], totals["tokens"]),
                "share_work": _share(m["work_s"], totals["work_s"]),
            }
        )
    return rows


def _clusters(clusters: Mapping[str, Mapping[str, Any]]) -> list[ClusterRow]:
    rows: list[ClusterRow] = []
    for mix in _mix_rows(clusters):
        key = mix["value"]
        rows.append({
            "requests": mix["requests"], "tokens": mix["tokens"], "work_s": mix["work_s"],
            "share_requests": mix["share_requests"], "share_tokens": mix["share_tokens"],
            "share_work": mix["share_work"],
            "cluster": None if key == "none" else int(key),
            "name": clusters[key]["name"] if key != "none" else "unclustered",
        })
    return sorted(rows, key=lambda r: (r["cluster"] is None, r["cluster"] or 0))


def _dense(counts: Mapping[str, int], start: int, n: int) -> list[int]:
    out = [0] * n
    for key, value in counts.items():
        out[int(key) - start] = value
    return out


def _timeline(timeline: Mapping[str, Any]) -> TimelineSection:
    keys = [int(k) for k in timeline["requests"]]
    if not keys:
        return {"bucket_s": timeline["bucket_s"], "start": None, "requests": [], "tokens": [],
                "series": {}}
    start, n = min(keys), max(keys) - min(keys) + 1
    return {
        "bucket_s": timeline["bucket_s"],
        "start": _iso(start * timeline["bucket_s"] * _US),
        "requests": _dense(timeline["requests"], start, n),
        "tokens": _dense(timeline["tokens"], start, n),
        "series": {
            axis: {value: _dense(c, start, n) for value, c in sorted(per_value.items())}
            for axis, per_value in sorted(timeline["series"].items())
        },
    }


def _arrivals(arr: Mapping[str, Any], spans: Sequence[tuple[int, int]] = ()) -> ArrivalsSection:
    """Rates and burstiness from the merged arrival aggregates; ``spans``: the stretches the
    input files cover (µs), whose windows alone count (default: first to last window)."""
    window_s = float(arr["window_s"])
    if not arr["window_counts"]:  # no request has an arrival time: no rate is known
        return {"window_s": window_s, "windows": 0, "requests_per_s_mean": None,
                "requests_per_s_p95": None, "requests_per_s_max": None,
                "interarrival_mean_s": None, "interarrival_cv": None,
                "index_of_dispersion": None}
    n_windows = arr["window_max"] - arr["window_min"] + 1
    if len(spans) > 1:  # logs apart: the windows between them were not observed
        n_windows = max(covered_windows(spans, window_s * _US),
                        sum(arr["window_counts"].values()))  # at least the busy ones
    hist = {int(k): v for k, v in arr["window_counts"].items()}
    hist[0] = hist.get(0, 0) + n_windows - sum(hist.values())
    counts = sorted(hist.items())
    total = sum(c * w for c, w in counts)
    mean = total / n_windows
    var = sum(w * (c - mean) ** 2 for c, w in counts) / n_windows
    seen, p95 = 0, 0
    for c, w in counts:
        seen += w
        if seen >= 0.95 * n_windows:
            p95 = c
            break
    # Every arrival lies in a stretch, so the time between two stretches is one gap between
    # consecutive arrivals: not an inter-arrival time, and left out (an 8 h gap among 7,855
    # requests put the sample folder's CV at 75.9).
    unlogged = [(b[0] - a[1]) / _US for a, b in itertools.pairwise(spans)]
    gap_n = arr["gap_n"] - len(unlogged)
    gap_sum = arr["gap_sum_s"] - math.fsum(unlogged)
    gap_sumsq = arr["gap_sumsq_s2"] - math.fsum(g * g for g in unlogged)
    gap_mean = gap_sum / gap_n if gap_n > 0 else None
    cv = None
    if gap_n > 1 and gap_mean:
        gap_var = max(gap_sumsq / gap_n - gap_mean**2, 0.0)
        cv = math.sqrt(gap_var) / gap_mean
    return {
        "window_s": window_s,
        "windows": n_windows,
        "requests_per_s_mean": mean / window_s,
        "requests_per_s_p95": p95 / window_s,
        "requests_per_s_max": counts[-1][0] / window_s,
        "interarrival_mean_s": gap_mean,
        "interarrival_cv": cv,
        "index_of_dispersion": var / mean if mean else None,
    }


def finalize_summary(
    aggregates: Mapping[str, object],
    *,
    inputs: InputSection,
    assumptions: AssumptionsSection,
    time_note: str | None = None,
    spans: Sequence[tuple[int, int]] = (),
    plan: PlanSection | None = None,
    cache: CacheSection | None = None,
    generated_at: str | None = None,
    elapsed_s: float | None = None,
    version: str = "",
) -> Summary:
    """The summary (not yet rounded: :func:`dump_summary` rounds) from merged aggregates
    (``tracelab.report.aggregate``: a dict of counts and sums that module documents) and the
    other stages' sections (``tracelab.report.stages``); ``time_note``: how the input's time
    bases were handled, one line (``tracelab.ingest.timebase.describe``); ``spans``: the
    stretches of time the input files cover (``TimeBases.spans``), the windows the arrival
    rates count."""
    merged = cast("Mapping[str, Any]", aggregates)
    span = merged["span"]
    totals = dict(merged["totals"])
    lo, hi = span["arrival_us_min"], span["arrival_us_max"]
    bases = sorted(span["time_bases"])
    tokens = {
        name: totals[name] if totals.get(f"{name}_known", 1) else None
        for name in totals if name.endswith("_tokens")
    }
    tokens["total_tokens"] = (tokens["input_tokens"] or 0) + (tokens["output_tokens"] or 0)
    work: WorkSeconds = {"prefill_s": float(totals["prefill_device_s"]),
            "decode_s": float(totals["decode_device_s"])}
    labels = merged["labels"]
    return {
        "kind": SUMMARY_KIND,
        "schema_version": SCHEMA_VERSION,
        "tracelab_version": version,
        "generated_at": generated_at,
        "elapsed_s": elapsed_s,
        "input": inputs,
        "time": {
            "time_base": bases[0] if len(bases) == 1 else ("mixed" if bases else None),
            "start": _iso(lo),
            "end": _iso(hi),
            "span_s": (hi - lo) / _US if lo is not None else 0.0,
            "note": time_note,
        },
        "workload": {
            "requests": totals["requests"],
            "status": dict(sorted(totals["status"].items())),
            "tokens": tokens,
            "work_s": work,
            "prefill_work_share": _share(work["prefill_s"], work["prefill_s"] + work["decode_s"]),
            "lengths": _lengths(merged["lengths"], totals),
        },
        "arrivals": _arrivals(merged["arrivals"], spans),
        "labels": {axis: _mix_rows(labels[axis]) for axis in label_columns() if axis in labels},
        "clusters": _clusters(merged["clusters"]),
        "models": [
            {"model": name, "model_id": m["model_id"], "match": m["match"],
             "requests": m["requests"]}
            for name, m in sorted(merged["models"].items())
        ],
        "timeline": _timeline(merged["timeline"]),
        "cache": cache,
        "plan": plan,
        "assumptions": assumptions,
    }


def dump_summary(summary: Mapping[str, object]) -> str:
    """Deterministic JSON text: sorted keys, floats at 6 significant digits, 2-space indent."""
    return json.dumps(canonicalize(summary), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def drop_wall_clock(summary: Mapping[str, object]) -> dict[str, object]:
    """The summary without ``generated_at`` and ``elapsed_s`` (for comparing runs)."""
    return {k: v for k, v in summary.items() if k not in WALL_CLOCK_KEYS}


def validate_summary(summary: Mapping[str, object], source: str = "<summary>") -> None:
    """Check a summary against ``schemas/summary.schema.json``; InputFileError if it does not fit."""
    import jsonschema

    from tracelab.resources import schema_path

    schema = json.loads(schema_path("summary.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = next(iter(sorted(validator.iter_errors(summary), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        msg = (
            f"{source}: not a tracelab summary.json: at {where}: {error.message}; "
            "regenerate it with `tracelab report -o DIR`"
        )
        raise InputFileError(msg)


def is_summary_file(path: Path) -> bool:
    """True when ``path`` is a JSON file whose top-level ``kind`` is ``tracelab-summary``."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
        data = json.loads(head)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == SUMMARY_KIND


def claims_summary(path: Path) -> bool:
    """True for a file meant as a summary even when it is empty or cut short: named
    ``summary.json``, or a ``.json`` file whose first bytes name tracelab's summary kind."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    if path.name == "summary.json":
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    # A pretty-printed JSON document (its first line a lone "{"), not JSON Lines.
    return f'"kind": "{SUMMARY_KIND}"'.encode() in head or head.split(b"\n", 1)[0].strip() == b"{"


def read_summary(path: Path) -> Summary:
    """Load and validate a ``summary.json``; InputFileError naming the file when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            msg = (f"{path}: the summary is empty (cut short while it was written?); "
                   "regenerate it with `tracelab report -o DIR`")
            raise InputFileError(msg)
        data = json.loads(text)
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}; check the path"
        raise InputFileError(msg) from None
    except ValueError as exc:
        position = getattr(exc, "pos", 0)
        cut = (" (the file ends early: truncated?)"
               if position >= len(text.rstrip()) - 1 or "Unterminated" in str(exc) else "")
        msg = (f"{path}: the summary is not valid JSON{cut} ({exc}); regenerate it with "
               "`tracelab report -o DIR`")
        raise InputFileError(msg) from None
    if not isinstance(data, dict) or data.get("kind") != SUMMARY_KIND:
        msg = (
            f"{path}: not a tracelab summary.json (no \"kind\": \"{SUMMARY_KIND}\"); "
            "pass a trace or a summary.json written by `tracelab report`"
        )
        raise InputFileError(msg)
    validate_summary(data, str(path))
    return cast("Summary", data)  # the schema holds what the type says (a test checks)

"""A mergeable log-bucket histogram: quantiles within 1% relative error without a sort.

The DDSketch mapping (Masson, Rim & Lee, "DDSketch: A Fast and Fully-Mergeable Quantile
Sketch with Relative-Error Guarantees", VLDB 2019): with ``γ = (1 + α) / (1 - α)``, a positive
value ``x`` goes to bucket ``i = ceil(log(x) / log(γ))``, which covers ``(γ^(i-1), γ^i]``.
The bucket's representative ``2·γ^i / (γ + 1)`` is within ``α`` (relative) of every value in
it, so any quantile read from the counts is within ``α`` of the exact value of the same rank.
Negative values use the same mapping on ``|x|``; zeros are counted apart; nulls and NaN are
skipped. Counts are exact integers, so merging is exact, associative and commutative.

Bucket indices are computed by polars expressions (one ``group_by`` per column), never a
Python loop over rows. A 1%-sketch of values spanning 1 to 10^9 has at most ~1,040 buckets.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracelab.errors import ConfigError
from tracelab.streaming import collect_all

DEFAULT_ALPHA = 0.01


def _gamma(alpha: float) -> float:
    return (1 + alpha) / (1 - alpha)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        msg = f"sketch relative accuracy alpha={alpha!r} must be in (0, 1); use e.g. 0.01"
        raise ConfigError(msg)


def compute_bucket_counts(
    frame: pl.LazyFrame, column: str, *, alpha: float = DEFAULT_ALPHA, by: Iterable[str] = ()
) -> pl.LazyFrame:
    """Per (``by``…, ``sign``, ``bucket``) row counts of ``column``: the sketch as a frame.

    ``sign`` is 1, -1 or 0 (zero values; ``bucket`` 0); nulls and NaN are dropped.
    """
    _check_alpha(alpha)
    keys = list(by)
    value = pl.col(column).cast(pl.Float64)
    log_gamma = math.log(_gamma(alpha))
    return (
        frame.select(*keys, value.alias("_v"))
        .filter(pl.col("_v").is_not_null() & pl.col("_v").is_not_nan())
        .select(
            *keys,
            pl.col("_v").sign().cast(pl.Int8).alias("sign"),
            pl.when(pl.col("_v") == 0)
            .then(0)
            .otherwise((pl.col("_v").abs().log() / log_gamma).ceil())
            .cast(pl.Int32)
            .alias("bucket"),
        )
        .group_by(*keys, "sign", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .sort(*keys, "sign", "bucket")
    )


def bucket_value(bucket: pl.Expr, sign: pl.Expr, alpha: float = DEFAULT_ALPHA) -> pl.Expr:
    """The representative value of a (``sign``, ``bucket``) of ``compute_bucket_counts``
    (``LogHistogram``'s rule, as an expression): within ``alpha`` of every value in it."""
    gamma = _gamma(alpha)
    value = 2 * pl.lit(gamma).pow(bucket.cast(pl.Float64)) / (gamma + 1)
    return pl.when(sign == 0).then(0.0).otherwise(sign.cast(pl.Float64) * value)


@dataclass(frozen=True)
class LogHistogram:
    """Counts per log bucket (see module docstring); ``alpha`` is the relative accuracy."""

    alpha: float = DEFAULT_ALPHA
    positive: Mapping[int, int] = field(default_factory=dict)
    negative: Mapping[int, int] = field(default_factory=dict)
    zero: int = 0

    @classmethod
    def from_counts(cls, counts: pl.DataFrame, alpha: float = DEFAULT_ALPHA) -> LogHistogram:
        """From a ``compute_bucket_counts`` result (one group: ``sign``, ``bucket``, ``count``)."""
        rows = counts.select("sign", "bucket", "count").rows()
        return cls(
            alpha=alpha,
            positive={int(b): int(n) for s, b, n in rows if s > 0},
            negative={int(b): int(n) for s, b, n in rows if s < 0},
            zero=sum(int(n) for s, _, n in rows if s == 0),
        )

    @classmethod
    def from_series(cls, values: pl.Series, alpha: float = DEFAULT_ALPHA) -> LogHistogram:
        frame = values.alias("x").to_frame().lazy()
        return cls.from_counts(compute_bucket_counts(frame, "x", alpha=alpha).collect(), alpha)

    @classmethod
    def from_frame(
        cls, frame: pl.LazyFrame | pl.DataFrame, column: str, alpha: float = DEFAULT_ALPHA
    ) -> LogHistogram:
        counts = compute_bucket_counts(frame.lazy(), column, alpha=alpha).collect(engine="streaming")
        return cls.from_counts(counts, alpha)

    @property
    def count(self) -> int:
        return self.zero + sum(self.positive.values()) + sum(self.negative.values())

    def merge(self, other: LogHistogram) -> LogHistogram:
        """The sketch of both inputs' values together (exact: counts add)."""
        if other.alpha != self.alpha:
            msg = (f"cannot merge sketches of alpha {self.alpha} and {other.alpha}; "
                   "build every partition's sketch with the same alpha")
            raise ConfigError(msg)
        return LogHistogram(
            self.alpha,
            dict(Counter(self.positive) + Counter(other.positive)),
            dict(Counter(self.negative) + Counter(other.negative)),
            self.zero + other.zero,
        )

    def _value(self, bucket: int) -> float:
        gamma = _gamma(self.alpha)
        return 2 * gamma**bucket / (gamma + 1)

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q·(n-1))`` (polars' ``"lower"``) within ``alpha``; None if empty."""
        if not 0 <= q <= 1:
            msg = f"quantile q={q!r} must be between 0 and 1"
            raise ConfigError(msg)
        n = self.count
        if n == 0:
            return None
        rank = math.floor(q * (n - 1))
        seen = 0
        for bucket in sorted(self.negative, reverse=True):
            seen += self.negative[bucket]
            if seen > rank:
                return -self._value(bucket)
        seen += self.zero
        if seen > rank:
            return 0.0
        for bucket in sorted(self.positive):
            seen += self.positive[bucket]
            if seen > rank:
                return self._value(bucket)
        return self._value(max(self.positive))  # unreachable: seen == n > rank

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with sorted keys (bucket indices as strings)."""
        return {
            "alpha": self.alpha,
            "zero": self.zero,
            "positive": {str(b): self.positive[b] for b in sorted(self.positive)},
            "negative": {str(b): self.negative[b] for b in sorted(self.negative)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> LogHistogram:
        raw = json.loads(data) if isinstance(data, str) else data
        try:
            return cls(
                alpha=float(raw["alpha"]),
                positive={int(b): int(n) for b, n in raw.get("positive", {}).items()},
                negative={int(b): int(n) for b, n in raw.get("negative", {}).items()},
                zero=int(raw.get("zero", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"not a tracelab sketch ({exc!r}); expected keys alpha, zero, positive, negative"
            raise ConfigError(msg) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))


def read_sketches(
    frame: pl.LazyFrame | pl.DataFrame,
    columns: Iterable[str],
    *,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, LogHistogram]:
    """One sketch per column of ``frame`` (``tracelab.streaming.collect_all``)."""
    names = list(columns)
    lazy = frame.lazy()
    plans = [compute_bucket_counts(lazy, c, alpha=alpha) for c in names]
    counts = collect_all(plans) if plans else []
    return {c: LogHistogram.from_counts(df, alpha) for c, df in zip(names, counts, strict=True)}


def merge_sketches(parts: Iterable[Mapping[str, LogHistogram]]) -> dict[str, LogHistogram]:
    """Merge per-partition ``{column: sketch}`` dicts, in the order given."""
    out: dict[str, LogHistogram] = {}
    for part in parts:
        for name, sketch in part.items():
            out[name] = out[name].merge(sketch) if name in out else sketch
    return out

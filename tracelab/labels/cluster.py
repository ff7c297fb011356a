"""Workload clusters: k-means on standardised log-features, with a scikit-learn contract.

Fitting uses a bounded sample (``sample_size`` rows with the smallest hash of request_id, or
of the row's content where the id is ingest's FILE:ROW fallback: ``tracelab.rowkey``; so
the sample depends neither on row order nor on a file's name, and a 10M-row trace never
enters the fit; only the
columns the fit and the names need are collected, with polars' streaming engine). k comes
from the silhouette (``k_range``) unless given: the k-means fits for every candidate k run on
the first ``SILHOUETTE_SAMPLE`` rows of that hash-ordered sample, and only the chosen k is
then fitted on the whole sample. Clusters are then numbered by
sorting the centroids lexicographically in original units (prefill tokens, decode tokens,
prefill work share), so numbers and names do not depend on row order or k-means' own
numbering. Every row is assigned with a polars expression (nearest centroid).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from tracelab.labels.axes import UNKNOWN, cluster_name_columns
from tracelab.labels.cluster_io import cluster_model_from_json, cluster_model_to_json
from tracelab.lookup import lookup
from tracelab.rowkey import row_key

# (column, transform) in fit order; "log" = log1p of a non-negative count.
CLUSTER_FEATURES: tuple[tuple[str, str], ...] = (
    ("prefill_tokens", "log"),
    ("decode_tokens", "log"),
    ("prefill_work_share", "identity"),
)
PROFILE_COLUMNS = (
    "prefill_tokens", "decode_tokens", "context_tokens", "prefill_work_share",
    "prefill_device_s", "decode_device_s",
)
SILHOUETTE_SAMPLE = 2_000
# The sample's hash threshold lets this many times the sample size through (see _sample).
SAMPLE_HEADROOM = 4
HASH_VALUES = 2**64 - 1
# k-means and silhouettes on ≤ 20k rows of 3 features run single-threaded: OpenMP's thread
# team costs more than it saves at this size, and on a busy 2-core machine its spinning made
# the silhouette search 15x slower (6.9 s vs 0.45 s measured on 20k rows).
FIT_THREADS = 1
# k-means restarts (deterministic: seeded by random_state); 3 features, so few are needed.
N_INIT = 4
# Parsimony: the smallest k whose silhouette is within this of the best k's is chosen
# (silhouettes of neighbouring k often differ in the third decimal on continuous data).
SILHOUETTE_TOLERANCE = 0.01


def _transformed() -> list[pl.Expr]:
    return [
        (pl.col(name).cast(pl.Float64).log1p() if how == "log" else pl.col(name).cast(pl.Float64))
        .alias(name)
        for name, how in CLUSTER_FEATURES
    ]


def _inverse(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for j, (_, how) in enumerate(CLUSTER_FEATURES):
        if how == "log":
            out[:, j] = np.expm1(out[:, j])
    return out


class WorkloadClusterer:
    """k-means workload clusters (scikit-learn estimator contract: settings in ``__init__``,
    ``fit`` returns self, fitted attributes end in ``_``)."""

    def __init__(
        self,
        k: int | None = None,
        k_range: tuple[int, int] = (2, 8),
        sample_size: int = 20_000,
        random_state: int = 0,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.sample_size = sample_size
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------
    def _sample(self, labeled: pl.LazyFrame) -> pl.DataFrame:
        """The ``sample_size`` rows with complete features and the smallest ``row_key`` hash
        (``_h``; ties by a second hash, ``_t``), in hash order, with only the columns
        fitting and naming need.

        Sorting every row's hash held the whole trace (1.2 GiB and 13 s at 40M rows), so
        rows are first kept only below a hash threshold expected to pass ~4x the sample
        (hashes are uniform over 64 bits); the threshold grows until enough pass. The rows
        kept are exactly those a full sort would pick; a frame of samples (``_h``, ``_t``:
        partitions' candidates, ``tracelab.scale``) is sampled again by those. The request_id
        strings themselves are not kept: a filtered string column kept every input batch's
        string buffer alive (1.5 GiB at 100M requests).
        """
        names = [name for name, _ in CLUSTER_FEATURES]
        needed = list(dict.fromkeys([*names, *cluster_name_columns(), *PROFILE_COLUMNS]))
        complete = pl.all_horizontal(pl.col(n).is_not_null() for n in names)
        columns = labeled.collect_schema().names()
        if "_h" in columns:  # candidates sampled already (partitions)
            hashed, tie = pl.col("_h"), pl.col("_t")
        else:  # by request, never by file name (``tracelab.rowkey``)
            hashed = row_key(columns, seed=self.random_state)
            tie = row_key(columns, seed=self.random_state + 1)
        rows = int(labeled.select(pl.len()).collect().item())
        share = SAMPLE_HEADROOM * self.sample_size / max(rows, 1)
        while True:
            keep = complete
            if share < 1:
                # Filter on the expression, not on a column added first: polars 2.1's
                # streaming engine held every row for the latter (1.6 GiB at 60M rows).
                keep = complete & (hashed <= pl.lit(int(share * HASH_VALUES), dtype=pl.UInt64))
            sample = (labeled.filter(keep).select(*needed, hashed.alias("_h"), tie.alias("_t"))
                      .sort(["_h", "_t"]).head(self.sample_size)
                      .collect(engine="streaming"))
            if sample.height >= self.sample_size or share >= 1:
                return sample
            share *= SAMPLE_HEADROOM

    def _choose_k(self, x: np.ndarray) -> int:
        """k given (capped by the distinct points), else the parsimonious silhouette best over
        ``k_range`` on the first SILHOUETTE_SAMPLE rows of ``x`` (hash order: no row-order
        dependence)."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        if self.k is not None:
            return max(1, min(self.k, len(np.unique(x.round(9), axis=0))))
        sub = x[:SILHOUETTE_SAMPLE]
        distinct = len(np.unique(sub.round(9), axis=0))
        low, high = self.k_range
        # The silhouette needs 2 <= k <= distinct points - 1; with fewer than 3 distinct
        # points each is its own cluster (no score to compare).
        high = min(high, distinct - 1)
        if high < 2 or high < low:
            return max(1, min(distinct, low))
        scores: dict[int, float] = {}
        for k in range(low, high + 1):
            model = KMeans(n_clusters=k, n_init=N_INIT, random_state=self.random_state).fit(sub)
            scores[k] = float(silhouette_score(sub, model.labels_))
        self.silhouette_: dict[int, float] = scores
        best = max(scores.values())
        return min(k for k, score in scores.items() if score >= best - SILHOUETTE_TOLERANCE)

    def fit(self, labeled: pl.LazyFrame | pl.DataFrame) -> WorkloadClusterer:
        """Fit on a hash-ordered sample of ``labeled`` (features + labels)."""
        # sklearn first: threadpool_limits limits only the thread pools already loaded, and
        # sklearn brings its own OpenMP runtime (left at 2 threads, the 2,000-row silhouette
        # search took 14 CPU-s instead of 0.2 on the 2-core reference machine).
        import importlib

        from threadpoolctl import threadpool_limits

        for name in ("sklearn.cluster", "sklearn.metrics"):
            importlib.import_module(name)
        sample = self._sample(labeled.lazy())
        with threadpool_limits(FIT_THREADS):
            return self._fit_sample(sample)

    def _fit_sample(self, sample: pl.DataFrame) -> WorkloadClusterer:
        from sklearn.cluster import KMeans

        if sample.height == 0:
            from tracelab.errors import TracelabError

            msg = "no request has token counts: nothing to cluster; check the trace's token columns"
            raise TracelabError(msg)
        raw = sample.select(_transformed()).to_numpy().astype(float)
        mean = raw.mean(axis=0)
        scale = raw.std(axis=0)
        scale[scale == 0] = 1.0
        x = (raw - mean) / scale
        self.silhouette_ = {}
        k = self._choose_k(x)
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=self.random_state).fit(x)
        centers = np.asarray(model.cluster_centers_)
        original = _inverse(centers * scale + mean)
        order = sorted(range(k), key=lambda i: tuple(np.round(original[i], 9)))
        remap = np.empty(k, dtype=np.int64)
        remap[order] = np.arange(k)
        self.k_ = k
        self.feature_names_ = [name for name, _ in CLUSTER_FEATURES]
        self.scaler_mean_ = mean.tolist()
        self.scaler_scale_ = scale.tolist()
        self.centers_ = centers[order].tolist()
        members = sample.with_columns(pl.Series("cluster", remap[model.labels_]))
        self.names_, self.profiles_ = _describe(members, k)
        return self

    # -- applying --------------------------------------------------------------------
    def assign(self, labeled: pl.LazyFrame) -> pl.LazyFrame:
        """Add ``cluster`` (int: the nearest centroid in standardised space, the first on a
        tie; null when a feature is null) and ``cluster_name`` (a Categorical) to every row.

        Each step is its own column (standardised features, distances, the smallest), so no
        expression repeats: polars' common-subexpression caching of the repeated distances
        raised a 40M-row group_by over the result from 0.7 to 2.3 GiB.
        """
        k = len(self.centers_)
        zs = [f"_cluster_z{j}" for j in range(len(self.feature_names_))]
        ds = [f"_cluster_d{i}" for i in range(k)]
        standardised = [
            ((expr - m) / s).alias(name)
            for expr, m, s, name in zip(_transformed(), self.scaler_mean_, self.scaler_scale_,
                                        zs, strict=True)
        ]
        distances = [
            pl.sum_horizontal([(pl.col(z) - c) ** 2 for z, c in zip(zs, center, strict=True)])
            .alias(name)
            for center, name in zip(self.centers_, ds, strict=True)
        ]
        complete = pl.all_horizontal(pl.col(n).is_not_null() for n in self.feature_names_)
        chosen: Any = pl.when(complete.not_()).then(pl.lit(None, dtype=pl.Int64))
        for index, name in enumerate(ds):
            chosen = chosen.when(pl.col(name) == pl.col("_cluster_min")).then(
                pl.lit(index, dtype=pl.Int64))
        return (
            labeled.with_columns(standardised)
            .with_columns(distances)
            .with_columns(pl.min_horizontal(ds).alias("_cluster_min"))
            .with_columns(chosen.otherwise(None).alias("cluster"))
            .drop([*zs, *ds, "_cluster_min"])
            .with_columns(lookup("cluster", enumerate(self.names_), pl.Categorical)
                          .alias("cluster_name"))
        )

    # -- persistence -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The fitted model as JSON-ready data (schemas/cluster-model.schema.json)."""
        return cluster_model_to_json(self)

    @classmethod
    def from_json(cls, data: Any, source: str = "<file>") -> WorkloadClusterer:
        """Rebuild a fitted clusterer from ``to_json`` data; ConfigError naming ``source``."""
        return cluster_model_from_json(cls, data, source)


def _tokens(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:,.0f}"


def _describe(members: pl.DataFrame, k: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Names and median profiles per cluster, from the sample.

    A name is the cluster's majority axis labels (axes whose majority is ``unknown`` are left
    out), its median prefill → decode tokens (so two clusters with the same labels still read
    differently) and its shares: "interactive · short · decode-heavy · small · 1,020 → 129
    tokens — 41% of requests, 12% of tokens".
    """
    total_req = members.height
    total_tok = float(members.get_column("context_tokens").sum() or 0) or 1.0
    names: list[str] = []
    profiles: list[dict[str, Any]] = []
    for i in range(k):  # k ≤ 8 clusters: a loop over clusters, not rows
        part = members.filter(pl.col("cluster") == i)
        labels = []
        for axis in cluster_name_columns():
            counts = (
                part.group_by(axis).len().drop_nulls(axis)
                .sort(["len", axis], descending=[True, False])
            )
            label = str(counts.item(0, axis)) if counts.height else UNKNOWN
            if label != UNKNOWN:
                labels.append(label)
        req = part.height / total_req
        tok = float(part.get_column("context_tokens").sum() or 0) / total_tok
        medians = part.select(pl.col(c).cast(pl.Float64).median() for c in PROFILE_COLUMNS).row(0)
        median = dict(zip(PROFILE_COLUMNS, medians, strict=True))
        shape = f"{_tokens(median['prefill_tokens'])} → {_tokens(median['decode_tokens'])} tokens"
        names.append(
            f"{' · '.join([*labels, shape])} — {req:.0%} of requests, {tok:.0%} of tokens"
        )
        profiles.append(
            {"cluster": i, "sample_requests": part.height, "request_share": req,
             "token_share": tok, **{f"median_{c}": v for c, v in median.items()}}
        )
    return names, profiles

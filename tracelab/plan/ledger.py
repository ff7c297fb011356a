"""The per-request ledger: which devices served each request, what it cost, and why.

Each request is charged the replica-seconds its phases use on its route's devices times
their price: ``prefill_usd = prefill tokens ÷ (tokens/s per prefill replica) × $/h ÷ 3600``,
and the same for decode (with the colocation stretch already in the decode rate). What the
fleet bought and no request used is ``idle_usd = fleet $/h × span_hours − Σ ledger $``, so
``Σ ledger $ + idle_usd = fleet $`` by construction and no cost is invented.

A class split across routes assigns each request by its ``tracelab.rowkey.row_key`` (the
logged ``request_id``, or the row's content where the id is ingest's ``FILE:ROW`` fallback)
against the cumulative route fractions: deterministic, independent of row order and of the
file's name. The simulator routes by the same number (``route_u``).

Once the plan is replayed (the verify stage), each replayed request also carries its
``replica`` and simulated ``queue_s``, ``ttft_s``, ``tpot_s``, ``e2e_s`` (``attach_replay``);
the other requests have nulls there and ``replay_note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

from tracelab.plan.demand import key_hash
from tracelab.plan.routes import Route, pool_id
from tracelab.rowkey import row_key

UNIT_SCALE = float(1 << 53)
UNPLANNED_REASON = (
    "not planned: the request's model is not in the model registry"
)


def compute_route_table(
    fractions: Mapping[str, Sequence[tuple[Route, float]]], reasons: Mapping[tuple[str, Route], str],
    scale: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """One row per (class, chosen route): cumulative bounds ``lo``/``hi`` in [0, 1) and the
    charge per token (USD) of each phase; ``scale`` (per pool id, default 1) multiplies a
    pool's price: what a running replica-hour of it cost under commitments."""
    scale = scale or {}
    rows = []
    for class_id in sorted(fractions):
        lo = 0.0
        chosen = sorted(fractions[class_id], key=lambda rz: rz[0].key)
        for i, (route, z) in enumerate(chosen):
            hi = 2.0 if i == len(chosen) - 1 else lo + z
            rows.append(
                {
                    "class_id": class_id,
                    "lo": lo,
                    "hi": hi,
                    "prefill_device": route.prefill_device,
                    "decode_device": route.decode_device,
                    "prefill_pool": pool_id(route.prefill_pool),
                    "decode_pool": pool_id(route.decode_pool),
                    "prefill_usd_per_token": route.prefill_usd_per_hour
                    * scale.get(pool_id(route.prefill_pool), 1.0)
                    / 3600.0
                    / route.prefill_tokens_per_s,
                    "decode_usd_per_token": route.decode_usd_per_hour
                    * scale.get(pool_id(route.decode_pool), 1.0)
                    / 3600.0
                    / route.decode_tokens_per_s,
                    "reason": reasons[(class_id, route)],
                }
            )
            lo = hi
    schema = {
        "class_id": pl.String, "lo": pl.Float64, "hi": pl.Float64, "prefill_device": pl.String,
        "decode_device": pl.String, "prefill_pool": pl.String, "decode_pool": pl.String,
        "prefill_usd_per_token": pl.Float64,
        "decode_usd_per_token": pl.Float64, "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def route_unit(columns: Sequence[str] = ("request_id",)) -> pl.Expr:
    """A uniform number in [0, 1) from the request's ``row_key`` (``columns``: the frame's
    column names; with only ``request_id`` the logged id is hashed as it is)."""
    key = row_key([*columns]).fill_null(0) if "request_id" in columns else pl.lit(0, pl.UInt64)
    return ((key // 2048).cast(pl.Float64) / UNIT_SCALE).alias("route_u")


def _matched(requests: pl.LazyFrame, route_table: pl.DataFrame) -> pl.LazyFrame:
    """Each request with its class's route (null route columns when the class is unplanned)."""
    return (
        requests.with_columns(route_unit(requests.collect_schema().names()))
        # The input's row order, so the same trace writes the same ledger.parquet bytes.
        .join(route_table.lazy(), on="class_id", how="left", maintain_order="left")
        .filter(
            pl.col("lo").is_null()
            | ((pl.col("route_u") >= pl.col("lo")) & (pl.col("route_u") < pl.col("hi")))
        )
    )


PREFILL_USD = (pl.col("plan_prefill_tokens") * pl.col("prefill_usd_per_token").fill_null(0.0))
DECODE_USD = (pl.col("plan_decode_tokens") * pl.col("decode_usd_per_token").fill_null(0.0))
TOKENS = {
    "cache_hit_tokens": pl.col("plan_cache_hit_tokens").cast(pl.Int64),
    "prefill_tokens": pl.col("plan_prefill_tokens").cast(pl.Int64),
    "decode_tokens": pl.col("plan_decode_tokens").cast(pl.Int64),
}  # ``Demand.totals`` holds their per-class sums under these names


def compute_ledger(requests: pl.LazyFrame, route_table: pl.DataFrame) -> pl.LazyFrame:
    """One row per request: route (devices and pools), ``prefill_usd``, ``decode_usd``, ``cache_hit_tokens``,
    ``reason`` plus the class and token columns the roll-up needs. Lazy: sink it
    (``sink_parquet``) or aggregate it, never collect a large one."""
    return _matched(requests, route_table).select(
        "request_id",
        "class_id",
        "prefill_device",
        "decode_device",
        "prefill_pool",
        "decode_pool",
        PREFILL_USD.alias("prefill_usd"),
        DECODE_USD.alias("decode_usd"),
        *[expr.alias(name) for name, expr in TOKENS.items()],
        pl.col("reason").fill_null(UNPLANNED_REASON),
        *[pl.lit(None, dtype).alias(name) for name, dtype in REPLAY_COLUMNS.items()],
        pl.lit(NOT_VERIFIED_NOTE).alias("replay_note"),
    )


REPLAY_COLUMNS: dict[str, pl.DataType] = {
    "replica": pl.Int64(), "queue_s": pl.Float64(), "ttft_s": pl.Float64(),
    "tpot_s": pl.Float64(), "e2e_s": pl.Float64(),
}  # the simulator's per-request columns (``tracelab.simulate.REQUEST_OUTPUT``) the ledger keeps
NOT_VERIFIED_NOTE = "not replayed: the plan was not verified"
REPLAYED_NOTE = "replayed"


def attach_replay(ledger: pl.LazyFrame, replayed: pl.DataFrame, window: str) -> pl.LazyFrame:
    """``ledger`` with each replayed request's ``replica`` and simulated times from
    ``replayed`` (the replay's per-request frame, joined on ``request_id``; a logged id that
    repeats takes its first replayed row) and ``replay_note``: "replayed", "replayed, not
    served" (no replica could hold it), or outside ``window`` (the replayed window's name)."""
    times = replayed.select("request_id", *REPLAY_COLUMNS, "served").unique(
        "request_id", keep="first", maintain_order=True).with_columns(
        pl.when(pl.col("served")).then(pl.lit(REPLAYED_NOTE))
        .otherwise(pl.lit(f"{REPLAYED_NOTE}, not served: no replica could hold it"))
        .alias("replay_note")).drop("served")
    outside = f"not replayed: outside the replayed window ({window})"
    return ledger.drop(*REPLAY_COLUMNS, "replay_note").join(
        times.lazy(), on="request_id", how="left", maintain_order="left").with_columns(
        pl.col("replay_note").fill_null(outside))


GROUPS_SCHEMA: dict[str, pl.DataType] = {
    "class_id": pl.String(), "prefill_device": pl.String(), "decode_device": pl.String(),
    "prefill_pool": pl.String(), "decode_pool": pl.String(), "reason": pl.String(), "requests": pl.Int64(), "prefill_tokens": pl.Int64(),
    "decode_tokens": pl.Int64(), "cache_hit_tokens": pl.Int64(), "prefill_usd": pl.Float64(),
    "decode_usd": pl.Float64(),
}


def compute_ledger_groups(requests: pl.LazyFrame, route_table: pl.DataFrame,
                          totals: pl.DataFrame | None = None,
                          class_keys: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ledger summed per (class, route): ``requests``, token totals and $ — everything
    the plan reports, without materialising a per-request row.

    A class on one route takes its sums from ``totals`` (per class: ``requests``, the
    ``plan_prefill_tokens``/``plan_decode_tokens`` float sums and the integer token totals,
    as ``Demand.totals``); only the requests of classes split across routes are read again,
    in one streaming ``group_by`` by (class, route row). Without ``totals`` every request is
    read. With ``class_keys`` (``Demand.class_keys``) those requests are found and grouped
    by the hash of the columns their ``class_id`` joins, not by building it for every row.
    Devices and ``reason`` are joined to the few groups afterwards."""
    table = route_table.with_row_index("route")
    charges = table.drop("reason", "prefill_device", "decode_device", "prefill_pool",
                         "decode_pool")
    split = table.group_by("class_id").len().filter(pl.col("len") > 1)["class_id"]
    frames = []
    if totals is not None:
        single = totals.filter(~pl.col("class_id").is_in(split.implode()))
        frames.append(
            single.join(charges, on="class_id", how="left").select(
                "class_id", "route", pl.col("requests").cast(pl.Int64), *TOKENS,
                PREFILL_USD.alias("prefill_usd"), DECODE_USD.alias("decode_usd"),
            )
        )
    if totals is None or split.len():
        keyed = None if totals is None or class_keys is None else _split_keys(class_keys, split)
        if keyed is None:
            rows = requests if totals is None else requests.filter(
                pl.col("class_id").is_in(split.implode()))
            frames.append(_sums(_matched(rows, charges), ["class_id"]))
        else:
            parts, keys = keyed
            rows = requests.filter(key_hash(parts).is_in(keys["_key"].implode()))
            matched = (
                rows.with_columns(route_unit(rows.collect_schema().names()), key_hash(parts))
                .join(charges.join(keys, on="class_id").drop("class_id").lazy(), on="_key")
                .filter((pl.col("route_u") >= pl.col("lo")) & (pl.col("route_u") < pl.col("hi")))
            )
            by_key = _sums(matched, ["_key"]).join(keys, on="_key")
            frames.append(by_key.group_by("class_id", "route").agg(
                pl.col("requests", *TOKENS, "prefill_usd", "decode_usd").sum()))
    routes = table.select("route", "prefill_device", "decode_device", "prefill_pool",
                          "decode_pool", "reason")
    return (
        pl.concat(frames, how="vertical_relaxed")
        .join(routes, on="route", how="left")
        .with_columns(pl.col("reason").fill_null(UNPLANNED_REASON))
        .select([pl.col(c).cast(t) for c, t in GROUPS_SCHEMA.items()])
        .sort("class_id", "prefill_pool", "decode_pool", nulls_last=True)
    )


def _sums(matched: pl.LazyFrame, keys: list[str]) -> pl.DataFrame:
    """Requests, token totals and $ per (``keys``…, route) of matched requests, sorted.

    $ = the group's token sum × its route's price per token (one price per route): integer
    token sums are exact in any order, so the totals do not depend on how the streaming
    engine splits the rows (a float sum of per-request $ did, in its last bits)."""
    return matched.group_by(*keys, "route").agg(
        pl.len().cast(pl.Int64).alias("requests"),
        *[expr.sum().alias(name) for name, expr in TOKENS.items()],
        *[(pl.col(f"plan_{phase}_tokens").sum()
           * pl.col(f"{phase}_usd_per_token").first().fill_null(0.0)).alias(f"{phase}_usd")
          for phase in ("prefill", "decode")],
    ).collect(engine="streaming").sort(*keys, "route")


def _split_keys(class_keys: pl.DataFrame,
                split: pl.Series) -> tuple[list[str], pl.DataFrame] | None:
    """(the columns ``class_id`` joins, [``class_id``, ``_key``] of the split classes'
    column tuples), or None when two tuples share a hash (then ``class_id`` is built)."""
    parts = [c for c in class_keys.columns if c != "class_id"]
    hashed = class_keys.with_columns(key_hash(parts))
    if hashed["_key"].n_unique() < hashed.select(parts).n_unique():
        return None
    return parts, hashed.filter(pl.col("class_id").is_in(split.implode())).select(
        "class_id", "_key").unique()


def compute_rollup(groups: pl.DataFrame) -> pl.DataFrame:
    """Tokens and $ by label (class) × phase × device, with shares of all tokens and all
    ledger $, from the ledger's groups (``compute_ledger_groups``; a per-request ledger
    frame works too). Cache hits get their own line: tokens that never needed prefill, $0."""
    parts = [
        groups.select(
            "class_id", pl.lit("prefill").alias("phase"), pl.col("prefill_device").alias("device"),
            pl.col("prefill_tokens").alias("tokens"), pl.col("prefill_usd").alias("usd"),
        ),
        groups.select(
            "class_id", pl.lit("decode").alias("phase"), pl.col("decode_device").alias("device"),
            pl.col("decode_tokens").alias("tokens"), pl.col("decode_usd").alias("usd"),
        ),
        groups.select(
            "class_id", pl.lit("cache-hit").alias("phase"), pl.lit(None, pl.String).alias("device"),
            pl.col("cache_hit_tokens").alias("tokens"), pl.lit(0.0).alias("usd"),
        ),
    ]
    long = pl.concat(parts).with_columns(pl.col("device").fill_null("-"))
    out = (
        long.group_by("class_id", "phase", "device")
        .agg(pl.col("tokens").sum(), pl.col("usd").sum())
        .filter(pl.col("tokens") > 0)
        .sort("class_id", "phase", "device")
    )
    total_tokens = out["tokens"].sum() or 1
    total_usd = math.fsum(out["usd"]) or 1.0  # exactly rounded: independent of row order
    return out.with_columns(
        (pl.col("tokens") / total_tokens).alias("token_share"),
        (pl.col("usd") / total_usd).alias("usd_share"),
    ).sort("class_id", "phase", "device")

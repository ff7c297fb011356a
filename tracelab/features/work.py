"""Model facts and estimated device-time per phase, joined per model_id.

Model facts come from the model registry; work coefficients (a, b, c, d) from the
performance model on the reference device: prefill_s = e + a*L + b*L^2 for L > 0 prefill
tokens (e: fixed per-request time),
decode_s = out*(c + d*ctx) at the mean decode context ctx = input + out/2. Requests whose
model is unknown are costed with the reference model and flagged ``work_model_assumed``.
"""

from __future__ import annotations

import polars as pl

from tracelab.errors import TracelabError
from tracelab.features.reference import COEFF_COLUMNS, FACT_COLUMNS, ReferenceHardware
from tracelab.lookup import lookup


def resolve_model_frame(
    present: list[str | None],
    hardware: ReferenceHardware,
    model_map: dict[str, str] | None,
    assume_model: str | None,
) -> pl.DataFrame:
    """[model, model_id, model_match] for the model names ``present`` (None included); the
    registry applies ``model_map`` and ``assume_model``."""
    names = sorted(present, key=lambda n: (n is None, n or ""))
    resolved = hardware.resolve(names, model_map, assume_model)
    return resolved.select(
        pl.col("model").cast(pl.String),
        pl.col("model_id").cast(pl.String),
        pl.col("model_match").cast(pl.String),
    )


# Above this many distinct logged names, per-name facts are joined rather than looked up
# with a when/then chain per name (a chain of 2,000 names took 3 GB to plan).
MAX_LOOKUP_NAMES = 64

# How a logged name found its model id (``tracelab.hardware.registry.match_model``).
MODEL_MATCHES = ("alias", "assumed", "exact", "mapped", "unknown")


def _lookup(key: str, table: pl.DataFrame, value: str,
            dtype: pl.DataType | None = None) -> pl.Expr:
    """``table[value]`` where ``table[key]`` equals column ``key`` (a handful of models),
    typed ``dtype`` (default: the table's)."""
    return lookup(key, table.select(key, value).iter_rows(),
                  table.schema[value] if dtype is None else dtype)


def model_id_dtype(hardware: ReferenceHardware) -> pl.Enum:
    """model_id and work_model_id: an Enum of the registry's ids, sorted (one per trace, so
    every partition of a large one has the same type). Enums group like Categoricals and
    are written to a partition as they are, where a Categorical is re-encoded per batch."""
    ids = {*hardware.facts.get_column("model_id").cast(pl.String), hardware.reference_model}
    return pl.Enum(sorted(ids))


def compute_model_features(
    lf: pl.LazyFrame,
    hardware: ReferenceHardware,
    present: list[str | None],
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
) -> pl.LazyFrame:
    """Add model_id, model_match, the model facts, kv_bytes and the work columns.

    ``present``: the distinct model names of ``lf``. The tables are per model (a handful of
    rows), applied with ``tracelab.lookup``; ``model`` comes out as a Categorical, the other
    text columns as Enums.
    """
    names = resolve_model_frame(present, hardware, model_map, assume_model)
    id_type, matches = model_id_dtype(hardware), pl.Enum(MODEL_MATCHES)
    if len(present) <= MAX_LOOKUP_NAMES:
        logged = [(name, name) for name in present if name is not None]
        lf = lf.with_columns(
            # The logged name as a Categorical (the names are not known before the trace is
            # read): looked up among the names present, which costs a fifth of casting each
            # row's string (0.07 vs 0.35 CPU-s per 2M rows).
            lookup("model", logged, pl.Categorical).alias("model"),
            _lookup("model", names, "model_id", id_type).alias("model_id"),
            _lookup("model", names, "model_match", matches).alias("model_match"),
        )
    else:  # thousands of names (fine-tunes, adapters, snapshots): one join, not a chain each
        table = names.drop_nulls("model").select(
            "model", pl.col("model_id").cast(id_type), pl.col("model_match").cast(matches))
        lf = lf.join(table.lazy(), on="model", how="left", maintain_order="left").with_columns(
            pl.col("model").cast(pl.Categorical),
            pl.when(pl.col("model").is_null()).then(
                pl.lit(names.filter(pl.col("model").is_null())["model_id"].first(), id_type))
            .otherwise(pl.col("model_id")).alias("model_id"),
            pl.when(pl.col("model").is_null()).then(
                pl.lit(names.filter(pl.col("model").is_null())["model_match"].first(), matches))
            .otherwise(pl.col("model_match")).alias("model_match"),
        )
    lf = lf.with_columns(pl.col("model_match").fill_null(pl.lit("unknown", dtype=matches)))
    facts = hardware.facts.select(FACT_COLUMNS).with_columns(pl.col("model_id").cast(pl.String))
    registered = names.get_column("model_id").drop_nulls().unique()
    facts = facts.filter(pl.col("model_id").is_in(registered.implode()))
    lf = lf.with_columns(
        _lookup("model_id", facts, name).alias(name) for name in FACT_COLUMNS if name != "model_id"
    ).with_columns(
        (pl.col("context_tokens") * pl.col("kv_bytes_per_token")).cast(pl.Float64).alias("kv_bytes")
    )

    ids = names.get_column("model_id").drop_nulls().unique().sort()  # the ids lf has
    costed = []
    for model_id in ids.to_list():  # a handful of models: the loop is over models, not rows
        try:
            hardware.coefficients(model_id)
        except TracelabError:
            continue
        costed.append(model_id)
    coeffs = hardware.coefficient_frame([*costed, hardware.reference_model]).rename(
        {"model_id": "work_model_id"})
    known = pl.col("model_id").is_in(costed).fill_null(False)
    lf = lf.with_columns(
        pl.when(known).then(pl.col("model_id"))
        .otherwise(pl.lit(hardware.reference_model, dtype=id_type)).alias("work_model_id"),
        known.not_().alias("work_model_assumed"),
        pl.lit(hardware.device, dtype=pl.Enum([hardware.device])).alias("work_device"),
    ).with_columns(_lookup("work_model_id", coeffs, name).alias(name) for name in COEFF_COLUMNS)
    return lf.with_columns(compute_work_features()).drop(COEFF_COLUMNS)


def compute_work_features() -> list[pl.Expr]:
    """prefill_device_s, decode_device_s, prefill_work_share from joined coefficients
    work_a .. work_e (seconds; see ReferenceHardware)."""
    a, b, c, d, e = (pl.col(name) for name in COEFF_COLUMNS)
    length = pl.col("prefill_tokens").cast(pl.Float64)
    out = pl.col("decode_tokens").cast(pl.Float64)
    ctx = pl.col("input_tokens").cast(pl.Float64) + out / 2
    prefill = pl.when(length > 0).then(e).otherwise(0.0) + a * length + b * length**2
    decode = out * (c + d * ctx)
    total = prefill + decode
    return [
        prefill.alias("prefill_device_s"),
        decode.alias("decode_device_s"),
        pl.when(total > 0).then(prefill / total).otherwise(None).alias("prefill_work_share"),
    ]

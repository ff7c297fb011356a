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


def resolve_model_frame(
    lf: pl.LazyFrame,
    hardware: ReferenceHardware,
    model_map: dict[str, str] | None,
    assume_model: str | None,
) -> pl.DataFrame:
    """[model, model_id, model_match] for every distinct model name of ``lf``, null included
    (one small collect); the registry applies ``model_map`` and ``assume_model``."""
    present = lf.select(pl.col("model").unique()).collect().get_column("model").to_list()
    names = sorted(present, key=lambda n: (n is None, n or ""))
    resolved = hardware.resolve(names, model_map, assume_model)
    return resolved.select(
        pl.col("model").cast(pl.String),
        pl.col("model_id").cast(pl.String),
        pl.col("model_match").cast(pl.String),
    )


def compute_model_features(
    lf: pl.LazyFrame,
    hardware: ReferenceHardware,
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
) -> pl.LazyFrame:
    """Add model_id, model_match, the model facts, kv_bytes and the work columns."""
    names = resolve_model_frame(lf, hardware, model_map, assume_model)
    lf = lf.join(
        names.lazy(), on="model", how="left", nulls_equal=True, maintain_order="left"
    ).with_columns(
        pl.col("model_match").fill_null("unknown")
    )
    facts = hardware.facts.select(FACT_COLUMNS).with_columns(pl.col("model_id").cast(pl.String))
    lf = lf.join(facts.lazy(), on="model_id", how="left", maintain_order="left").with_columns(
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
    coeffs = hardware.coefficient_frame([*costed, hardware.reference_model])
    known = pl.col("model_id").is_in(costed).fill_null(False)
    lf = lf.with_columns(
        pl.when(known).then(pl.col("model_id")).otherwise(pl.lit(hardware.reference_model))
        .alias("work_model_id"),
        known.not_().alias("work_model_assumed"),
        pl.lit(hardware.device, dtype=pl.String).alias("work_device"),
    ).join(coeffs.lazy().rename({"model_id": "work_model_id"}), on="work_model_id", how="left",
           maintain_order="left")
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

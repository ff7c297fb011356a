"""The polars schema in code and the JSON Schema in schemas/ describe the same record."""

from __future__ import annotations

import json

import polars as pl

from tracelab.resources import schema_path
from tracelab.schema import CANONICAL_SCHEMA, STATUSES, conform


def _json_schema() -> dict:
    return json.loads(schema_path("request.schema.json").read_text())


def test_json_schema_and_polars_schema_name_the_same_fields_in_order():
    assert list(_json_schema()["properties"]) == list(CANONICAL_SCHEMA)


def test_every_field_has_the_same_type_in_both():
    for name, spec in _json_schema()["properties"].items():
        assert spec["x-polars-type"] == _polars_type_name(CANONICAL_SCHEMA[name]), name


def test_every_field_is_documented_with_a_unit_key():
    for name, spec in _json_schema()["properties"].items():
        assert spec["description"], name
        assert "x-unit" in spec, name


def test_status_enum_matches():
    assert tuple(_json_schema()["properties"]["status"]["enum"]) == STATUSES


def test_token_and_duration_fields_carry_units():
    props = _json_schema()["properties"]
    for name in CANONICAL_SCHEMA:
        if name.endswith("_tokens") and name != "prefix_block_tokens":
            assert props[name]["x-unit"] == "tokens", name
        if name.endswith("_s"):
            assert props[name]["x-unit"] == "s", name


def test_conform_fills_absent_fields_with_null_not_zero():
    out = conform(pl.LazyFrame({"input_tokens": [10], "output_tokens": [2]})).collect()
    assert out.columns[: len(CANONICAL_SCHEMA)] == list(CANONICAL_SCHEMA)
    assert out["cached_input_tokens"].to_list() == [None]
    assert out["ttft_s"].to_list() == [None]
    assert out.schema["arrival_ts"] == pl.Datetime("us", "UTC")


def _polars_type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return f"Datetime({dtype.time_unit}, {dtype.time_zone})"
    if isinstance(dtype, pl.List):
        return f"List({_polars_type_name(dtype.inner)})"
    return str(dtype.base_type()).removesuffix("()")

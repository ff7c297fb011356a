"""Model registry: facts, name matching, frames."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tracelab.errors import ConfigError
from tracelab.hardware.registry import (
    kv_bytes_per_token,
    load_models,
    match_model,
    model_facts_frame,
    parse_model_map,
    resolve_models,
)

REQUIRED_IDS = {
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "qwen3-30b-a3b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "qwen3-235b-a22b",
    "mistral-7b",
    "mixtral-8x7b",
    "deepseek-v3",
    "deepseek-r1",
    "gpt-oss-20b",
    "gpt-oss-120b",
}


def test_registry_has_required_models_with_sources() -> None:
    models = load_models()
    assert REQUIRED_IDS <= set(models)
    assert any(m.family == "gemma" for m in models.values())
    assert all(m.source for m in models.values())
    assert all(m.active_params_b <= m.params_b for m in models.values())


def test_kv_bytes_match_the_formulas() -> None:
    models = load_models()
    assert models["llama-3.1-8b"].kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072
    assert models["deepseek-v3"].kv_bytes_per_token == (512 + 64) * 61 * 2 == 70272
    import tomllib

    from tracelab.resources import data_path

    raw = tomllib.loads(data_path("models.toml").read_text())["models"]
    for mid, entry in raw.items():
        assert entry["kv_bytes_per_token"] == kv_bytes_per_token(entry), mid


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", ("llama-3.1-8b", "exact")),
        ("Meta-Llama-3.1-70B-Instruct", ("llama-3.1-70b", "exact")),
        ("LLAMA_3.1_8b", ("llama-3.1-8b", "exact")),
        ("llama-8b", ("llama-3.1-8b", "alias")),
        ("meta-llama/Llama-3.3-70B-Instruct", ("llama-3.1-70b", "alias")),
        ("Qwen/Qwen3-235B-A22B-Instruct-2507", ("qwen3-235b-a22b", "exact")),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", ("mixtral-8x7b", "alias")),
        ("google/gemma-3-27b-it", ("gemma-3-27b", "exact")),
        ("gpt-4", (None, "unknown")),
        (None, (None, "unknown")),
    ],
)
def test_match_model(name: str | None, expected: tuple[str | None, str]) -> None:
    assert match_model(name) == expected


def test_map_and_assume() -> None:
    assert match_model("gpt-4", {"gpt-4": "llama-3.1-70b"}) == ("llama-3.1-70b", "mapped")
    assert match_model("gpt-4", assume="qwen2.5-7b") == ("qwen2.5-7b", "assumed")
    assert match_model(None, assume="qwen2.5-7b") == ("qwen2.5-7b", "assumed")
    with pytest.raises(ConfigError, match="unknown model id 'nope'"):
        match_model("gpt-4", {"gpt-4": "nope"})
    with pytest.raises(ConfigError, match=r"assumed model nope"):
        match_model("gpt-4", assume="nope")
    assert parse_model_map(["a=llama-3.1-8b"]) == {"a": "llama-3.1-8b"}
    with pytest.raises(ConfigError, match="expected NAME=ID"):
        parse_model_map(["broken"])


def test_resolve_models_one_row_per_distinct_name() -> None:
    got = resolve_models(["x", "llama-8b", None, "x"], {"x": "qwen3-8b"})
    want = pl.DataFrame(
        {
            "model": ["x", "llama-8b", None],
            "model_id": ["qwen3-8b", "llama-3.1-8b", None],
            "model_match": ["mapped", "alias", "unknown"],
        },
        schema={"model": pl.String, "model_id": pl.String, "model_match": pl.String},
    )
    assert_frame_equal(got, want)


def test_model_facts_frame() -> None:
    facts = model_facts_frame().filter(pl.col("model_id") == "llama-3.1-8b")
    assert facts.row(0, named=True) == {
        "model_id": "llama-3.1-8b",
        "params_b": 8.03,
        "active_params_b": 8.03,
        "n_layers": 32,
        "hidden_size": 4096,
        "n_kv_heads": 8,
        "head_dim": 128,
        "kv_bytes_per_token": 131072,
        "weight_bytes_bf16": 16_060_000_000,
    }


def test_user_models_file_overrides_and_bad_file(tmp_path) -> None:
    good = tmp_path / "m.toml"
    good.write_text(
        '[models.tiny]\nname="Tiny"\nfamily="x"\nparams_b=0.1\nactive_params_b=0.1\nn_layers=2\n'
        'hidden_size=64\nn_heads=4\nn_kv_heads=2\nhead_dim=16\nattention="gqa"\nsource="test"\n'
    )
    models = load_models(good)
    assert models["tiny"].kv_bytes_per_token == 2 * 2 * 2 * 16 * 2
    assert "llama-3.1-8b" in models
    bad = tmp_path / "bad.toml"
    bad.write_text('[models.tiny]\nname="Tiny"\n')
    with pytest.raises(ConfigError, match=r"bad.toml entry 'tiny'"):
        load_models(bad)

"""The model registry: architecture facts per model id, and matching logged names to ids.

Data: ``tracelab/data/models.toml`` (each entry cites its config.json), validated against
``schemas/models.schema.json``. A user file passed to :func:`load_models` adds or
overrides entries. Units: parameters in billions, KV cache in bytes per token (bf16, all
layers), weights in bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.datafile import read_validated_toml
from tracelab.errors import ConfigError, ParamError
from tracelab.resources import data_path

MODELS_FILE = "models.toml"
MODELS_SCHEMA = "models.schema.json"
BF16_BYTES = 2

# Stripped from the end of a logged name before matching (repeatedly): chat/instruct
# variants and quantisation tags share the base model's shape.
_SUFFIXES = ("instruct", "chat", "it", "hf", "base", "fp8", "bf16", "fp16", "awq", "gptq", "turbo")
_PREFIXES = ("meta-",)


@dataclass(frozen=True)
class ModelSpec:
    """One model's shape. ``kv_bytes_per_token`` is the bf16 KV cache over all layers."""

    id: str
    name: str
    family: str
    params_b: float
    active_params_b: float
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    attention: str
    kv_bytes_per_token: int
    source: str
    aliases: tuple[str, ...] = ()

    @property
    def weight_bytes_bf16(self) -> int:
        """Bytes of all weights at bf16 (2 bytes per parameter)."""
        return round(self.params_b * 1e9 * BF16_BYTES)


def kv_bytes_per_token(entry: Mapping[str, Any]) -> int:
    """bf16 KV bytes per token: GQA 2·layers·kv_heads·head_dim·2; MLA (rank+rope)·layers·2."""
    if entry["attention"] == "mla":
        return int((entry["kv_lora_rank"] + entry["qk_rope_head_dim"]) * entry["n_layers"] * 2)
    return int(2 * entry["n_layers"] * entry["n_kv_heads"] * entry["head_dim"] * BF16_BYTES)


def _spec(model_id: str, entry: Mapping[str, Any], path: Path) -> ModelSpec:
    if entry["attention"] == "mla" and not {"kv_lora_rank", "qk_rope_head_dim"} <= set(entry):
        msg = (
            f"{path} entry '{model_id}' field 'kv_lora_rank': MLA models need kv_lora_rank "
            "and qk_rope_head_dim; add both"
        )
        raise ConfigError(msg)
    if entry["active_params_b"] > entry["params_b"]:
        msg = (
            f"{path} entry '{model_id}' field 'active_params_b': {entry['active_params_b']} "
            f"exceeds params_b {entry['params_b']}; active parameters are a subset"
        )
        raise ConfigError(msg)
    return ModelSpec(
        id=model_id,
        name=entry["name"],
        family=entry["family"],
        params_b=float(entry["params_b"]),
        active_params_b=float(entry["active_params_b"]),
        n_layers=entry["n_layers"],
        hidden_size=entry["hidden_size"],
        n_heads=entry["n_heads"],
        n_kv_heads=entry["n_kv_heads"],
        head_dim=entry["head_dim"],
        attention=entry["attention"],
        kv_bytes_per_token=int(entry.get("kv_bytes_per_token") or kv_bytes_per_token(entry)),
        source=entry["source"],
        aliases=tuple(entry.get("aliases", ())),
    )


@cache
def _read(path: Path) -> dict[str, ModelSpec]:
    data = read_validated_toml(path, MODELS_SCHEMA)
    return {mid: _spec(mid, entry, path) for mid, entry in data["models"].items()}


def load_models(path: Path | None = None) -> dict[str, ModelSpec]:
    """The packaged registry, plus (overriding) the entries of a user's TOML at ``path``."""
    models = dict(_read(data_path(MODELS_FILE)))
    if path is not None:
        models.update(_read(Path(path)))
    return models


def normalize_name(name: str) -> str:
    """Matching key: org prefix and variant suffixes stripped, lower-case alphanumerics only."""
    text = name.strip().lower().rsplit("/", 1)[-1]
    text = re.sub(r"[\s_:]+", "-", text)
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if text.endswith("-" + suffix):
                text = text[: -len(suffix) - 1]
                changed = True
        dated = re.sub(r"-\d{4}$", "", text)  # release dates, e.g. Qwen3-...-2507
        if dated != text:
            text, changed = dated, True
    return re.sub(r"[^a-z0-9]", "", text)


@cache
def _index(
    models_key: tuple[str, ...], alias_key: tuple[tuple[str, str], ...]
) -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for alias, mid in alias_key:
        index.setdefault(normalize_name(alias), (mid, "alias"))
    for mid in models_key:
        index[normalize_name(mid)] = (mid, "exact")
    return index


def _lookup(models: Mapping[str, ModelSpec]) -> dict[str, tuple[str, str]]:
    aliases = tuple((a, m.id) for m in models.values() for a in m.aliases)
    return _index(tuple(models), aliases)


def _check_id(model_id: str, models: Mapping[str, ModelSpec], option: str, param: str) -> str:
    if model_id in models:
        return model_id
    hit = _lookup(models).get(normalize_name(model_id))
    if hit is not None:
        return hit[0]
    msg = (
        f"{option}: unknown model id '{model_id}'; add the model with your own models TOML "
        "if the registry lacks it"
    )
    raise ConfigError(msg, param=param)


def match_model(
    name: str | None,
    model_map: Mapping[str, str] | None = None,
    assume: str | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> tuple[str | None, str]:
    """Registry id for a logged model name and how it was found.

    ``how`` is ``mapped`` (``--model-map NAME=ID``), ``exact`` (same id after
    normalisation), ``alias``, ``assumed`` (``--assume-model`` for an unknown or missing
    name) or ``unknown`` (id None).
    """
    models = load_models() if models is None else models
    if name is not None and model_map:
        key = normalize_name(name)
        for src, target in model_map.items():
            if src == name or normalize_name(src) == key:
                return _check_id(target, models, f"model map {src}={target}", "model_map"), "mapped"
    if name is not None:
        hit = _lookup(models).get(normalize_name(name))
        if hit is not None:
            return hit
    if assume is not None:
        return _check_id(assume, models, f"assumed model {assume}", "assume_model"), "assumed"
    return None, "unknown"


def resolve_models(
    names: Iterable[str | None],
    model_map: Mapping[str, str] | None = None,
    assume: str | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> pl.DataFrame:
    """One row per distinct logged name: ``model`` (as logged), ``model_id``, ``model_match``."""
    models = load_models() if models is None else models
    distinct = list(dict.fromkeys(names))
    matched = [match_model(n, model_map, assume, models) for n in distinct]
    return pl.DataFrame(
        {
            "model": distinct,
            "model_id": [m[0] for m in matched],
            "model_match": [m[1] for m in matched],
        },
        schema={"model": pl.String(), "model_id": pl.String(), "model_match": pl.String()},
    )


FACTS_SCHEMA: dict[str, pl.DataType] = {
    "model_id": pl.String(),
    "params_b": pl.Float64(),
    "active_params_b": pl.Float64(),
    "n_layers": pl.Int64(),
    "hidden_size": pl.Int64(),
    "n_kv_heads": pl.Int64(),
    "head_dim": pl.Int64(),
    "kv_bytes_per_token": pl.Int64(),
    "weight_bytes_bf16": pl.Int64(),
}


def model_facts_frame(models: Mapping[str, ModelSpec] | None = None) -> pl.DataFrame:
    """One row per model id with the facts the features stage joins on (see FACTS_SCHEMA)."""
    models = load_models() if models is None else models
    rows = [
        {
            "model_id": m.id,
            "params_b": m.params_b,
            "active_params_b": m.active_params_b,
            "n_layers": m.n_layers,
            "hidden_size": m.hidden_size,
            "n_kv_heads": m.n_kv_heads,
            "head_dim": m.head_dim,
            "kv_bytes_per_token": m.kv_bytes_per_token,
            "weight_bytes_bf16": m.weight_bytes_bf16,
        }
        for m in models.values()
    ]
    return pl.DataFrame(rows, schema=FACTS_SCHEMA)


def parse_model_map(items: Iterable[str]) -> dict[str, str]:
    """``["NAME=ID", ...]`` → dict; ``ConfigError`` naming the item when malformed."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ParamError(param="model_map", value=item,
                             reason="expected NAME=ID, e.g. gpt-4o=llama-3.1-70b")
        out[name.strip()] = target.strip()
    return out

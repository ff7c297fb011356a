"""Cluster models as JSON (never pickle), checked against schemas/cluster-model.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelab.errors import ConfigError
from tracelab.resources import schema_path

if TYPE_CHECKING:
    from tracelab.labels.cluster import WorkloadClusterer

FORMAT = "tracelab-cluster-model"
VERSION = 1


def cluster_model_to_json(model: WorkloadClusterer) -> dict[str, Any]:
    from tracelab.labels.cluster import CLUSTER_FEATURES

    return {
        "format": FORMAT,
        "version": VERSION,
        "k": model.k_,
        "random_state": model.random_state,
        "sample_size": model.sample_size,
        "feature_names": list(model.feature_names_),
        "transforms": [how for _, how in CLUSTER_FEATURES],
        "scaler_mean": list(model.scaler_mean_),
        "scaler_scale": list(model.scaler_scale_),
        "centers": [list(c) for c in model.centers_],
        "names": list(model.names_),
        "profiles": list(model.profiles_),
    }


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(
        f"{source}: key {key!r}: {problem}; not a saved cluster model", param="model"
    )


def cluster_model_from_json(
    cls: type[WorkloadClusterer], data: Any, source: str
) -> WorkloadClusterer:
    import jsonschema

    from tracelab.labels.cluster import CLUSTER_FEATURES

    schema = json.loads(schema_path("cluster-model.schema.json").read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data)
    )
    if error is not None:
        path = [str(p) for p in error.absolute_path]
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            raise _fail(source, ".".join([*path, *extra[:1]]), "unknown key")
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            raise _fail(source, missing[0] if missing else "<top level>", "missing")
        raise _fail(source, ".".join(path) or "<top level>", error.message)
    expected = [name for name, _ in CLUSTER_FEATURES]
    if data["feature_names"] != expected:
        raise _fail(source, "feature_names", f"expected {expected}")
    if data["transforms"] != [how for _, how in CLUSTER_FEATURES]:
        raise _fail(source, "transforms", "do not match this tracelab's cluster features")
    k, width = data["k"], len(expected)
    for key in ("scaler_mean", "scaler_scale"):
        if len(data[key]) != width:
            raise _fail(source, key, f"needs {width} values, got {len(data[key])}")
    if len(data["centers"]) != k or any(len(c) != width for c in data["centers"]):
        raise _fail(source, "centers", f"needs {k} centers of {width} values")
    if len(data["names"]) != k:
        raise _fail(source, "names", f"needs {k} names, got {len(data['names'])}")
    model = cls(k=k, random_state=data.get("random_state", 0),
                sample_size=data.get("sample_size", 20_000))
    model.k_ = k
    model.feature_names_ = list(data["feature_names"])
    model.scaler_mean_ = [float(v) for v in data["scaler_mean"]]
    model.scaler_scale_ = [float(v) for v in data["scaler_scale"]]
    model.centers_ = [[float(v) for v in c] for c in data["centers"]]
    model.names_ = list(data["names"])
    model.profiles_ = list(data.get("profiles", []))
    return model


def read_cluster_model(path: Path) -> WorkloadClusterer:
    """Load a saved cluster model; one-line ConfigError for unreadable or invalid files."""
    from tracelab.labels.cluster import WorkloadClusterer

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"{path}: cannot read cluster model ({exc.strerror}); pass an existing JSON file"
        raise ConfigError(msg, param="model") from None
    except json.JSONDecodeError as exc:
        msg = f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}); not a saved cluster model"
        raise ConfigError(msg, param="model") from None
    return WorkloadClusterer.from_json(data, source=str(path))


def write_cluster_model(model: WorkloadClusterer, path: Path) -> None:
    """Write ``model.to_json()`` to ``path`` (UTF-8, indented)."""
    Path(path).write_text(
        json.dumps(model.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )

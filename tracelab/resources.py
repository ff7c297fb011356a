"""Locate files that ship with tracelab: JSON Schemas, package data and sample traces.

In a wheel, ``schemas/`` and ``sample_traces/`` are copied into the package; in a source
checkout (editable install, tests) they sit at the repository root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    inside = Path(str(resources.files("tracelab"))) / name
    if inside.is_dir():
        return inside
    return _PACKAGE_DIR.parent / name


def schema_path(name: str) -> Path:
    """Path of a JSON Schema shipped in ``schemas/``, e.g. ``request.schema.json``."""
    return _shipped_dir("schemas") / name


def data_path(name: str) -> Path:
    """Path of a package data file under ``tracelab/data/``."""
    return _PACKAGE_DIR / "data" / name


def sample_traces_dir() -> Path:
    """Folder holding the bundled sample traces made by ``tracelab synth``."""
    return _shipped_dir("sample_traces")


def default_sample_trace() -> Path:
    """The sample trace that commands use when they are given no input."""
    return sample_traces_dir() / "sample.canonical.parquet"

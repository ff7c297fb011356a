"""Recognise a file's format from its content (column names or first JSON records)."""

from __future__ import annotations

from tracelab.errors import InputFileError
from tracelab.ingest.formats import DETECT_ORDER, FORMATS
from tracelab.ingest.formats.base import Adapter, Sample


def detect_format(sample: Sample) -> Adapter:
    """The first registered adapter that recognises ``sample``."""
    for name in DETECT_ORDER:
        adapter = FORMATS[name]
        if adapter.detect(sample):
            return adapter
    if not sample.columns and not sample.records:
        msg = f"{sample.path}: the file holds no records, so its format cannot be recognised"
        raise InputFileError(msg, param="format")
    shown = ", ".join(sorted(sample.columns)[:8]) or "none"
    msg = (
        f"{sample.path}: unknown format (columns/keys: {shown}); "
        f"known formats: {', '.join(FORMATS)}"
    )
    raise InputFileError(msg, param="format")


def get_format(name: str) -> Adapter:
    """The adapter called ``name``."""
    try:
        return FORMATS[name]
    except KeyError:
        msg = f"unknown format {name!r}; use one of {', '.join(FORMATS)} (see `tracelab formats`)"
        raise InputFileError(msg) from None


def check_required(sample: Sample, adapter: Adapter) -> None:
    """Refuse a file that lacks a column its format requires."""
    if sample.kind == "jsonl" and not sample.records:
        return
    missing = [name for name in adapter.required if name not in sample.columns]
    if missing:
        hint = f"; {adapter.hint}" if adapter.hint else ""
        msg = (
            f"{sample.path}: required column(s) {', '.join(missing)} missing for format "
            f"{adapter.name}{hint}"
        )
        raise InputFileError(msg, param="format")

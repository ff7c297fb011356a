"""Open one trace file: a ``Sample`` for sniffing and a ``RawSource`` for the adapters.

CSV and Parquet stay lazy (``scan_csv``/``scan_parquet``); CSV is read as text so that
validation, not the reader, decides what a bad value is. JSONL is read as lines (one
``line`` column); a malformed line is a file error naming its line number.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.errors import InputFileError
from tracelab.ingest.discover import file_kind, hive_columns, is_gzip, is_remote
from tracelab.ingest.formats.base import FileKind, RawSource, Sample

SAMPLE_RECORDS = 20


def _kind(path: Path) -> FileKind:
    kind = file_kind(path)
    if kind is None:  # discover() already refused these
        msg = f"{path}: unknown file type; rename it to .parquet, .jsonl or .csv"
        raise InputFileError(msg)
    return kind


def _read_bytes(path: Path) -> bytes:
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        msg = f"{path}: cannot read the file ({exc}); check that it exists and is not truncated"
        raise InputFileError(msg) from None


def _text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text (byte {exc.start}); is it a binary file?"
        raise InputFileError(msg) from None


def sample(path: Path) -> Sample:
    """The column names (or first JSON records) of ``path``."""
    kind = _kind(path)
    try:
        if kind == "parquet":
            names = pl.read_parquet_schema(path).keys()
            return Sample(path, kind, frozenset(names) | frozenset(hive_columns(path)))
        if kind == "csv":
            head = pl.read_csv(
                str(path) if is_remote(path) else io.BytesIO(_read_bytes(path)),
                n_rows=5,
                infer_schema=False,
                truncate_ragged_lines=True,
            )
            return Sample(path, kind, frozenset(head.columns))
    except pl.exceptions.PolarsError as exc:
        msg = f"{path}: cannot read as {kind} ({_first_line(exc)})"
        raise InputFileError(msg) from None
    except OSError as exc:
        remote = "; check the URL and AWS_* credentials" if is_remote(path) else ""
        msg = f"{path}: cannot read as {kind} ({_first_line(exc)}){remote}"
        raise InputFileError(msg) from None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{path}: line {number}: malformed JSON ({exc.msg}); is this a JSON Lines file?"
            raise InputFileError(msg) from None
        if not isinstance(record, dict):
            msg = f"{path}: line {number}: expected a JSON object per line, got {type(record).__name__}"
            raise InputFileError(msg)
        records.append(record)
        if len(records) >= SAMPLE_RECORDS:
            break
    columns = frozenset(key for record in records for key in record)
    return Sample(path, kind, columns, tuple(records))


def open_raw(path: Path, rows: tuple[int, int] | None = None) -> RawSource:
    """``path`` as a lazy frame of untouched source fields plus ``source_row``.

    ``rows``: only ``(offset, count)`` rows of the file (``source_row`` still counts from the
    file's first row). The slice is taken before the row number is added: a slice above
    polars' row index made each later part of a 100M-row file read all the rows before it.
    """
    kind = _kind(path)
    offset, count = rows if rows is not None else (0, None)
    if kind == "parquet":
        frame = pl.scan_parquet(path).with_columns(
            pl.lit(value).alias(key) for key, value in hive_columns(path).items()
        )
    elif kind == "csv":
        if is_gzip(path):
            frame = pl.read_csv(io.BytesIO(_read_bytes(path)), infer_schema=False).lazy()
        else:
            frame = pl.scan_csv(path, infer_schema=False)
    else:
        lines = pl.Series("line", _text(path).splitlines(), dtype=pl.String)
        raw = pl.DataFrame([lines]).with_row_index("source_row", offset=1)
        raw = raw.filter(pl.col("line").str.strip_chars() != "")
        if rows is not None:
            raw = raw.slice(offset, count)
        bad = raw.filter(pl.col("line").str.json_path_match("$").is_null()).head(1)
        if bad.height:
            number = bad.item(0, "source_row")
            msg = f"{path}: line {number}: malformed JSON; fix or remove that line"
            raise InputFileError(msg)
        return RawSource(
            path, kind, frozenset(), raw.lazy().with_columns(pl.col("source_row").cast(pl.Int64))
        )
    if "source_row" in frame.collect_schema().names():  # a re-read canonical file
        frame = frame.drop("source_row")
    if rows is not None:
        frame = frame.slice(offset, count)
    frame = frame.with_row_index("source_row", offset=offset + 1).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )
    return RawSource(path, kind, frozenset(frame.collect_schema().names()), frame)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

"""``scan_trace`` and ``read_trace``: any supported trace files → the canonical request frame."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tracelab.errors import InputFileError, RejectedRowsError
from tracelab.ingest import validate
from tracelab.ingest.discover import discover
from tracelab.ingest.formats.base import Adapter
from tracelab.ingest.load import open_raw, sample
from tracelab.ingest.sniff import check_required, detect_format, get_format
from tracelab.schema import empty_frame

PathsLike = str | Path | Sequence[str | Path]

# Inputs larger than this on disk are validated once and their accepted rows spilled to a
# temporary Parquet file (streaming), so every later stage scans typed, validated columns
# with projection pushdown instead of re-running validation over every column.
SPILL_BYTES = 16 * 1024 * 1024


@dataclass
class Trace:
    """The result of reading trace files.

    ``frame`` holds the accepted rows (canonical schema, lazy); ``rejected`` the rows that
    could not be used, one per input row with the first rule it broke.
    """

    frame: pl.LazyFrame
    rejected: pl.DataFrame
    rows_read: int
    files: list[Path]
    formats: dict[str, str] = field(default_factory=dict)
    # Holds the spilled accepted rows of large inputs; removed when the Trace is collected.
    spill: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def rows_accepted(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height


def _adapter_for(path: Path, format: str | None) -> Adapter:
    head = sample(path)
    adapter = get_format(format) if format else detect_format(head)
    check_required(head, adapter)
    return adapter


def _checked(path: Path, adapter: Adapter) -> pl.LazyFrame:
    mapped = adapter.to_canonical(open_raw(path))
    frame = validate.check(mapped, str(path))
    name = path.name
    return frame.with_columns(
        pl.coalesce(
            pl.col("request_id"), pl.lit(f"{name}:") + pl.col("source_row").cast(pl.String)
        ).alias("request_id"),
        pl.lit(adapter.name).alias("source_format"),
    )


def _plan(paths: PathsLike, format: str | None) -> list[tuple[Path, Adapter, pl.LazyFrame]]:
    if format is not None:
        get_format(format)
    plans = []
    for path in discover(paths):
        adapter = _adapter_for(path, format)
        plans.append((path, adapter, _checked(path, adapter)))
    return plans


def _concat(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    if not frames:
        return empty_frame().lazy()
    return pl.concat(frames, how="diagonal_relaxed")


def scan_trace(paths: PathsLike, format: str | None = None) -> pl.LazyFrame:
    """Accepted rows of every file in ``paths`` as one lazy canonical frame.

    ``paths``: files, globs or directories. ``format``: force a format name (see
    ``FORMATS``); detected per file from its content otherwise. Rejected rows are left
    out silently here; use ``read_trace`` to get them and the counts.
    """
    return _concat([validate.accepted(checked) for _, _, checked in _plan(paths, format)])


def read_trace(paths: PathsLike, format: str | None = None, strict: bool = False) -> Trace:
    """Read ``paths`` into a ``Trace``: accepted rows (lazy), rejected rows and counts.

    Raises ``InputFileError`` for a file that cannot be read and, when ``strict``,
    ``RejectedRowsError`` if any row is rejected.
    """
    plans = _plan(paths, format)
    spill = tempfile.TemporaryDirectory(prefix="tracelab-") if _large(plans) else None
    accepted, rejected, rows_read = [], [], 0
    for index, (path, _, checked) in enumerate(plans):
        good = validate.accepted(checked)
        queries = [checked.select(pl.len()), validate.rejected(checked)]
        if spill is not None:
            target = Path(spill.name) / f"part-{index:05d}.parquet"
            queries.append(good.sink_parquet(target, lazy=True))
            good = pl.scan_parquet(target)
        try:
            counted, bad, *_ = pl.collect_all(queries)
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"{path}: cannot read the file ({first}); check it is a well-formed file of its format"
            raise InputFileError(msg) from None
        rows_read += int(counted.item())
        rejected.append(bad)
        accepted.append(good)
    rejects = (
        pl.concat(rejected) if rejected else pl.DataFrame(schema=validate.REJECT_SCHEMA)
    ).cast(validate.REJECT_SCHEMA)  # type: ignore[arg-type]
    if strict and rejects.height:
        row = rejects.row(0, named=True)
        msg = (
            f"{rejects.height} row(s) rejected (--strict); first: {row['source_file']} row "
            f"{row['source_row']}, {row['field']}={row['value']!r}: {row['reason']}; "
            "fix those rows or drop --strict to write them to <out>.rejected"
        )
        raise RejectedRowsError(msg)
    return Trace(
        frame=_concat(accepted),
        rejected=rejects,
        rows_read=rows_read,
        files=[path for path, _, _ in plans],
        formats={str(path): adapter.name for path, adapter, _ in plans},
        spill=spill,
    )


def _large(plans: list[tuple[Path, Adapter, pl.LazyFrame]]) -> bool:
    """Whether the local input files together exceed ``SPILL_BYTES``."""
    total = 0
    for path, _, _ in plans:
        try:
            total += Path(path).stat().st_size
        except (OSError, TypeError, ValueError):
            return False
    return total > SPILL_BYTES

"""Split trace inputs into partitions a worker can read on its own.

A partition is a file, or for a large Parquet file a run of consecutive row groups (or
an equal slice of one row group larger than ``target_rows``) given as ``row_offset``,
``n_rows``, so no partition needs more than ~``target_rows`` rows in memory. Where a file
is cut is ``tracelab.ingest.partition.file_ranges``, the rule ``Trace.slices`` cuts by too.
Partitions are small picklable descriptions; ``scan_partition`` turns one into the
canonical frame of its accepted rows with the same adapters and validation as
``tracelab.ingest.scan_trace`` (``source_row`` keeps counting from the file's first row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracelab.errors import InputFileError

# Rows a partition aims at: a few hundred MB of canonical columns at most.
TARGET_ROWS = 2_000_000


@dataclass(frozen=True)
class Partition:
    """One file, or rows ``[row_offset, row_offset + n_rows)`` of one Parquet file."""

    index: int
    path: str
    format: str
    row_offset: int = 0
    n_rows: int | None = None  # None: the whole file


def plan_partitions(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    target_rows: int = TARGET_ROWS,
) -> list[Partition]:
    """The partitions of every file named by ``paths`` (files, globs, directories, s3:// URLs).

    The format is detected once per file (``tracelab.ingest.reader.adapter_for``, as
    ``read_trace`` does) and stored in the partition.
    """
    from tracelab.ingest.discover import discover
    from tracelab.ingest.partition import file_ranges
    from tracelab.ingest.reader import adapter_for

    if target_rows < 1:
        msg = f"target_rows must be >= 1, got {target_rows}"
        raise InputFileError(msg)
    parts: list[Partition] = []
    for path in discover(paths):
        adapter = adapter_for(path, format)
        for part in file_ranges(path, target_rows):
            offset, rows = (0, None) if part is None else part
            parts.append(Partition(len(parts), str(path), adapter.name, offset, rows))
    return parts


def scan_partition(partition: Partition) -> pl.LazyFrame:
    """The accepted canonical rows of ``partition`` (lazy; see the module docstring)."""
    from tracelab.ingest import validate
    from tracelab.ingest.discover import as_path
    from tracelab.ingest.reader import check_rows
    from tracelab.ingest.sniff import get_format

    rows = None if partition.n_rows is None else (partition.row_offset, partition.n_rows)
    # The same reading, checks and request ids as tracelab.ingest.read_trace.
    checked = check_rows(as_path(partition.path), get_format(partition.format), rows)
    return validate.accepted(checked)

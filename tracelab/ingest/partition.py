"""Where a large input file is cut into row ranges that can be read on their own.

One rule serves both ways of reading a trace in parts: ``Trace.slices`` (the local
pipeline's bounded-memory passes) and ``tracelab.scale.plan_partitions`` (the partitions
an executor hands to its workers), so the two cut a file at the same rows and a session
or window is split at the same boundary either way.

A local Parquet file is cut at row-group boundaries read from its footer (pyarrow
metadata, no data read): small row groups are packed together up to ``target_rows``, a
row group larger than ``target_rows`` is cut into equal slices. A CSV file (or a remote
Parquet file) whose row count is known is cut into equal slices of at most
``target_rows``. Anything else — a JSON file (read into memory anyway, and an adapter may
turn one document into many rows), a file whose row count is not known — is read whole.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from tracelab.errors import InputFileError
from tracelab.ingest.discover import file_kind, is_remote

# File kinds whose rows map one to one onto canonical rows, so they can be sliced on read.
SLICED_KINDS = ("parquet", "csv")

# ``(offset, rows)`` of a file, 0-based; None: the whole file.
RowRange = tuple[int, int] | None


def file_ranges(path: Path, target_rows: int, total_rows: int | None = None) -> list[RowRange]:
    """The row ranges of ``path``, each of at most ~``target_rows`` rows, in file order.

    ``total_rows``: the file's row count when the caller knows it (ingest counted it); it
    lets a CSV or a remote Parquet file be sliced. ``[None]`` means one range, the whole
    file. See the module docstring for the rule.
    """
    if target_rows < 1:
        msg = f"target_rows must be >= 1, got {target_rows}"
        raise InputFileError(msg)
    kind = file_kind(path)
    if kind not in SLICED_KINDS:
        return [None]
    if kind == "parquet" and not is_remote(path):
        groups = _row_groups(path)
    elif total_rows is not None:
        groups = [total_rows]
    else:
        return [None]
    ranges = _ranges(groups, target_rows)
    return [None] if len(ranges) == 1 else list(ranges)


def _row_groups(path: Path) -> list[int]:
    """Row counts of each row group of a local Parquet file (footer only)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read the Parquet footer ({exc}); is the file complete?"
        raise InputFileError(msg) from None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def _ranges(groups: Sequence[int], target_rows: int) -> list[tuple[int, int]]:
    """(offset, rows) ranges of about ``target_rows``: small row groups are packed together,
    a row group larger than ``target_rows`` is cut into equal slices."""
    ranges: list[tuple[int, int]] = []
    offset = start = 0
    for rows in groups:
        if offset > start and offset - start + rows > target_rows:
            ranges.append((start, offset - start))
            start = offset
        if rows > target_rows:
            pieces = -(-rows // target_rows)
            cuts = [offset + rows * i // pieces for i in range(pieces + 1)]
            ranges.extend((a, b - a) for a, b in itertools.pairwise(cuts))
            start = offset + rows
        offset += rows
    if offset > start or not ranges:
        ranges.append((start, offset - start))
    return ranges

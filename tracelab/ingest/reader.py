"""``scan_trace`` and ``read_trace``: any supported trace files → the canonical request frame."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import polars as pl

from tracelab.errors import InputFileError, RejectedRowsError
from tracelab.ingest import validate
from tracelab.ingest.discover import discover
from tracelab.ingest.formats.base import Adapter
from tracelab.ingest.load import open_raw, sample
from tracelab.ingest.partition import RowRange, file_ranges
from tracelab.ingest.sniff import check_required, detect_format, get_format
from tracelab.ingest.timebase import TimeBases, align, combine, compute_bases_exprs, read_bases
from tracelab.outputs import work_prefix
from tracelab.schema import empty_frame

PathsLike = str | Path | Sequence[str | Path]

# Inputs larger than this on disk are "large": they are validated in one streaming pass
# that keeps only the rejected rows; the accepted frame is then the typed input minus those
# rows, so a later stage reads (and parses) only the columns it needs and never re-runs the
# rules. Writing the accepted rows out instead cost 2-3x the validation pass (10M rows).
# A large input also gets a temporary work folder (``Trace.workdir``) for later stages.
# Remote inputs (s3:// and the like) count as large: their size is not known up front.
LARGE_BYTES = 16 * 1024 * 1024
# Temporary files are read back once or twice on this machine: lz4 writes ~30% faster than
# zstd (measured on 1M rows) and size on disk matters less.
TEMP_COMPRESSION: Final[Literal["lz4"]] = "lz4"


class Source(NamedTuple):
    """A large input file as ingest left it: what its slices are read with."""

    path: Path
    adapter: Adapter
    rejected: pl.DataFrame
    rows: int
    # Every row names its request_id, so the FILE:ROW fallback is never built (building it
    # for every row cost 0.05 CPU-s per 1M rows in each pass reading request_id).
    ids_complete: bool


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
    # Large inputs: a temporary folder later stages write intermediate files to (see
    # LARGE_BYTES); removed when the Trace is garbage-collected.
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    # Large inputs: per file, its path, adapter, rejected rows and row count.
    sources: list[Source] = field(default_factory=list, repr=False)
    # Accepted rows per time base, and the shift that put mixed ones on one axis
    # (tracelab.ingest.timebase); ``frame`` and ``slices`` are already aligned.
    time_bases: TimeBases = field(default_factory=TimeBases)
    # Files in the input folders that tracelab wrote (report folders, rejected rows): not read.
    skipped: list[Path] = field(default_factory=list)
    # Rows whose request_id an earlier row already had, renamed ID#2, ID#3…; counted for
    # inputs that are not large (see _distinct_ids), 0 otherwise.
    duplicate_ids: int = 0

    @property
    def rows_accepted(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height

    def _slicing(self, rows: int) -> Iterator[tuple[Source, RowRange, int]]:
        """Per slice of ``slices(rows)``: its file, ``(offset, rows)`` of the file (None: the
        whole file; cut by ``tracelab.ingest.partition.file_ranges``, as the partitions of
        ``tracelab.scale`` are) and its accepted row count."""
        for source in self.sources:
            numbers = source.rejected.get_column("source_row")  # 1-based rows of the file
            for part in file_ranges(source.path, rows, source.rows):
                if part is None:
                    yield source, None, source.rows - source.rejected.height
                    continue
                offset, count = part
                inside = int(numbers.is_between(offset + 1, offset + count).sum())
                yield source, part, count - inside

    def slices(self, rows: int) -> list[pl.LazyFrame]:
        """The accepted rows as consecutive slices of at most about ``rows`` input rows each
        (per file, cut where ``tracelab.ingest.partition.file_ranges`` cuts: at Parquet
        row groups, in equal slices of a CSV; rejected rows dropped after slicing, so each
        slice reads only its own part of the input); ``[frame]`` for a trace that is not
        large. JSON files are one slice each: they are read into memory anyway, and an
        adapter may turn one JSON document into many rows (OpenTelemetry spans), so their
        rows are numbered after reading."""
        if not self.sources:
            return [self.frame]
        return [align(validate.without_rejected(
                    _typed(source.path, source.adapter, part, source.ids_complete),
                    source.rejected), self.time_bases.shift_us)
                for source, part, _ in self._slicing(rows)]

    def slice_sizes(self, rows: int) -> list[int]:
        """The accepted rows in each of ``slices(rows)``, from the row counts and rejected
        rows read at ingest (no pass over the input)."""
        if not self.sources:
            return [self.rows_accepted]
        return [size for *_, size in self._slicing(rows)]


def adapter_for(path: Path, format: str | None) -> Adapter:
    """The adapter of ``path``: ``format`` if given, else sniffed from its first rows;
    ``InputFileError`` when it lacks a column its format requires."""
    head = sample(path)
    adapter = get_format(format) if format else detect_format(head)
    check_required(head, adapter)
    return adapter


def check_rows(path: Path, adapter: Adapter, rows: RowRange = None
               ) -> pl.LazyFrame:
    """Every row of ``path`` (or ``(offset, n)`` of it) in canonical columns with its first
    broken rule (``validate.check``), request ids filled (``_identified``): what both a
    whole read and a partition of ``tracelab.scale`` start from."""
    return _identified(validate.check(adapter.to_canonical(open_raw(path, rows)), str(path)),
                       path, adapter)


def _checked(path: Path, adapter: Adapter) -> pl.LazyFrame:
    return check_rows(path, adapter)


def _canonical(path: Path, adapter: Adapter, rows: RowRange = None
               ) -> pl.LazyFrame:
    """The file's canonical columns, parsed to their types, before request ids are filled."""
    return validate.typed(adapter.to_canonical(open_raw(path, rows)), str(path))


def _typed(path: Path, adapter: Adapter, rows: RowRange = None,
           ids_complete: bool = False) -> pl.LazyFrame:
    return _identified(_canonical(path, adapter, rows), path, adapter, ids_complete)


def _identified(frame: pl.LazyFrame, path: Path, adapter: Adapter,
                ids_complete: bool = False) -> pl.LazyFrame:
    """request_id falls back to FILE:ROW (not built when ``ids_complete``: none is
    missing); source_format is the adapter's name."""
    fallback = pl.lit(f"{path.name}:") + pl.col("source_row").cast(pl.String)
    return frame.with_columns(
        (pl.col("request_id") if ids_complete else pl.coalesce(pl.col("request_id"), fallback))
        .alias("request_id"),
        pl.lit(adapter.name).alias("source_format"),
    )


def _ids_complete(path: Path, adapter: Adapter) -> bool:
    """No row of the file lacks a request_id (one pass over that column)."""
    ids = _canonical(path, adapter).select(pl.col("request_id").null_count())
    return int(ids.collect(engine="streaming").item()) == 0


def _plan(paths: PathsLike, format: str | None, skipped: list[Path] | None = None
          ) -> list[tuple[Path, Adapter, pl.LazyFrame]]:
    if format is not None:
        get_format(format)
    plans = []
    for path in discover(paths, skipped):
        adapter = adapter_for(path, format)
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
    out silently here; use ``read_trace`` to get them and the counts. Mixed time bases are
    aligned as ``read_trace`` does (``tracelab.ingest.timebase``).
    """
    frame = _concat([validate.accepted(checked) for _, _, checked in _plan(paths, format)])
    return align(frame, read_bases(frame).shift_us)


def read_trace(paths: PathsLike, format: str | None = None, strict: bool = False) -> Trace:
    """Read ``paths`` into a ``Trace``: accepted rows (lazy), rejected rows and counts.

    Raises ``InputFileError`` for a file that cannot be read and, when ``strict``,
    ``RejectedRowsError`` if any row is rejected.
    """
    skipped: list[Path] = []
    plans = _plan(paths, format, skipped)
    size = _input_bytes(plans)
    large = size is None or size > LARGE_BYTES  # remote inputs: size unknown, assume large
    accepted, rejected, rows_read = [], [], 0
    base_rows: list[dict[str, Any]] = []
    sources: list[Source] = []
    for path, adapter, checked in plans:
        try:
            counted = checked.select(pl.len()).collect()
            bad, base_row = validate.collect_rejected_with(
                checked, compute_bases_exprs(validate.accepted_mask()))
            complete = large and _ids_complete(path, adapter)
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"{path}: cannot read the file ({first}); check it is a well-formed file of its format"
            raise InputFileError(msg) from None
        blank = bad.filter(pl.col("reason") == validate.BLANK_REASON).height
        base_rows.append(base_row)
        rows_read += int(counted.item()) - blank
        rejected.append(bad.filter(pl.col("reason") != validate.BLANK_REASON) if blank else bad)
        if large:
            sources.append(Source(path, adapter, bad, int(counted.item()), complete))
            accepted.append(validate.without_rejected(_typed(path, adapter, None, complete), bad))
        else:
            accepted.append(validate.accepted(checked))
    rejects = (
        pl.concat(rejected) if rejected else pl.DataFrame(schema=validate.REJECT_SCHEMA)
    ).cast(validate.REJECT_SCHEMA)  # type: ignore[arg-type]
    if strict and rejects.height:
        row = rejects.row(0, named=True)
        msg = (
            f"{rejects.height} row(s) rejected (strict reading); first: {row['source_file']} "
            f"row {row['source_row']}, {row['field']}={row['value']!r}: {row['reason']}"
        )
        raise RejectedRowsError(msg, param="strict")
    frame = _concat(accepted)
    duplicates = 0
    if not large:
        frame, duplicates = _distinct_ids(frame)
    bases = combine(base_rows)
    return Trace(
        frame=align(frame, bases.shift_us),
        rejected=rejects,
        rows_read=rows_read,
        files=[path for path, _, _ in plans],
        formats={str(path): adapter.name for path, adapter, _ in plans},
        workdir=tempfile.TemporaryDirectory(prefix=work_prefix()) if large else None,
        sources=sources,
        time_bases=bases,
        skipped=skipped,
        duplicate_ids=duplicates,
    )


def trace_notes(trace: Trace, *, time_bases: bool = False) -> list[str]:
    """What a reader of results on ``trace`` must know about how it was read: files in the
    input folders tracelab wrote (not read), repeated request ids (renamed), and with
    ``time_bases`` how mixed time bases were aligned."""
    from tracelab.ingest.timebase import describe, describe_gaps

    out = []
    if trace.skipped:
        out.append(f"{len(trace.skipped)} file(s) in the input folders were written by "
                   f"tracelab (e.g. {trace.skipped[0]}) and were not read as traces")
    if time_bases and (trace.time_bases.shift_us is not None
                       or describe_gaps(trace.time_bases) is not None):
        out.append(describe(trace.time_bases))
    if trace.duplicate_ids:
        out.append(f"{trace.duplicate_ids} request(s) reuse an earlier request's id: kept and "
                   "renamed ID#2, ID#3… so each row names one request")
    return out


def require_accepted(trace: Trace) -> None:
    """InputFileError when every row read was rejected, naming the commonest reason with an
    example (later stages would otherwise blame a symptom, e.g. "no token counts")."""
    if trace.rows_accepted or not trace.rows_rejected:
        return
    top = (trace.rejected.group_by("field", "reason").agg(pl.len(), pl.first("source_file"),
                                                          pl.first("source_row"), pl.first("value"))
           .sort(["len", "field"], descending=[True, False]).row(0, named=True))
    msg = (f"all {trace.rows_read:,} rows were rejected; the commonest reason: {top['field']} "
           f"{top['reason']} ({top['len']:,} rows, e.g. {top['source_file']} row "
           f"{top['source_row']}: {top['value']!r}); fix that field (tracelab ingest writes "
           "every rejected row with its reason)")
    raise InputFileError(msg)


def _distinct_ids(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, int]:
    """``frame`` with each repeated request_id after its first row renamed ``ID#2``,
    ``ID#3``… (in row order), and how many rows were renamed. One pass over the ids; only
    for inputs that are not large (a 10M-row id set costs seconds to hash)."""
    repeats = frame.select(pl.len() - pl.col("request_id").n_unique()).collect().item()
    if not repeats:
        return frame, 0
    nth = pl.int_range(pl.len()).over("request_id") + 1
    renamed = pl.when(nth > 1).then(pl.col("request_id") + "#" + nth.cast(pl.String))
    return frame.with_columns(renamed.otherwise(pl.col("request_id")).alias("request_id")), \
        int(repeats)


def _input_bytes(plans: list[tuple[Path, Adapter, pl.LazyFrame]]) -> int | None:
    """Size on disk of the input files together; None when one is remote (s3:// and the like)."""
    total = 0
    for path, _, _ in plans:
        try:
            total += Path(path).stat().st_size
        except (OSError, TypeError, ValueError):
            return None
    return total

"""Write a canonical frame (and its rejected rows) as Parquet, CSV or JSONL.

CSV cannot hold lists, so ``prefix_hash_blocks`` is written as the text ``[1,2,3]``, which
the ``canonical`` reader parses back; instants are ISO 8601 with offset in every format.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tracelab.errors import InputFileError

OUTPUT_SUFFIXES = (".parquet", ".csv", ".jsonl")


def output_kind(path: Path) -> str:
    """The output format named by ``path``'s suffix; refuses anything else."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        msg = f"{path}: cannot write {suffix or 'a file without suffix'}; name the output .parquet, .csv or .jsonl"
        raise InputFileError(msg)
    return suffix


def rejected_path(path: Path) -> Path:
    """``out.parquet`` → ``out.rejected.parquet`` (beside the output)."""
    return path.with_name(f"{path.stem}.rejected{path.suffix}")


def is_rejected_file(path: Path) -> bool:
    """True when ``path`` is a rejected-rows file as tracelab writes them (its columns are
    exactly the rejected-rows schema); False for anything else, or when it is absent."""
    from tracelab.ingest.validate import REJECT_SCHEMA

    if not path.is_file():
        return False
    try:
        if path.suffix.lower() == ".parquet":
            names = list(pl.read_parquet_schema(path))
        elif path.suffix.lower() == ".csv":
            names = pl.read_csv(path, n_rows=0).columns
        else:
            names = list(pl.read_ndjson(path, n_rows=1).columns)
    except (OSError, pl.exceptions.PolarsError):
        return False
    return names == list(REJECT_SCHEMA)


def _sink(frame: pl.LazyFrame, path: Path, kind: str) -> None:
    if kind == ".parquet":
        frame.sink_parquet(path)
    elif kind == ".csv":
        frame.with_columns(_csv_lists(frame.collect_schema())).sink_csv(path)
    else:
        frame.sink_ndjson(path)


def _csv_lists(schema: pl.Schema) -> list[pl.Expr]:
    """List columns as the text ``[1,2,3]`` (CSV cannot hold lists)."""
    return [
        pl.concat_str(
            pl.lit("["), pl.col(name).cast(pl.List(pl.String)).list.join(","), pl.lit("]")
        ).alias(name)
        for name, dtype in schema.items()
        if isinstance(dtype, pl.List)
    ]


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(_csv_lists(frame.schema))


def write_frame(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` in the format its suffix names. A lazy frame is streamed
    to the file (polars' streaming engine), so it never sits in memory whole."""
    kind = output_kind(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(frame, pl.LazyFrame):
            _sink(frame, path, kind)
        elif kind == ".parquet":
            frame.write_parquet(path)
        elif kind == ".csv":
            _csv_ready(frame).write_csv(path)
        else:
            frame.write_ndjson(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        from tracelab.outputs import describe_os_error

        written = path.stat().st_size if path.is_file() else 0
        msg = describe_os_error(exc, path.parent, written)
        if msg is None:
            raise
        raise InputFileError(msg) from None

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


def _csv_lists(schema: pl.Schema) -> list[pl.Expr]:
    """List columns as the text ``[1,2,3]`` (CSV cannot hold lists)."""
    return [
        pl.concat_str(
            pl.lit("["), pl.col(name).cast(pl.List(pl.String)).list.join(","), pl.lit("]")
        ).alias(name)
        for name, dtype in schema.items()
        if isinstance(dtype, pl.List)
    ]


def write_frame(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` in the format its suffix names. A lazy frame is streamed
    to the file (polars' streaming engine), so it never sits in memory whole."""
    kind = output_kind(path)
    if isinstance(frame, pl.LazyFrame):
        _sink(frame, path, kind)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == ".parquet":
            frame.write_parquet(path)
        elif kind == ".csv":
            frame.with_columns(_csv_lists(frame.schema)).write_csv(path)
        else:
            frame.write_ndjson(path)
    except OSError as exc:
        msg = f"{path}: cannot write the output ({exc.strerror or exc}); check the folder and permissions"
        raise InputFileError(msg) from None


def _sink(frame: pl.LazyFrame, path: Path, kind: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == ".parquet":
            frame.sink_parquet(path)
        elif kind == ".csv":
            frame.with_columns(_csv_lists(frame.collect_schema())).sink_csv(path)
        else:
            frame.sink_ndjson(path)
    except OSError as exc:
        msg = f"{path}: cannot write the output ({exc.strerror or exc}); check the folder and permissions"
        raise InputFileError(msg) from None

"""Turn the user's inputs (files, globs, directories) into a list of trace files.

A directory is searched recursively for ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``/
``.json`` and ``.csv`` files (each optionally ``.gz``), so hive-partitioned Parquet
(``dir/day=2024-05-10/part-0.parquet``) is read whole; the ``key=value`` folder names
become extra columns (see ``hive_columns``).

Object storage: ``s3://``, ``gs://``, ``az://`` … URLs are read by polars' native cloud
readers, which take credentials and the endpoint from the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``…).
A URL names one object, a glob (``s3://bucket/logs/**/*.parquet``) or a prefix ending in
``/`` (every Parquet object below it); remote files must be Parquet or plain CSV. They
travel as ``ObjectPath``: a ``Path`` whose text keeps the ``scheme://`` intact.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path, PosixPath

from tracelab.errors import InputFileError
from tracelab.ingest.formats.base import FileKind

_KINDS: dict[str, FileKind] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
}
_GLOB_CHARS = set("*?[")
_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "https://")
REMOTE_KINDS = ("parquet", "csv")


class ObjectPath(PosixPath):
    """An object-storage URL as a ``Path``: ``str()``/``fspath`` give the URL back whole.

    Only the pure parts (``name``, ``suffixes``, ``parent``) are meaningful; nothing calls
    filesystem methods on it (``discover`` and ``load`` check ``is_remote`` first).
    """

    def __str__(self) -> str:
        parts = self.parts
        return parts[0] + "//" + "/".join(parts[1:])

    def __fspath__(self) -> str:
        return str(self)


def is_remote(path: str | Path) -> bool:
    """True for an object-storage URL (``s3://bucket/key`` …)."""
    return isinstance(path, ObjectPath) or str(path).lower().startswith(_SCHEMES)


def as_path(text: str | Path) -> Path:
    """``text`` as a ``Path``, or an ``ObjectPath`` for a URL."""
    if isinstance(text, Path):
        return text
    return ObjectPath(text) if is_remote(text) else Path(text)


def _discover_remote(url: str) -> list[Path]:
    """Objects named by a URL: itself, or the Parquet objects a glob or ``prefix/`` matches."""
    import polars as pl

    pattern = url + "**/*.parquet" if url.endswith("/") else url
    if not (_GLOB_CHARS & set(pattern.split("://", 1)[1])):
        return [ObjectPath(url)]
    try:
        names = (
            pl.scan_parquet(pattern, include_file_paths="__file", hive_partitioning=False)
            .select(pl.col("__file").unique())
            .collect()
            .get_column("__file")
            .sort()
            .to_list()
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "expanded paths were empty" in first:
            names = []
        else:
            msg = (f"{url}: cannot list the objects ({first}); check the URL and the "
                   "credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_ENDPOINT_URL")
            raise InputFileError(msg) from None
    if not names:
        msg = f"{url}: matches no Parquet object; check the bucket and prefix"
        raise InputFileError(msg)
    return [ObjectPath(name) for name in names]


def file_kind(path: Path) -> FileKind | None:
    """``csv``, ``jsonl`` or ``parquet`` from the file name (``.gz`` looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _KINDS.get(suffixes[-1]) if suffixes else None


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def discover(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Every trace file named by ``paths``, in order, without duplicates."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        msg = "no input given; pass a trace file, glob or directory"
        raise InputFileError(msg)
    found: list[Path] = []
    for item in items:
        text = str(item)
        if is_remote(item):
            found.extend(_discover_remote(text))
            continue
        if _GLOB_CHARS & set(text) and not Path(text).exists():
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))  # noqa: PTH207 (absolute patterns)
            files = [m for m in matches if m.is_file()]
            if not files:
                msg = f"{text}: the glob matches no file; check the pattern and quote it"
                raise InputFileError(msg)
            found.extend(files)
            continue
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and file_kind(p))
            if not files:
                msg = f"{path}: the directory holds no .parquet, .jsonl or .csv file"
                raise InputFileError(msg)
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            msg = f"{path}: no such file or directory"
            raise InputFileError(msg)
    unique = list(dict.fromkeys(found))
    for path in unique:
        if file_kind(path) is None:
            msg = (
                f"{path}: unknown file type {''.join(path.suffixes) or '(none)'}; "
                "rename it to .parquet, .jsonl[.gz] or .csv[.gz]"
            )
            raise InputFileError(msg)
        if is_remote(path) and (file_kind(path) not in REMOTE_KINDS or is_gzip(path)):
            msg = (f"{path}: only Parquet and plain CSV objects are read from object storage; "
                   "download the file first or convert it with tracelab ingest")
            raise InputFileError(msg)
    return unique


def hive_columns(path: Path) -> dict[str, str]:
    """``key=value`` folder names above ``path`` (hive partitioning) as extra columns."""
    parts = [p for p in path.parent.parts if "=" in p]
    return dict(p.split("=", 1) for p in parts)

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


def _tracelab_output(path: Path, top: Path) -> bool:
    """``path`` (found below the folder ``top``) is something tracelab wrote: inside an output
    folder (one holding ``tracelab.outputs.MANIFEST``), a temporary file of a running write,
    or a rejected-rows file beside its output."""
    from tracelab.outputs import MANIFEST, is_temporary

    if any(is_temporary(part) for part in path.relative_to(top).parts):
        return True
    folder = path.parent
    while True:
        if (folder / MANIFEST).is_file():
            return True
        if folder == top or folder.parent == folder:
            break
        folder = folder.parent
    name = path.name
    if ".rejected." in name:
        from tracelab.ingest.writer import is_rejected_file

        return is_rejected_file(path)
    return False


def _walk(top: Path) -> list[Path]:
    """Every path below the folder ``top``, sorted; a folder that cannot be listed is an
    error naming it (not a silently empty folder)."""
    import os

    def refuse(exc: OSError) -> None:
        msg = (f"{exc.filename or top}: cannot list the folder ({exc.strerror}); check its "
               "permissions")
        raise InputFileError(msg)

    found = [Path(root) / name for root, dirs, names in os.walk(top, onerror=refuse)
             for name in [*dirs, *names]]
    return sorted(found)


def discover(paths: str | Path | Sequence[str | Path],
             skipped: list[Path] | None = None) -> list[Path]:
    """Every trace file named by ``paths``, in order, without duplicates.

    In a folder, files tracelab wrote (a report or plan folder, a rejected-rows file, a
    write in progress) are not inputs: they are left out and appended to ``skipped``."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        msg = "no input given; pass a trace file, glob or directory"
        raise InputFileError(msg)
    found: list[Path] = []
    for item in items:
        try:
            _discover_one(item, found, skipped)
        except PermissionError as exc:
            msg = (f"{exc.filename or item}: permission denied; check the permissions of the "
                   "file and the folders above it")
            raise InputFileError(msg) from None
    return _checked(list(dict.fromkeys(found)))


def _discover_one(item: str | Path, found: list[Path], skipped: list[Path] | None) -> None:
    text = str(item)
    if is_remote(item):
        found.extend(_discover_remote(text))
        return
    if _GLOB_CHARS & set(text) and not Path(text).exists():
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True))  # noqa: PTH207 (absolute patterns)
        files = [m for m in matches if m.is_file()]
        if not files:
            msg = f"{text}: the glob matches no file; check the pattern and quote it"
            raise InputFileError(msg)
        found.extend(files)
        return
    path = Path(text)
    if path.is_dir():
        files = []
        for p in _walk(path):
            if not (file_kind(p) and p.is_file()):
                continue
            if _tracelab_output(p, path):
                if skipped is not None and not p.name.startswith("."):
                    skipped.append(p)
                continue
            files.append(p)
        if not files:
            msg = f"{path}: the directory holds no .parquet, .jsonl or .csv file"
            raise InputFileError(msg)
        found.extend(files)
    elif path.is_file():
        found.append(path)
    else:
        msg = f"{path}: no such file or directory"
        raise InputFileError(msg)


def _checked(unique: list[Path]) -> list[Path]:
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

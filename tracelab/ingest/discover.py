"""Turn the user's inputs (files, globs, directories) into a list of trace files.

A directory is searched recursively for ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``/
``.json`` and ``.csv`` files (each optionally ``.gz``), so hive-partitioned Parquet
(``dir/day=2024-05-10/part-0.parquet``) is read whole; the ``key=value`` folder names
become extra columns (see ``hive_columns``).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

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
    return unique


def hive_columns(path: Path) -> dict[str, str]:
    """``key=value`` folder names above ``path`` (hive partitioning) as extra columns."""
    parts = [p for p in path.parent.parts if "=" in p]
    return dict(p.split("=", 1) for p in parts)

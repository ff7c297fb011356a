"""Read a TOML data file and validate it against a JSON Schema from ``schemas/``.

Package data and users' override files go through the same door, so a bad user file
fails with the same one-line ``ConfigError`` naming the file, the entry and the field.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from tracelab.errors import ConfigError
from tracelab.resources import schema_path


@cache
def _schema(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def where(path: Path, location: list[str | int]) -> str:
    """``FILE entry 'x' field 'y'`` for a JSON path like ``['devices', 'x', 'y']``."""
    parts = [str(p) for p in location]
    text = str(path)
    if len(parts) >= 3:
        text += f" entry '{parts[1]}' field '{'.'.join(parts[2:])}'"
    elif len(parts) == 2:
        text += f" [{parts[0]}] field '{parts[1]}'"
    elif parts:
        text += f" key '{parts[0]}'"
    return text


def read_validated_toml(path: Path, schema_name: str) -> dict[str, Any]:
    """Parse ``path`` as TOML and validate it; ``ConfigError`` (one line) when unusable."""
    import jsonschema

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        msg = f"{path}: file not found; pass an existing TOML file"
        raise ConfigError(msg) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: not readable TOML ({' '.join(str(exc).split())}); fix the syntax"
        raise ConfigError(msg) from None
    validator = jsonschema.Draft202012Validator(_schema(schema_name))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        location = list(err.absolute_path)
        text = " ".join(err.message.split())
        missing = re.match(r"'([^']+)' is a required property", err.message)
        if err.validator == "required" and missing:
            location.append(missing.group(1))
            text = "missing; add it"
        msg = f"{where(path, location)}: {text} (see schemas/{schema_name})"
        raise ConfigError(msg)
    return data

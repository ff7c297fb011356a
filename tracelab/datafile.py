"""The one loader of TOML data files: parse, then validate against a JSON Schema from
``schemas/``.

Package data and users' override files (catalog, models, profile, label thresholds, SLOs)
go through the same door, so a bad file fails with the same one-line ``ConfigError``
naming the file, the entry or key and the field, whichever file it is.
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


def where(path: Path | str, location: list[str | int]) -> str:
    """``FILE entry 'x' field 'y'`` for a JSON path into a table of entries (``['devices',
    'x', 'y']``), ``FILE [table] field 'y'`` for a key of a table, ``FILE key 'a'``."""
    parts = [str(p) for p in location]
    text = str(path)
    if len(parts) >= 3:
        text += f" entry '{parts[1]}' field '{'.'.join(parts[2:])}'"
    elif len(parts) == 2:
        text += f" [{parts[0]}] field '{parts[1]}'"
    elif parts:
        text += f" key '{parts[0]}'"
    return text


def read_toml(path: Path | str) -> dict[str, Any]:
    """Parse ``path`` as TOML; ``ConfigError`` (one line) when missing, unreadable or not TOML."""
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        msg = f"{path}: file not found; pass an existing TOML file"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the file ({exc.strerror}); pass a readable TOML file"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML ({' '.join(str(exc).split())}); fix the syntax"
        raise ConfigError(msg) from None


def validate_data(data: dict[str, Any], schema_name: str, path: Path | str) -> None:
    """Check ``data`` (read from ``path``) against ``schemas/<schema_name>``; the first
    problem (by location) is a one-line ``ConfigError``: an unknown key with the keys allowed
    there, a missing field, or the schema's complaint about a value."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema(schema_name))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    err = errors[0]
    location = list(err.absolute_path)
    text = f"{' '.join(err.message.split())} (see schemas/{schema_name})"
    missing = re.match(r"'([^']+)' is a required property", err.message)
    if err.validator == "required" and missing:
        location.append(missing.group(1))
        text = "missing; add it"
    elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        if extra:
            key = ".".join([*(str(p) for p in location), extra[0]])
            shown = ", ".join(allowed) or "none"
            msg = f"{path}: unknown key {key!r}; allowed here: {shown}"
            raise ConfigError(msg)
    msg = f"{where(path, location)}: {text}"
    raise ConfigError(msg)


def read_validated_toml(path: Path | str, schema_name: str) -> dict[str, Any]:
    """``read_toml`` then ``validate_data``: a data file's content, checked."""
    data = read_toml(path)
    validate_data(data, schema_name, path)
    return data

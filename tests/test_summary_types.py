"""``schemas/summary.schema.json`` and the summary's TypedDicts say the same thing: the keys
the schema requires are the types' required keys (and the other way round), every optional
key of a type is documented by the schema, section by section, recursively."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from tracelab.report import summary_types
from tracelab.report.summary_types import ClusterRow, Summary
from tracelab.resources import schema_path

SCHEMA = json.loads(schema_path("summary.schema.json").read_text())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed and its ``allOf`` parts merged."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = {**SCHEMA["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" in node:
        parts = [_resolve(part) for part in node["allOf"]]
        node = {
            "required": [k for part in parts for k in part.get("required", [])],
            "properties": {k: v for part in parts for k, v in part.get("properties", {}).items()},
        }
    return node


def _members(hint: Any) -> list[Any]:
    """The non-None members of a union (or the type itself)."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        return [arg for arg in get_args(hint) if arg is not type(None)]
    return [hint]


def _walk(hint: Any, node: dict[str, Any], path: str, problems: list[str]) -> set[str]:
    """Compare ``hint`` with schema ``node``; the names of the TypedDicts checked."""
    node, checked = _resolve(node), set()
    for member in _members(hint):
        if is_typeddict(member):
            checked |= _check(member, node, path, problems)
        elif get_origin(member) is list and "items" in node:
            checked |= _walk(get_args(member)[0], node["items"], f"{path}[]", problems)
        elif get_origin(member) is dict and isinstance(node.get("additionalProperties"), dict):
            checked |= _walk(get_args(member)[1], node["additionalProperties"], f"{path}{{}}",
                             problems)
    return checked


def _check(typed: Any, node: dict[str, Any], path: str, problems: list[str]) -> set[str]:
    required = set(node.get("required", []))
    if required != set(typed.__required_keys__):
        problems.append(
            f"{path or '/'} ({typed.__name__}): schema requires {sorted(required)}, "
            f"the type {sorted(typed.__required_keys__)}")
    documented = set(node.get("properties", {}))
    undocumented = set(typed.__optional_keys__) - documented
    if undocumented:
        problems.append(f"{path or '/'} ({typed.__name__}): {sorted(undocumented)} undocumented")
    hints = get_type_hints(typed)
    checked = {typed.__name__}
    for key, prop in node.get("properties", {}).items():
        if key in hints:
            checked |= _walk(hints[key], prop, f"{path}/{key}", problems)
    return checked


def test_the_schema_and_the_types_require_the_same_keys() -> None:
    problems: list[str] = []
    checked = _walk(Summary, SCHEMA, "", problems)
    assert not problems, "\n".join(problems)
    every = {name for name, value in vars(summary_types).items()
             if is_typeddict(value) and value.__module__ == summary_types.__name__}
    # MixRow is only a base (of LabelRow and ClusterRow).
    assert every - checked == {"MixRow"}, "every section type is reached from Summary"


def test_a_drift_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check fails when the schema and a type disagree (so the test above can fail)."""
    clusters = SCHEMA["properties"]["clusters"]["items"]["allOf"][1]
    monkeypatch.setitem(clusters, "required", ["cluster"])
    problems: list[str] = []
    _walk(Summary, SCHEMA, "", problems)
    assert problems == [
        f"/clusters[] ({ClusterRow.__name__}): schema requires "
        f"{sorted([*SCHEMA['$defs']['mix_row']['required'], 'cluster'])}, the type "
        f"{sorted(ClusterRow.__required_keys__)}"]

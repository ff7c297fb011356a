"""No ``Any`` in the public signatures of the pipeline, the plan and the summary: what a
caller passes and gets back is a type mypy can check (dataclasses, TypedDicts, frames)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import tracelab.pipeline
import tracelab.plan

PACKAGES = (tracelab.pipeline, tracelab.plan)
MODULES = ("tracelab.report.summary_types", "tracelab.report.summary")
ANY = re.compile(r"\bAny\b")


def _modules() -> list[str]:
    names = [name for package in PACKAGES for name in (
        package.__name__,
        *(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)))]
    return [*names, *MODULES]


def _annotations(owner: object) -> dict[str, object]:
    """The annotations written on a function, or on a class and its own bases."""
    if inspect.isclass(owner):
        return {key: value for base in reversed(owner.__mro__)
                if base.__module__ not in ("builtins", "typing")
                for key, value in vars(base).get("__annotations__", {}).items()}
    return dict(getattr(owner, "__annotations__", {}))


def _public(module: ModuleType) -> Iterator[tuple[str, object]]:
    """Public functions and classes defined in ``module``, and the public methods and
    properties of those classes (``__init__`` included)."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            yield name, obj
            for attr, member in vars(obj).items():
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) and (not attr.startswith("_")
                                                   or attr == "__init__"):
                    yield f"{name}.{attr}", member


def _uses_any(owner: object) -> list[str]:
    """The annotated names of ``owner`` whose type mentions ``Any`` (string annotations
    under ``from __future__ import annotations``, evaluated ones otherwise)."""
    return [key for key, value in _annotations(owner).items()
            if ANY.search(value if isinstance(value, str) else repr(value))]


def test_the_check_sees_any() -> None:
    def loose(x: dict[str, Any]) -> int: ...
    def tight(x: dict[str, int]) -> int: ...
    class Loose:
        field: list[Any]

    assert _uses_any(loose) == ["x"]
    assert _uses_any(tight) == []
    assert _uses_any(Loose) == ["field"]


@pytest.mark.parametrize("module_name", _modules())
def test_no_any_in_public_signatures(module_name: str) -> None:
    module = importlib.import_module(module_name)
    found = [f"{name}: {', '.join(keys)}" for name, owner in _public(module)
             if (keys := _uses_any(owner))]
    assert found == [], f"{module_name}: Any in the public signature of {found}"


def test_the_modules_are_found() -> None:
    names = _modules()
    assert {"tracelab.pipeline.run", "tracelab.plan.fit", "tracelab.plan.model"} <= set(names)
    fit = importlib.import_module("tracelab.plan.fit")
    assert {"fit_plan", "Plan.usd_per_hour"} <= {name for name, _ in _public(fit)} | {
        name for name, _ in _public(importlib.import_module("tracelab.plan.model"))}

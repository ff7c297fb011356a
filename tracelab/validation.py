"""Declared constraints on options, checked once and up front with one message template.

Modelled on scikit-learn's ``_param_validation``: each option names the constraints its
value may satisfy (an ``Interval``, a set of ``Options``, or ``None`` for "may be absent"),
and ``validate_params`` raises ``ParamError`` ("window_s 0.0: must be a number in the range
(0, inf)") for the first value that satisfies none. A front end renders the same sentence
with its own spelling of the option (``ParamError.render``).

```python
validate_params({"growth": 0.0}, {"growth": [Interval(float, 0, None, closed="neither")]})
# ParamError: growth 0.0: must be a number in the range (0, inf)
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tracelab.errors import ParamError

Closed = Literal["left", "right", "both", "neither"]


@dataclass(frozen=True)
class Interval:
    """A real (``float``) or integer (``int``) value between ``left`` and ``right`` (None:
    unbounded), including the ends ``closed`` names. NaN, infinities and booleans never
    satisfy it."""

    kind: type[int] | type[float]
    left: float | None
    right: float | None
    closed: Closed = "both"

    def is_satisfied_by(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.left is not None:
            low_in = self.closed in ("left", "both")
            if value < self.left or (value == self.left and not low_in):
                return False
        if self.right is not None:
            high_in = self.closed in ("right", "both")
            if value > self.right or (value == self.right and not high_in):
                return False
        return True

    def __str__(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        low = "-inf" if self.left is None else _bound(self.left)
        high = "inf" if self.right is None else _bound(self.right)
        opening = "[" if self.left is not None and self.closed in ("left", "both") else "("
        closing = "]" if self.right is not None and self.closed in ("right", "both") else ")"
        return f"{kind} in the range {opening}{low}, {high}{closing}"


def _bound(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(self.values)


Constraint = Interval | Options | None


def _satisfies(value: object, constraint: Constraint) -> bool:
    return value is None if constraint is None else constraint.is_satisfied_by(value)


def describe(constraints: Sequence[Constraint]) -> str:
    """``"must be an integer in the range [1, 64] or absent"``: the template's reason."""
    words = [str(c) for c in constraints if c is not None]
    text = " or ".join(words) if words else "absent"
    if None in constraints and words:
        text += " or absent"
    return f"must be {text}"


def check_param(name: str, value: object, constraints: Sequence[Constraint]) -> None:
    """Raise ``ParamError`` unless ``value`` satisfies one of ``constraints``."""
    if not any(_satisfies(value, c) for c in constraints):
        raise ParamError(param=name, value=value, reason=describe(constraints))


def validate_params(values: Mapping[str, object],
                    constraints: Mapping[str, Sequence[Constraint]]) -> None:
    """Check every value of ``values`` that has declared constraints, in declaration order."""
    for name, allowed in constraints.items():
        if name in values:
            check_param(name, values[name], allowed)

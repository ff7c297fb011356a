"""Sparse constraint rows and the LP that re-routes a fixed fleet (``tracelab.plan.milp``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_array


class Rows:
    """A sparse constraint matrix built row by row: lower ≤ Σ vals·x[cols] ≤ upper."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, terms: Sequence[tuple[int, float]], lower: float, upper: float) -> int:
        row = len(self.lower)
        for col, val in terms:
            self.rows.append(row)
            self.cols.append(col)
            self.vals.append(val)
        self.lower.append(lower)
        self.upper.append(upper)
        return row

    def extend(self, row: int, col: int, val: float) -> None:
        self.rows.append(row)
        self.cols.append(col)
        self.vals.append(val)


def polish(x: np.ndarray, n_pool: int, matrix: csr_array, n_class: int,
            linear: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """With the replicas of ``x`` fixed, the route fractions of least linear cost (the
    tie-break, as one LP) over the routes whose two pools (``ends``: pool indices per route)
    were bought; ``x`` unchanged if that LP fails."""
    from scipy.optimize import linprog

    fleet = np.round(x[:n_pool])
    a = matrix[:, n_pool:]
    bought = (fleet[ends[:, 0]] > 0) & (fleet[ends[:, 1]] > 0)
    # Pool rows: Σ load·z ≤ n_k; class rows: Σ z = 1.
    result = linprog(linear, A_ub=a[:n_pool], b_ub=fleet, A_eq=a[n_pool:n_pool + n_class],
                     b_eq=np.ones(n_class), bounds=list(zip(np.zeros(len(linear)),
                                                            bought.astype(float), strict=True)),
                     method="highs")
    if result.status != 0 or result.x is None:
        return x
    return np.r_[fleet, result.x]

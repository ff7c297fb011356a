"""The solver's budget and manners: a CPU-time ``Deadline`` shared by every solve of a plan,
and a quiet stdout while HiGHS runs."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# CPU seconds for every solve of one plan (the plan and its baselines together, solved
# WORKERS at a time). Measured on a 2-core machine with the linking rows of ``milp``: a
# 10M-request trace (73 classes, 3,152 routes in 5 models) gets $1,001.4–1,006.5/h at a
# 1.3–2.4 % gap (its optimum, $1,000.58/h, takes ~3 s to prove); a 1M trace gets its
# optimum, $1,105.69/h, or within 0.1 % of it.
PLAN_BUDGET_S = 1.0
# Least CPU fraction assumed when stretching a share into a wall-clock limit.
MIN_CPU_FRACTION = 0.25


class Deadline:
    """A budget of CPU seconds shared by several solves.

    HiGHS's time limit is wall-clock and it runs on one core, so on a loaded machine a wall
    limit buys less search and a worse fleet. Each solve's CPU share is therefore turned
    into a wall limit by the CPU fraction the previous solve got (``observe``, with the CPU
    time of the solver's own thread; clamped to [MIN_CPU_FRACTION, 1]): the search, and so
    the fleet found, depends far less on load."""

    def __init__(self, seconds: float, cpu_fraction: float = 1.0) -> None:
        self.until = time.process_time() + seconds
        self.cpu_fraction = cpu_fraction

    def remaining(self) -> float:
        """CPU seconds left (0 once spent)."""
        return max(0.0, self.until - time.process_time())

    def part(self, seconds: float) -> Deadline:
        """A sub-budget of ``seconds`` CPU seconds that starts from this one's CPU fraction."""
        return Deadline(seconds, self.cpu_fraction)

    def wall_limit(self, cpu_seconds: float) -> float:
        """Wall-clock seconds HiGHS may take to get ``cpu_seconds`` of CPU."""
        return cpu_seconds / self.cpu_fraction

    def observe(self, wall_s: float, cpu_s: float) -> None:
        if wall_s > 0.02:
            self.cpu_fraction = min(1.0, max(MIN_CPU_FRACTION, cpu_s / wall_s))


_QUIET = threading.Lock()
_quiet_depth = 0
_saved_stdout = -1


@contextmanager
def quiet_native_stdout() -> Iterator[None]:
    """Silence what native code writes to file descriptor 1 while the solver runs.

    HiGHS 1.12 (bundled with scipy 1.17) prints
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();`` with a bare
    ``printf`` that ignores ``disp=False`` and every output option (ERGO-Code/HiGHS#2783), so
    only pointing fd 1 at ``os.devnull`` around the call keeps stdout for data. Nested and
    concurrent uses (solver threads) share one redirection: the first in points fd 1 at
    ``os.devnull``, the last out restores it.
    """
    global _quiet_depth, _saved_stdout
    with _QUIET:
        if _quiet_depth == 0:
            try:
                sys.stdout.flush()
                saved = os.dup(1)
            except (OSError, ValueError):
                saved = -1
            if saved >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
            _saved_stdout = saved
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _saved_stdout >= 0:
                os.dup2(_saved_stdout, 1)
                os.close(_saved_stdout)
                _saved_stdout = -1

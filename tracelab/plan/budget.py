"""The solver's budget and manners: a CPU-time ``Deadline`` shared by every solve of a plan,
and a quiet stdout while HiGHS runs."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

# CPU seconds for every solve of one plan (the plan and its baselines together).
# Measured on a 2-core machine: a 1M-request trace (71 classes, 3,044 routes in 5 models)
# finds its best fleet within ~0.1 s per model and spends the rest proving it.
PLAN_BUDGET_S = 2.0
# Least CPU fraction assumed when stretching a share into a wall-clock limit.
MIN_CPU_FRACTION = 0.25


class Deadline:
    """A budget of CPU seconds shared by several solves.

    HiGHS's time limit is wall-clock and it runs on one core, so on a loaded machine a wall
    limit buys less search and a worse fleet. Each solve's CPU share is therefore turned
    into a wall limit by the CPU fraction the previous solve got (``observe``; clamped to
    [MIN_CPU_FRACTION, 1]): the search, and so the fleet found, depends far less on load."""

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


@contextmanager
def quiet_native_stdout() -> Iterator[None]:
    """Silence what native code writes to file descriptor 1 while the solver runs.

    HiGHS 1.12 (bundled with scipy 1.17) prints
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();`` with a bare
    ``printf`` that ignores ``disp=False`` and every output option (ERGO-Code/HiGHS#2783), so
    only pointing fd 1 at ``os.devnull`` around the call keeps stdout for data.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)

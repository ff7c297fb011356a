"""The solver's budget: a CPU-time ``Deadline`` shared by every solve of a plan."""

from __future__ import annotations

import time

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


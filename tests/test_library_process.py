"""A library call leaves the caller's process as it was: the cyclic garbage collector
(enabled, thresholds, frozen objects) and file descriptor 1 (never redirected, not even
while the solver runs)."""

from __future__ import annotations

import gc
import os
import threading

from conftest import REPO_ROOT

MOONCAKE = REPO_ROOT / "sample_traces" / "sample.mooncake.jsonl"


def test_run_pipeline_leaves_the_collector_and_stdout_alone(monkeypatch):
    from tracelab.pipeline import PipelineOptions, run_pipeline

    redirected: list[tuple[int, int]] = []
    real_dup2 = os.dup2

    def watch(fd: int, fd2: int, inheritable: bool = True) -> int:
        redirected.append((fd, fd2))
        return real_dup2(fd, fd2, inheritable)

    monkeypatch.setattr(os, "dup2", watch)
    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count(), os.fstat(1).st_ino)
    result = run_pipeline([MOONCAKE], PipelineOptions(assume_model="llama-3.1-8b"),
                          preload=("colorsys",))
    for thread in threading.enumerate():
        if thread.name == "tracelab-imports":
            thread.join()
    assert result.plan is not None  # the solver ran
    assert not [pair for pair in redirected if pair[1] in (1, 2)]
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count(),
            os.fstat(1).st_ino) == before

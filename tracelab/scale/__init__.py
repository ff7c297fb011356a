"""Scale: bounded-memory partitioned runs, Dask executors and mergeable sketches.

``plan_partitions`` splits inputs into files / row-group ranges; an executor
(``LocalExecutor`` or ``DaskExecutor``) maps per-partition polars work over them and the
client merges the small results in partition order (``run_profile``). ``LogHistogram`` is
the 1%-relative-error quantile sketch the merged summaries use instead of full sorts.
"""

from __future__ import annotations

from tracelab.scale.executor import DaskExecutor, Executor, LocalExecutor, make_executor
from tracelab.scale.partition import Partition, plan_partitions, scan_partition
from tracelab.scale.profile import compute_partition_profile, merge_profiles, run_profile
from tracelab.scale.sketch import LogHistogram, compute_bucket_counts, merge_sketches, read_sketches

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "LogHistogram",
    "Partition",
    "compute_bucket_counts",
    "compute_partition_profile",
    "make_executor",
    "merge_profiles",
    "merge_sketches",
    "plan_partitions",
    "read_sketches",
    "run_profile",
    "scan_partition",
]

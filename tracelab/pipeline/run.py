"""``Pipeline``: the stages composed once, asked for what each verb needs.

```python
pipe = Pipeline(["trace.parquet"], PipelineOptions(assume_model="llama-3.1-8b"))
pipe.plan().usd_per_hour        # ingest → cache → features → plan (→ verify)
pipe.report().summary           # the same plan, plus clusters and the summary
```

A stage runs at most once per ``Pipeline`` and its result is kept, so a verb asking for the
plan and the report gets one plan; and ``tracelab plan`` and ``tracelab report`` on the same
trace and options call the same stages with the same inputs, so they price it the same.
Library code: it never prints. ``progress(step, done, total)`` hears about each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracelab.background import import_in_background, load_modules
from tracelab.pipeline import stages
from tracelab.pipeline.options import PipelineOptions
from tracelab.pipeline.stages import CacheCredit, Features, PathsLike, Settings
from tracelab.pipeline.summary import Summary

if TYPE_CHECKING:
    from tracelab.cache import ReuseResult
    from tracelab.ingest import Trace
    from tracelab.labels import LabeledTrace, WorkloadClusterer
    from tracelab.plan import Plan
    from tracelab.scale.executor import Executor

Progress = Callable[[str, int, int], None]
STEPS = ("ingest", "cache reuse", "features and labels", "plan", "summary")
# The clusterer's library (~1.3 s to import): loaded on a thread while polars reads.
CLUSTER_MODULES = ("sklearn.cluster", "sklearn.metrics")


@dataclass
class PipelineResult:
    """Everything a report needs: each stage's result and the summary dict."""

    trace: Trace
    labeled: LabeledTrace  # its frame (with cache_hit_tokens); no summary of its own
    cache: ReuseResult | None
    plan: Plan | None  # None when no request has a known model
    summary: Summary
    elapsed_s: float
    features: Features  # what the plan was fitted on, and whether it could be


class Pipeline:
    """The stages over the trace at ``paths`` with ``options``, each run once on demand.

    The options are checked and the files they name read when the pipeline is made
    (``stages.prepare``), before any trace is read.
    """

    def __init__(self, paths: PathsLike, options: PipelineOptions | None = None, *,
                 progress: Progress | None = None) -> None:
        self.started = time.perf_counter()
        self.paths = paths
        self.settings: Settings = stages.prepare(options or PipelineOptions())
        self._tell: Progress = progress or (lambda step, done, total: None)
        self._trace: Trace | None = None
        self._credit: CacheCredit | None = None
        self._features: Features | None = None
        self._plan: Plan | None = None
        self._labeled: LabeledTrace | None = None

    def _step(self, index: int) -> None:
        self._tell(STEPS[index], index, len(STEPS))

    def trace(self) -> Trace:
        """The ingest stage: accepted and rejected rows."""
        if self._trace is None:
            self._step(0)
            self._trace = stages.ingest(self.paths, self.settings)
        return self._trace

    def cache(self) -> CacheCredit:
        """The cache stage: reuse curve and the hits credited to the plan."""
        if self._credit is None:
            trace = self.trace()
            self._step(1)
            self._credit = stages.cache(trace, self.settings)
        return self._credit

    def features(self) -> Features:
        """The features stage (labels included), with the cache stage's hits attached."""
        if self._features is None:
            credit = self.cache()
            trace = self.trace()
            self._step(2)
            self._features = stages.features(trace, self.settings, credit)
        return self._features

    def labeled(self) -> LabeledTrace:
        """The cluster stage over the features."""
        if self._labeled is None:
            self._labeled = stages.cluster(self.features(), self.settings)
        return self._labeled

    def label(self, clusterer: WorkloadClusterer | None = None) -> LabeledTrace:
        """Every request with every feature, label, reason and cluster, and the share
        tables (``tracelab label``; ``clusterer``: a saved model instead of a fit)."""
        trace = self.trace()
        self._step(2)
        return stages.label(trace, self.settings, clusterer)

    def plan(self) -> Plan | None:
        """The plan stage, then the verify slot; None when no request's model is known or
        no request has an arrival time (``Features.plannable``)."""
        if self._plan is None:
            found = self.features()
            if not found.plannable:
                return None
            self._step(3)
            frame = (self.labeled().frame if self.settings.options.by == "cluster"
                     else found.frame)
            # The replay's window depends on the requests, not on the fleet: it is cut on a
            # second thread while the program is solved (HiGHS leaves a core free).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracelab-window") as side:
                window = side.submit(stages.replay_window, frame, self.settings)
                spans = self.trace().time_bases.spans
                fitted, self._credit, planned = stages.bound_credit(
                    stages.plan(frame, self.settings, spans), frame, self.cache(),
                    self.settings, spans)
                cut = window.result() if planned is frame else None
            self._plan = stages.schedule(stages.verify(fitted, planned, self.settings, cut),
                                         planned, self.settings)
        return self._plan

    def report(self, *, executor: Executor | None = None, preload: Sequence[str] = (),
               loader: Callable[[Sequence[str]], None] = load_modules) -> PipelineResult:
        """Every stage and the summary. The plan reads the labels, not the clusters
        (unless its classes are clusters): it is fitted on a second thread while this one
        fits the clusterer and computes the summary's aggregates. ``preload``: modules the
        caller needs afterwards, imported on a thread (with the clusterer's) meanwhile, by
        ``loader`` (a front end owning the process may tune the collector around it)."""
        from tracelab.pipeline.summary import summarize

        import_in_background(*CLUSTER_MODULES, *preload, loader=loader)
        credit = self.cache()
        found = self.features()
        by_cluster = self.settings.options.by == "cluster"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracelab-plan") as planner:
            planned = None if by_cluster else planner.submit(self.plan)
            labeled = self.labeled()
            aggregates, cluster_k = self._aggregates(labeled, credit, executor)
            fitted = self.plan() if planned is None else planned.result()
        if self.cache() is not credit:  # the plan bounded the cache credit by its fleet
            credit = self.cache()
            aggregates["totals"]["cache_hit_tokens"] = credit.hit_tokens or 0
            aggregates["totals"]["cache_hit_tokens_known"] = credit.hits_known
        self._step(4)
        elapsed = time.perf_counter() - self.started
        summary = summarize(aggregates, trace=self.trace(), settings=self.settings,
                            credit=credit, found=found, plan=fitted, cluster_k=cluster_k,
                            elapsed_s=elapsed)
        self._tell("done", len(STEPS), len(STEPS))
        return PipelineResult(trace=self.trace(), labeled=labeled, cache=credit.reuse,
                              plan=fitted, summary=summary, elapsed_s=elapsed, features=found)

    def _aggregates(self, labeled: LabeledTrace, credit: CacheCredit,
                    executor: Executor | None) -> tuple[dict[str, Any], int]:
        """The summary's workload aggregates and k: from the whole frame here, or per
        partition on ``executor`` merged in partition order (same summary either way)."""
        from tracelab.report.aggregate import compute_aggregates

        options = self.settings.options
        if executor is None:
            return compute_aggregates(labeled.frame, window_s=options.window_s), labeled.clusterer.k_
        from tracelab.scale.aggregate import LabelSettings, run_aggregates

        label_settings = LabelSettings(config=self.settings.label_config,
                                       model_map=self.settings.model_map,
                                       assume_model=options.assume_model, k=options.k,
                                       random_state=options.random_state,
                                       window_s=options.window_s,
                                       time_shift_us=self.trace().time_bases.shift_us)
        aggregates, partitioned = run_aggregates(self.paths, executor=executor,
                                                 format=options.format, settings=label_settings)
        # Simulated cache hits come from the whole-trace reuse pass, not from partitions.
        aggregates["totals"]["cache_hit_tokens"] = credit.hit_tokens or 0
        aggregates["totals"]["cache_hit_tokens_known"] = credit.hits_known
        return aggregates, int(partitioned.k_)


def run_pipeline(paths: PathsLike, options: PipelineOptions | None = None, *,
                 progress: Progress | None = None, executor: Executor | None = None,
                 preload: Sequence[str] = (), **fields: object) -> PipelineResult:
    """Run every stage on the traces at ``paths`` and summarise.

    ``options`` (or, as before, its fields as keyword arguments: ``prices=["h100-sxm=2.10"]``,
    ``slos=[...]``, ``cache_capacity=...``; see ``PipelineOptions``) are validated before any
    trace is read. ``executor``: a ``tracelab.scale`` executor (local or Dask) computing the
    summary's workload aggregates per partition. ``preload``: modules the caller needs
    afterwards (the report's chart library), imported on a thread while the stages run.
    The summary is deterministic for a given input and options except ``generated_at`` and
    ``elapsed_s`` (wall clock).
    """
    if fields:
        options = PipelineOptions.from_kwargs(base=options, **fields)
    pipe = Pipeline(paths, options, progress=progress)
    return pipe.report(executor=executor, preload=preload)

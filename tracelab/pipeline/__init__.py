"""The whole pipeline: ingest → cache reuse → features and labels → plan (→ verify) → summary.

```python
from tracelab.pipeline import PipelineOptions, run_pipeline
result = run_pipeline(["trace.parquet"], PipelineOptions(prices=("h100-sxm=2.10",)))
result.plan.usd_per_hour, result.summary["labels"]["label_mode"]
```

``options`` holds every stage's settings and their declared constraints; ``stages`` the
stages, each a function with a typed input and result; ``run`` the ``Pipeline`` composing
them, which every verb asks for the stages it needs; ``summary`` the summary stage.
"""

from __future__ import annotations

from tracelab.pipeline.options import MAX_K, PipelineOptions
from tracelab.pipeline.run import STEPS, Pipeline, PipelineResult, Progress, run_pipeline
from tracelab.pipeline.stages import DEFAULT_CACHE_KNEE, CacheCredit, Features, Settings

__all__ = [
    "DEFAULT_CACHE_KNEE",
    "MAX_K",
    "STEPS",
    "CacheCredit",
    "Features",
    "Pipeline",
    "PipelineOptions",
    "PipelineResult",
    "Progress",
    "Settings",
    "run_pipeline",
]

"""The tier-mix plan: demand per class, a MILP over devices and routes, and the ledger.

```python
from tracelab.plan import fit_plan, load_slos
plan = fit_plan(labeled.frame, perf, slos=load_slos(overrides=["interactive.tpot_s=0.02"]))
plan.fleet, plan.usd_per_hour, plan.baselines, plan.ledger_groups, plan.idle_usd
plan.ledger.sink_parquet("ledger.parquet")  # per request, lazy: stream it, never collect it
```
"""

from __future__ import annotations

from tracelab.plan.demand import Demand, compute_demand, scan_plan_requests
from tracelab.plan.fit import MAX_DEVICE_TYPES, POOLS_PER_MODEL, REFERENCE_DEVICE, fit_plan
from tracelab.plan.limits import Limits
from tracelab.plan.model import Plan
from tracelab.plan.routes import OperatingPointLike, PerfModelLike, Route
from tracelab.plan.slo import Slo, load_slos

__all__ = [
    "MAX_DEVICE_TYPES",
    "POOLS_PER_MODEL",
    "REFERENCE_DEVICE",
    "Demand",
    "Limits",
    "OperatingPointLike",
    "PerfModelLike",
    "Plan",
    "Route",
    "Slo",
    "compute_demand",
    "fit_plan",
    "load_slos",
    "scan_plan_requests",
]

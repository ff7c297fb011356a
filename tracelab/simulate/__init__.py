"""The serving simulator: replay every request of a trace through a fleet, step by step.

```python
from tracelab.simulate import Fleet, simulate
fleet = Fleet.from_plan_json(json.loads(Path("plan/plan.json").read_text()), source="plan.json")
replay = simulate(requests, fleet, perf)        # requests: scan_replay_requests(labelled)
replay.attainment("interactive"), replay.pools, replay.requests
```

``fleet`` (pools, routes, plan.json), ``engine`` (routing, pools in order), ``dispatch``
(join-shortest-queue and session affinity inside a pool), ``batching`` (the event loop:
continuous batching per replica), ``steps`` (step times from the roofline), ``result``
(percentiles, attainment, timeline, distributions), ``requests`` (the input frame, the
replayed window).
"""

from __future__ import annotations

from tracelab.simulate.engine import REQUEST_COLUMNS, SimOptions, simulate
from tracelab.simulate.fleet import Fleet, PoolSpec, RouteShare, pool_id
from tracelab.simulate.result import Replay, write_replay

__all__ = [
    "REQUEST_COLUMNS",
    "Fleet",
    "PoolSpec",
    "Replay",
    "RouteShare",
    "SimOptions",
    "pool_id",
    "simulate",
    "write_replay",
]

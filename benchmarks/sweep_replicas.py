"""Per model of a trace, one colocated replica of every device and size that holds it: the
cheapest that meet the attainment target alone, to judge a plan's fleet against.

    python benchmarks/sweep_replicas.py [TRACE] [--min 0.95]

TRACE defaults to the bundled sample. Each model's requests (labelled as ``tracelab plan``
labels the whole trace) are replayed through one colocated replica of each plannable
catalog device at 1, 2, 4 and 8 devices (the shapes the performance model can run and
whose KV holds every request); attainment counts the modes the plan holds to a latency
target, both TTFT and TPOT. Prints, per model, the cheapest shapes attaining at least
``--min`` and the cheapest reaching 99%, and the sum of those per-model minimums: no fleet
that serves each model on its own replicas costs less.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

SIZES = (1, 2, 4, 8)


def main() -> None:
    from tracelab.commands._hardware import load_perf_model, read_catalog
    from tracelab.commands._options import load_inputs
    from tracelab.errors import TracelabError
    from tracelab.labels import cluster_labeled, load_label_config, materialise_labels
    from tracelab.plan import load_slos
    from tracelab.resources import default_sample_trace
    from tracelab.simulate import Fleet, PoolSpec, RouteShare, pool_id, simulate
    from tracelab.simulate.requests import scan_replay_requests

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", type=Path, default=None)
    parser.add_argument("--min", type=float, default=0.95, dest="least")
    args = parser.parse_args()
    catalog = read_catalog(None, None)
    perf = load_perf_model(catalog, None)
    slos = load_slos()
    modes = sorted(m for m, s in slos.items() if s.ttft_s > 0 or s.tpot_s > 0)
    config = load_label_config()
    features = materialise_labels(load_inputs([args.trace or default_sample_trace()], None,
                                              False), config=config, model_map=None,
                                  assume_model=None)
    labeled = cluster_labeled(features, config=config, model_map=None, assume_model=None)
    every = scan_replay_requests(labeled.frame).collect()
    every = every.with_columns(pl.col("arrival_s") - pl.col("arrival_s").min())
    devices = [d.id for d in catalog.plannable()]
    floor, short = 0.0, []
    for model in sorted(set(every["model_id"].drop_nulls())):
        window = every.filter(pl.col("model_id") == model)
        classes = sorted(set(window["class_id"]))
        rows = []
        for device in devices:
            for size in SIZES:
                pid = pool_id(device, model, size, "colocated")
                fleet = Fleet((PoolSpec(pid, device, model, size, 1, "colocated"),),
                              tuple(RouteShare(c, pid, pid, 1.0) for c in classes))
                try:
                    held = simulate(window, fleet, perf, slos=slos).requests.filter(
                        pl.col("slo_mode").is_in(modes))
                except TracelabError:  # a shape the device cannot run
                    continue
                if held.height == 0 or not held["served"].all():
                    continue  # some request's KV does not fit one replica
                rows.append({"replica": pid, "usd_per_hour": size * catalog.get(
                    device).usd_per_hour, "attainment": float(held["meets_slo"].mean()),
                    "missed": int((~held["meets_slo"]).sum()), "held": held.height})
        table = pl.DataFrame(rows).sort("usd_per_hour", "replica")
        met = table.filter(pl.col("attainment") >= 0.99)
        if met.height:
            floor += float(met["usd_per_hour"][0])
        else:
            short.append(model)
        with pl.Config(tbl_rows=10, tbl_width_chars=160, fmt_str_lengths=60):
            print(f"{model}: {window.height:,} requests; cheapest at >= {args.least:.0%}:")
            print(table.filter(pl.col("attainment") >= args.least).head(5))
            print("cheapest at >= 99%:", met.row(0, named=True) if met.height else "none")
    print(f"sum of the per-model cheapest replicas at >= 99%: ${floor:,.2f}/h"
          + (f" (no one replica reaches 99% for {', '.join(short)})" if short else ""))


if __name__ == "__main__":
    main()

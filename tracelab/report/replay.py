"""Tables of a replay for the terminal: per pool, per class, and how far behind it fell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelab.report.fmt import num, pct

if TYPE_CHECKING:
    from tracelab.simulate import Replay


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def replay_tables(replay: Replay) -> list[Any]:
    """rich Tables: pools (replicas, utilisation, p50/p99 TTFT and TPOT, attainment,
    preemptions, max queue), classes (the same), captioned with the replay's backlog."""
    from rich.table import Table

    s = replay.summary
    overall = replay.attainment(None)
    title = (f"Replay — {num(s['requests'])} requests over {s['window_s']:,.0f} s; "
             f"{pct(overall, 2)} meet their SLO")
    pools = Table(title=title)
    for col in ("pool", "replicas", "busy", "batch", "KV", "requests", "p50 TTFT", "p99 TTFT", "p50 TPOT",
                "p99 TPOT", "meets SLO", "preempted", "max queue"):
        pools.add_column(col, justify="left" if col == "pool" else "right")
    for row in replay.pools.iter_rows(named=True):
        pools.add_row(row["pool_id"], str(row["replicas"]), pct(row["utilisation"]),
                      f"{row['mean_batch']:.1f}", pct(row["kv_share"]),
                      num(row["requests"]), _ms(row["p50_ttft_s"]), _ms(row["p99_ttft_s"]),
                      _ms(row["p50_tpot_s"]), _ms(row["p99_tpot_s"]), pct(row["attainment"], 2),
                      num(row["preemptions"]), _ms(row["max_queue_s"]))
    pools.caption = (
        f"backlog at the last arrival {num(s['backlog_at_last_arrival'])} requests, drained "
        f"{s['drain_s']:,.1f} s later; {num(s['unserved'])} unserved, "
        f"{num(s['skipped_no_model'])} without a model"
    )
    classes = Table(title="By class")
    for col in ("class", "requests", "p50 TTFT", "p99 TTFT", "p50 TPOT", "p99 TPOT",
                "meets TTFT", "meets TPOT", "meets SLO"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    for row in replay.classes.iter_rows(named=True):
        classes.add_row(row["class_id"], num(row["requests"]), _ms(row["p50_ttft_s"]),
                        _ms(row["p99_ttft_s"]), _ms(row["p50_tpot_s"]), _ms(row["p99_tpot_s"]),
                        pct(row["meets_ttft"], 2), pct(row["meets_tpot"], 2),
                        pct(row["attainment"], 2))
    return [pools, classes]

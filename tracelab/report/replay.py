"""Tables of a replay for the terminal: per pool, per class, and how far behind it fell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelab.report.fmt import num, pct

if TYPE_CHECKING:
    from tracelab.simulate import Replay


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


# Classes the terminal lists, those meeting their SLO least first; replay.json has all.
CLASS_ROWS = 12


def _pair(low: float | None, high: float | None, scale: float = 1.0, unit: str = "s") -> str:
    """``low/high unit`` to 3 significant digits, compact enough for an 80-column table."""
    def show(v: float | None) -> str:
        return "—" if v is None else f"{v * scale:.3g}"

    return f"{show(low)}/{show(high)} {unit}"


def replay_tables(replay: Replay) -> list[Any]:
    """rich Tables: pools (replicas, requests, utilisation, p50/p99 TTFT and TPOT,
    attainment), captioned with the replay's backlog, preemptions and longest queue; the
    CLASS_ROWS classes meeting their SLO least (the same, and TTFT/TPOT apart)."""
    from rich.table import Table

    s = replay.summary
    overall = replay.attainment(None)
    title = (f"Replay — {num(s['requests'])} requests over {s['window_s']:,.0f} s; "
             f"{pct(overall, 2)} meet their SLO")
    pools = Table(title=title)
    # The whole id (folded: it is the key) over its replicas and requests, so the figures
    # keep their width in 80 columns.
    pools.add_column("pool", overflow="fold")
    for col in ("busy", "TTFT p50/p99", "TPOT p50/p99", "meets SLO"):
        pools.add_column(col, justify="right")
    for row in replay.pools.iter_rows(named=True):
        size = f"{row['replicas']} replica{'s' if row['replicas'] != 1 else ''}"
        pools.add_row(f"{row['pool_id']}\n{size}, {num(row['requests'])} requests",
                      pct(row["utilisation"]), _pair(row["p50_ttft_s"], row["p99_ttft_s"]),
                      _pair(row["p50_tpot_s"], row["p99_tpot_s"], 1000.0, "ms"),
                      pct(row["attainment"], 2))
    queued = replay.pools.sort("max_queue_s", descending=True, nulls_last=True).head(1)
    longest = ("" if queued.height == 0 or queued["max_queue_s"][0] is None else
               f"; longest queue {_ms(queued['max_queue_s'][0])} ({queued['pool_id'][0]})")
    pools.caption = (
        f"backlog at the last arrival {num(s['backlog_at_last_arrival'])} requests, drained "
        f"{s['drain_s']:,.1f} s later; {num(s['unserved'])} unserved, "
        f"{num(s['skipped_no_model'])} without a model; "
        f"{num(int(replay.pools['preemptions'].sum()))} preemptions{longest}; mean batch and "
        "KV use per pool in replay.json"
    )
    ranked = replay.classes.sort(["attainment", "requests", "class_id"],
                                 descending=[False, True, False], nulls_last=True)
    classes = Table(title="By class, those meeting their SLO least first")
    classes.add_column("class", overflow="fold")
    for col in ("TTFT p50/p99", "TPOT p50/p99", "meets TTFT/TPOT", "meets SLO"):
        classes.add_column(col, justify="right")
    for row in ranked.head(CLASS_ROWS).iter_rows(named=True):
        classes.add_row(f"{row['class_id']}\n{num(row['requests'])} requests",
                        _pair(row["p50_ttft_s"], row["p99_ttft_s"]),
                        _pair(row["p50_tpot_s"], row["p99_tpot_s"], 1000.0, "ms"),
                        f"{pct(row['meets_ttft'])}/{pct(row['meets_tpot'])}",
                        pct(row["attainment"], 2))
    if ranked.height > CLASS_ROWS:
        classes.caption = (f"{CLASS_ROWS} of {num(ranked.height)} classes; every class in "
                           "replay.json (-o DIR)")
    return [pools, classes]

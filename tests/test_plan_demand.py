"""Demand per class and SLO loading, with hand-computed numbers."""

from __future__ import annotations

import polars as pl
import pytest
from plan_fakes import labeled_frame

from tracelab.errors import ConfigError
from tracelab.plan import compute_demand, load_slos


def _rows():
    # Window 0 (0-60 s): 6,000 prefill tokens; window 1: none; window 2 (120 s): 600.
    return labeled_frame([
        {"id": "a", "t": 0, "prefill": 3_000, "decode": 60},
        {"id": "b", "t": 30, "prefill": 3_000, "decode": 60},
        {"id": "c", "t": 120, "prefill": 600, "decode": 600},
    ])


def test_percentile_counts_idle_windows_and_never_falls_below_the_mean():
    d = compute_demand(_rows(), window_s=60.0, percentile=100.0)
    row = d.classes.row(0, named=True)
    assert d.windows == 3
    assert d.span_s == 120.0
    assert row["prefill_tokens_per_s"] == pytest.approx(100.0)  # 6,000 / 60
    assert row["decode_tokens_per_s"] == pytest.approx(10.0)  # 600 / 60
    low = compute_demand(_rows(), window_s=60.0, percentile=0.0).classes.row(0, named=True)
    assert low["prefill_tokens_per_s"] == pytest.approx(6_600 / 120)  # the mean floor


def test_growth_and_cache_credit():
    frame = _rows().with_columns(cache_hit_tokens=pl.lit(1_000))
    row = compute_demand(frame, window_s=60.0, percentile=100.0, growth=2.0).classes.row(
        0, named=True)
    assert row["prefill_tokens_per_s"] == pytest.approx(2 * 4_000 / 60)
    assert row["cache_hit_tokens"] == 2_600  # capped at each request's prefill: 1000 + 1000 + 600


def test_bad_settings_raise_config_error():
    with pytest.raises(ConfigError, match="percentile"):
        compute_demand(_rows(), percentile=120.0)
    with pytest.raises(ConfigError, match=r"^by "):
        compute_demand(_rows(), by="tenant")


def test_slo_defaults_and_overrides():
    slos = load_slos()
    assert slos["interactive"].tpot_s == 0.04
    assert slos["batch"].deadline_s == 86400.0
    assert slos["interactive"].ttft_budget_s(10_000) == pytest.approx(2.5)
    assert slos["batch"].ttft_budget_s(10_000) is None
    changed = load_slos(overrides=["interactive.tpot_s=0.02"])
    assert changed["interactive"].tpot_s == 0.02
    assert changed["interactive"].ttft_s == 2.0
    with pytest.raises(ConfigError, match=r"expected MODE\.FIELD=SECONDS"):
        load_slos(overrides=["tpot_s=1"])
    with pytest.raises(ConfigError, match="not a number"):
        load_slos(overrides=["batch.deadline_s=soon"])


def test_idle_windows_enter_the_percentile_as_counted_zeros():
    # Windows 0 and 2 busy (100 and 10 tok/s of prefill), 1 idle: sorted rates 0, 10, 100;
    # the median is 10, p75 halfway between 10 and 100 (polars' linear rule over 3 windows).
    for pct, want in ((50.0, 10.0), (75.0, 55.0), (25.0, 5.0)):
        row = compute_demand(_rows(), window_s=60.0, percentile=pct).classes.row(0, named=True)
        assert row["prefill_tokens_per_s"] == pytest.approx(max(want, 6_600 / 120))
    row = compute_demand(_rows(), window_s=60.0, percentile=50.0).classes.row(0, named=True)
    assert row["peak_prefill_tokens_per_s"] == pytest.approx(100.0)


SPARSE_SCRIPT = """
import sys, time
from datetime import UTC, datetime
import polars as pl
sys.path.insert(0, "tests")
from plan_fakes import labeled_frame, two_devices
from tracelab.plan import compute_demand, fit_plan
frame = labeled_frame([{"id": f"r{i}", "t": 10.0 * i, "prefill": 1000, "decode": 100}
                       for i in range(200)])
frame = frame.with_columns(pl.when(pl.col("request_id") == "r0")
                           .then(pl.lit(datetime(1970, 1, 1, tzinfo=UTC)))
                           .otherwise(pl.col("arrival_ts")).alias("arrival_ts"))
t0 = time.perf_counter()
d = compute_demand(frame)
plan = fit_plan(frame, two_devices())
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a large pytest
# process would report its parent's peak.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(d.windows, plan.usd_per_hour > 0, time.perf_counter() - t0, int(hwm.split()[1]) // 1024)
"""


def test_a_1970_row_beside_2026_rows_plans_in_bounded_memory_and_time():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SPARSE_SCRIPT], capture_output=True, text=True,
                         check=True, timeout=120)
    windows, planned, seconds, peak_mib = out.stdout.split()
    assert int(windows) > 29_000_000  # 56 years of 60 s windows, none materialised
    assert planned == "True"
    assert float(seconds) < 20.0
    assert int(peak_mib) < 700  # the materialised grid needed > 3 GB

"""Diff metrics and --fail-on gates: grammar, exact observations, one-line errors."""

from __future__ import annotations

import copy
import math

import pytest
from test_report_summary import fake_summary

from tracelab.errors import ConfigError
from tracelab.report.diff import compute_shifts, resolve_metric
from tracelab.report.gates import evaluate_gate, evaluate_gates, parse_gate


@pytest.fixture(scope="module")
def pair() -> tuple[dict, dict]:
    base = fake_summary()
    current = copy.deepcopy(base)
    current["plan"]["usd_per_mtok"] = 2.3  # +15%
    current["plan"]["fleet"][0]["devices"] = 3
    modes = {r["value"]: r for r in current["labels"]["label_mode"]}
    modes["interactive"]["share_requests"] = 0.56  # was 0.5: +6pp
    return base, current


@pytest.mark.parametrize(("text", "kind", "threshold"), [
    ("usd_per_mtok>+10%", "relative", 0.10),
    ("usd_per_mtok < -10%", "relative", -0.10),
    ("share(interactive)>+5pp", "points", 5.0),
    ("requests<-1000", "absolute", -1000.0),
    ("usd_per_mtok>2.5", "level", 2.5),
    ("share(batch)>=30%", "level", 0.30),
    ("share(mode=unknown)<=+1.5pp", "points", 1.5),
])
def test_parse_gate(text, kind, threshold):
    gate = parse_gate(text)
    assert gate.kind == kind
    assert gate.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(("text", "message"), [
    ("usd_per_mtok>>3", "cannot parse gate"),
    ("usd_per_mtok", "cannot parse gate"),
    ("usd_per_mtok>ten%", "cannot parse gate"),
    ("dollars>+10%", "unknown metric 'dollars'"),
    ("share(purple)>+5pp", "unknown label 'purple'"),
    ("share(unknown)>+5pp", "is on several axes; write share(mode=unknown) or share(model=unknown)"),
    ("share(colour=red)>+5pp", "unknown label axis 'label_colour'"),
    ("usd_per_mtok>+5pp", "not a share"),
    ("share(batch)>5pp", "'pp' is a change in points"),
    ("usd_per_mtok>10%", "not a share"),
])
def test_bad_gates_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_gate(text)


def test_gates_observe_exact_changes(pair):
    base, current = pair
    results = evaluate_gates(
        ["usd_per_mtok>+10%", "usd_per_mtok>+20%", "usd_per_mtok<-10%",
         "share(interactive)>+5pp", "share(interactive)>+7pp", "usd_per_mtok>2.25",
         "devices(h100-sxm)>+0", "requests>=+0"],
        base, current,
    )
    observed = [r.observed for r in results]
    assert observed == pytest.approx([0.15, 0.15, 0.15, 6.0, 6.0, 2.3, 1.0, 0.0])
    assert [r.crossed for r in results] == [True, False, False, True, False, True, True, True]
    assert results[0].describe() == "FAILED: usd_per_mtok>+10% (observed +15.00%)"
    assert results[1].describe() == "ok: usd_per_mtok>+20% (observed +15.00%)"


def test_relative_change_from_zero_is_infinite(pair):
    base, current = copy.deepcopy(pair[0]), copy.deepcopy(pair[1])
    base["plan"]["usd_per_mtok"] = 0.0
    result = evaluate_gate(parse_gate("usd_per_mtok>+10%"), base, current)
    assert math.isinf(result.observed)
    assert result.crossed


def test_gate_on_a_missing_section_is_an_error(pair):
    base, current = pair
    no_cache = dict(current, cache=None)
    with pytest.raises(ConfigError, match="cache_reuse is not in CURRENT"):
        evaluate_gates(["cache_reuse<-5pp"], base, no_cache)


def test_absent_label_value_has_share_zero(pair):
    base, current = pair
    metric = resolve_metric("share(very-long)", base, current)
    assert metric.read(base) == 0.0


def test_shifts_cover_the_diff_sections(pair):
    base, current = pair
    shifts = compute_shifts(base, current)
    assert list(shifts) == ["cost", "fleet", "tokens", "labels", "cache", "arrivals"]
    cost = {s.metric.name: s for s in shifts["cost"]}
    assert cost["usd_per_mtok"].relative == pytest.approx(0.15)
    assert cost["savings_vs_h100"].change == 0.0
    labels = {s.metric.name: s for s in shifts["labels"]}
    assert labels["share(mode=interactive)"].change == pytest.approx(0.06)
    fleet = {s.metric.name: s for s in shifts["fleet"]}
    assert (fleet["devices(h100-sxm)"].base, fleet["devices(h100-sxm)"].current) == (2.0, 3.0)

"""Rendering a summary: SVG charts, report.md, a self-contained report.html, the folder."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from test_report_summary import fake_summary

from tracelab.errors import TracelabError
from tracelab.report.charts import render_charts
from tracelab.report.html import render_html
from tracelab.report.markdown import render_markdown
from tracelab.report.sections import build_sections
from tracelab.report.write import write_report

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
ALL_CHARTS = ["lengths", "labels", "label_time", "arrivals", "token_flow", "fleet_cost",
              "cache_curve"]


@pytest.fixture(scope="module")
def summary() -> dict:
    return fake_summary()


@pytest.fixture(scope="module")
def charts(summary):
    return render_charts(summary)


def test_every_chart_renders_as_standalone_svg(charts):
    assert [c.name for c in charts] == ALL_CHARTS
    for chart in charts:
        assert chart.svg.startswith("<svg")
        root = ET.fromstring(chart.svg)  # well-formed XML
        assert root.tag.endswith("svg")
        assert "<metadata>" not in chart.svg
        assert not REMOTE.search(chart.svg)


def test_charts_are_deterministic(summary, charts):
    again = render_charts(summary)
    assert [c.svg for c in again] == [c.svg for c in charts]


def test_charts_without_data_are_left_out(summary):
    bare = dict(summary, plan=None, cache=None)
    names = [c.name for c in render_charts(bare)]
    assert names == ["lengths", "labels", "label_time", "arrivals"]


def test_html_is_self_contained(summary, charts):
    page = render_html(summary, charts)
    assert page.startswith("<!DOCTYPE html>")
    assert not REMOTE.search(page)
    assert "<script" not in page
    assert page.count("<svg") == len(ALL_CHARTS)
    for title in ("Workload at a glance", "Labels and clusters", "Fleet and cost",
                  "Top reasons", "Cache reuse", "What was assumed"):
        assert title in page


def test_a_reference_without_a_fleet_says_why(charts):
    summary = fake_summary()
    summary["plan"]["baselines"]["h100"] = None
    summary["plan"]["settings"]["reference_infeasible"] = "class 'x' has no route on h100-sxm"
    md = render_markdown(summary, charts)
    assert "Against everything on H100: no feasible fleet (class 'x' has no route on " \
           "h100-sxm)." in md


def test_markdown_links_the_charts_and_states_the_plan(summary, charts):
    md = render_markdown(summary, charts)
    for name in ALL_CHARTS:
        assert f"](charts/{name}.svg)" in md
    assert "Recommended fleet: **$10.00/hour**, $2.00 per 1M tokens" in md
    assert "Against all on h100-sxm (colocated): $20.00/hour, $4.00 per 1M tokens → saves 50.0%." in md
    assert "Against the best single device: no feasible fleet (cannot serve it)." in md
    assert "| h100-sxm/llama-3.1-8b/x1/colocated | 2 | 2 | $10.00 |" in md
    assert "50.0% of block references were seen before" in md


def test_sections_cover_the_issue_list(summary):
    titles = [s.title for s in build_sections(summary)]
    assert titles == ["Workload at a glance", "Labels and clusters", "Fleet and cost",
                      "Replay of the fleet", "Top reasons", "Cache reuse", "What was assumed"]


def test_no_reuse_evidence_says_so(summary):
    md = render_markdown(dict(summary, cache={"evidence": "none"}), [])
    assert "No reuse evidence in this trace" in md


def test_write_report_writes_the_folder(tmp_path, summary):
    files = write_report(summary, tmp_path / "out")
    assert files.summary.read_text().startswith("{")
    assert sorted(p.name for p in files.charts) == sorted(f"{n}.svg" for n in ALL_CHARTS)
    assert (tmp_path / "out" / "report.md").is_file()
    assert (tmp_path / "out" / "report.html").is_file()


def test_write_report_into_a_file_is_an_error(tmp_path, summary):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TracelabError, match="exists and is not a folder"):
        write_report(summary, blocker)
    with pytest.raises(TracelabError, match=r"file: cannot write \(File exists\)"):
        write_report(summary, blocker / "out")


@pytest.mark.parametrize(("timed_out", "says"), [
    (False, "its node limit on a large program: the same fleet every run"),
    (True, "its wall-clock safety limit: on a loaded machine the fleet can differ"),
])
def test_a_gap_says_what_stopped_the_solver(summary, timed_out, says):
    settings = {**summary["plan"]["settings"], "optimality_gap": 0.025,
                "solver_timed_out": timed_out}
    page = render_markdown(dict(summary, plan={**summary["plan"], "settings": settings}), [])
    assert "stopped within 2.5% of the cheapest possible fleet" in " ".join(page.split())
    assert says in " ".join(page.split())


def test_a_fleet_the_replay_grew_says_so_beside_its_unreplayed_baselines(summary):
    """Idle capacity the repair added is explained by the replay, and a baseline the
    program sized (never replayed) is not read as a saving of -500%."""
    replay = {"fluid_usd_per_hour": 2.0, "fluid_attained": 0.345}
    plan = {**summary["plan"], "usd_per_hour": 60.0, "fleet_usd": 60.0, "idle_usd": 55.0,
            "replay": replay, "savings": {"best_single": None, "h100": -2.0}}
    from tracelab.report.sections import Para, fleet

    def text(s: dict) -> str:
        return " ".join(b.text for b in fleet(s).blocks if isinstance(b, Para))

    page = text(dict(summary, plan=plan))
    assert "the fleet the program sized ($2.00/hour) met the SLO for 34.5%" in page
    assert "as the program sized it, not replayed: $20.00/hour" in page
    assert "costs 3x as much (this plan's own fleet cost $2.00/hour before its replay)" in page
    assert "saves -" not in page
    unreplayed = text(summary)
    assert "→ saves 50.0%" in unreplayed
    assert "not replayed" not in unreplayed

"""report.html opened in headless Chromium: no console errors, every chart drawn, offline.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` package (no browser
download: playwright drives the system Chromium). Skips with the reason when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_report_render import ALL_CHARTS
from test_report_summary import fake_summary

from tracelab.report.write import write_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    if CHROMIUM.is_file():
        return str(CHROMIUM)
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return found


def test_report_html_renders_in_chromium(tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    executable = _chromium()
    files = write_report(fake_summary(), tmp_path / "report")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(files.html.as_uri())
            page.wait_for_load_state("load")
            boxes = {}
            for name in ALL_CHARTS:
                svg = page.locator(f"#chart-{name} svg")
                assert svg.count() == 1, name
                boxes[name] = svg.bounding_box()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    for name, box in boxes.items():
        assert box is not None, name
        assert box["width"] > 100, (name, box)
        assert box["height"] > 100, (name, box)
    assert (tmp_path / "report.png").stat().st_size > 10_000

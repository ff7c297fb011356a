"""House style: no module passes 400 lines (STYLE.md: split it by what it does). Held here for
the simulator and the report, whose loops and sections grow fastest."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracelab

LIMIT = 400


@pytest.mark.parametrize("package", ["simulate", "report"])
def test_no_module_passes_the_limit(package: str) -> None:
    root = Path(tracelab.__file__).parent / package
    long = {p.name: n for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > LIMIT}
    assert long == {}

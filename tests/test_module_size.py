"""House style: no module passes 400 lines (STYLE.md: split it by what it does)."""

from __future__ import annotations

from pathlib import Path

import tracelab

LIMIT = 400


def test_no_module_in_the_package_passes_the_limit() -> None:
    root = Path(tracelab.__file__).parent
    long = {str(p.relative_to(root)): n for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > LIMIT}
    assert long == {}

"""Background imports load their modules; the library leaves the process as it found it,
and only the CLI pauses and freezes the cyclic collector around its imports."""

from __future__ import annotations

import subprocess
import sys

JOIN = "[t.join() for t in threading.enumerate() if t.name == 'tracelab-imports']\n"
STATE = "print('colorsys' in sys.modules, gc.isenabled(), gc.get_freeze_count())\n"


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_library_background_import_leaves_the_collector_alone():
    code = (
        "import gc, sys, threading\n"
        "from tracelab.background import import_in_background\n"
        "import_in_background('colorsys', 'no_such_module_here')\n" + JOIN + STATE
    )
    assert _run(code) == ["True", "True", "0"]


def test_cli_loader_freezes_the_imported_objects_and_reenables_the_collector():
    code = (
        "import gc, sys, threading\n"
        "from tracelab.background import import_in_background\n"
        "from tracelab.commands._process import load_paused\n"
        "import_in_background('colorsys', 'no_such_module_here', loader=load_paused)\n"
        + JOIN + STATE
    )
    loaded, enabled, frozen = _run(code)
    assert (loaded, enabled) == ("True", "True")
    assert int(frozen) > 0

"""Background imports load their modules and leave the cyclic collector as they found it."""

from __future__ import annotations

import gc
import subprocess
import sys


def test_background_import_loads_the_module_and_reenables_the_collector():
    code = (
        "import gc, sys, threading\n"
        "from tracelab.background import import_in_background\n"
        "import_in_background('colorsys', 'no_such_module_here')\n"
        "[t.join() for t in threading.enumerate() if t.name == 'tracelab-imports']\n"
        "print('colorsys' in sys.modules, gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True", "True"]
    assert gc.isenabled()

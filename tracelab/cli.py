"""The ``tracelab`` command: thin verbs over the library, one module each in ``commands/``."""

from __future__ import annotations

import importlib
import importlib.util

import typer

app = typer.Typer(
    name="tracelab",
    help="Where did each LLM token go, and where should it go? "
    "Reads serving logs, labels the workload and plans the hardware tier mix.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# The pipeline's verbs, in the order `tracelab --help` lists them.
VERBS = (
    "report",
    "ingest",
    "inspect",
    "formats",
    "label",
    "cache",
    "plan",
    "diff",
    "hardware",
    "models",
    "perf",
    "calibrate",
    "synth",
)

for _verb in VERBS:
    if importlib.util.find_spec(f"tracelab.commands.{_verb}") is not None:
        importlib.import_module(f"tracelab.commands.{_verb}").register(app)

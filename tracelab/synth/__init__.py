"""Synthetic LLM serving traces: workload mixes, the generator and renderers for other formats."""

from __future__ import annotations

from tracelab.synth.generate import generate_trace, write_large_trace
from tracelab.synth.render import RENDERERS, render_trace
from tracelab.synth.samples import SAMPLES, write_samples
from tracelab.synth.workloads import MIXES

__all__ = [
    "MIXES",
    "RENDERERS",
    "SAMPLES",
    "generate_trace",
    "render_trace",
    "write_large_trace",
    "write_samples",
]

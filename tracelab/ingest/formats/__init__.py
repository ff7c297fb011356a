"""The registry of supported log formats: name → ``Adapter``.

Adding a format is one module here exposing ``ADAPTER`` plus one line below. Sniffing
tries the adapters in registry order, so specific formats come before generic ones and
``canonical`` comes last.
"""

from __future__ import annotations

from tracelab.ingest.formats import (
    aiperf,
    anthropic,
    azure,
    bedrock,
    burstgpt,
    canonical,
    gemini,
    helicone,
    langfuse,
    litellm,
    mooncake,
    openai,
    openrouter,
    otel,
    servegen,
)
from tracelab.ingest.formats.base import Adapter, RawSource, Sample

# Listing order (`tracelab formats`); detection order is DETECT_ORDER below.
_ADAPTERS: list[Adapter] = [
    canonical.ADAPTER,
    openai.ADAPTER,
    openai.BATCH_ADAPTER,
    anthropic.ADAPTER,
    anthropic.BATCH_ADAPTER,
    otel.ADAPTER,
    litellm.ADAPTER,
    bedrock.ADAPTER,
    gemini.ADAPTER,
    langfuse.ADAPTER,
    helicone.ADAPTER,
    openrouter.ADAPTER,
    aiperf.ADAPTER,
    azure.ADAPTER,
    burstgpt.ADAPTER,
    mooncake.ADAPTER,
    mooncake.GUIDELLM_ADAPTER,
    servegen.ADAPTER,
]

FORMATS: dict[str, Adapter] = {adapter.name: adapter for adapter in _ADAPTERS}

# Specific formats first; canonical (any file with input_tokens/output_tokens) last.
# ServeGen before Mooncake: both have input_length/output_length.
DETECT_ORDER: tuple[str, ...] = (
    *(name for name in FORMATS if name not in ("canonical", "mooncake")),
    "mooncake",
    "canonical",
)

__all__ = ["FORMATS", "Adapter", "RawSource", "Sample"]

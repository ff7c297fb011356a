"""Declarative workload mixes for the synthetic trace generator, with the figures they follow.

Every token distribution is a lognormal given by its median and log-standard-deviation
``sigma`` (so p90 = median · exp(1.2816 · sigma)). Where the figure comes from:

* Code completion — Splitwise (Patel et al., ISCA'24), Azure LLM inference trace 2023,
  coding service: median 1500 prompt / 13 output tokens. The sigmas are fitted to the p90
  of the public file ``AzureLLMInferenceTrace_code.csv`` (p50 1469, p90 5188 prompt → 0.98;
  p50 13, p90 55 output → 1.12).
* Chat (conversation) — Splitwise conversation service: median 1020 prompt / 129 output.
  Output sigma fitted to ``AzureLLMInferenceTrace_conv.csv`` (p90 424 → 0.93). Chat is
  multi-turn, so the prompt of turn k is the previous prompt + previous answer + the new
  user message; the first-turn median (720) was chosen so that the all-turn median lands on
  Splitwise's 1020 (checked in ``tests/test_synth_generate.py``). Turns per conversation
  are geometric with mean 2.0 and user messages have median 70 tokens: LMSYS-Chat-1M
  (Zheng et al., ICLR'24, Table 1: 2.0 turns per conversation, 69.5 prompt tokens per turn).
* RAG / long context — Mooncake (Qin et al., FAST'25) Kimi conversation trace
  ``conversation_trace.jsonl``: prompt p50 6909, p90 27367 (sigma 1.07); output p50 350;
  output sigma 0.9 is an assumption (the file's 1.36 comes from a mass of very short
  answers that a RAG answer does not have).
* Agentic — sessions of tool-calling turns whose context grows (previous prompt + previous
  output + tool result). The all-turn prompt median is tuned to Mooncake's 6909 (checked in
  the tests) by the task (median 900) and tool-result (median 450) sizes; the per-turn
  output median 150 (short tool calls) and the 6 turns per session (geometric mean) are
  assumptions, not published figures. Every session starts with one of four agents'
  system prompts (2, 4, 6 or 8 blocks of 512 tokens) that sessions of that agent share.
* Session-heavy (``--mix sessions``) — a stress shape, not a published one: every request
  belongs to a conversation of long turns (geometric, mean 6 turns; a 3,000-token first
  prompt and 600-token later messages, so contexts reach tens of thousands of tokens),
  turns about an hour apart (think time median 3,600 s), sessions interleaved over the whole
  span (use ``--span-s 86400`` for a day) as in a window cut from a log that never stops:
  sessions that began before the window or end after it show only their turns inside it
  (``tracelab.synth.arrivals``), so the rate is the clock's, with no pile-up at either
  end; 50 tenants, four models, no prefix blocks and no cached-token counts: reuse
  can only be inferred from the sessions. The shape of issue reports of logs with a
  ``session_id`` on every row; the sizes are assumptions.
* Batch summarisation — documents follow CNN/DailyMail (See et al., ACL'17: articles 781
  words, summaries 56 words on average), at 1.3 tokens per word plus a 100-token
  instruction: median 1050 prompt, 70 output. Submitted as jobs of ~100 requests within
  a few seconds, not streamed.

Latencies come from ``MODEL_SPEEDS``: an effective prefill rate (tokens/s) and a time per
output token (s) per model under moderate load. They are anchored on the measured
Llama-3.1-8B figures on one H100 (``shared/calibration/h100/llama-8b.csv``: prefill
~35,000 tokens/s alone, decode step 8.2 ms at batch 32, 1k context); we assume a third of
the prefill rate is available to one request under load, and scale the others by active
parameters (70B on 4 GPUs with tensor parallelism). These are plausible, not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BLOCK_TOKENS = 512  # Mooncake hash_ids block size (formats.md §3.11)
MAX_CONTEXT_TOKENS = 131_072  # context window of the models below (128k)


@dataclass(frozen=True)
class LogNormal:
    """A token-count distribution: lognormal with this median and log-sd, clipped to [lo, hi]."""

    median: float
    sigma: float
    lo: int = 1
    hi: int = MAX_CONTEXT_TOKENS

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` integer token counts (int64)."""
        draws = rng.lognormal(np.log(self.median), self.sigma, size=n)
        return np.clip(np.rint(draws), self.lo, self.hi).astype(np.int64)


@dataclass(frozen=True)
class Workload:
    """One recognisable workload: how many requests, which models, which token shapes.

    ``input_tokens`` is the whole prompt of single-turn requests and the first turn of a
    session; ``turn_tokens`` the tokens a later turn adds besides the previous answer
    (a user message, a tool result). ``think_s`` is the gap between a turn's end and the
    next turn's arrival: (median, sigma) of a lognormal in seconds. ``cut_by_window``: the
    sessions outlast the span (hour-apart turns), so the span is a window cut from a
    stationary stream of sessions (``tracelab.synth.arrivals``) rather than holding whole ones.
    ``logs_cached`` False: the log has no cached-token counts (null), as many gateways.
    """

    name: str
    share: float
    endpoint: str
    streaming: bool
    models: tuple[tuple[str, float], ...]
    tenants: tuple[str, ...]
    input_tokens: LogNormal
    output_tokens: LogNormal
    turns_mean: float = 1.0
    turn_tokens: LogNormal | None = None
    think_s: tuple[float, float] = (0.0, 0.0)
    system_prompt_blocks: tuple[int, ...] = ()
    batch_job_size: int = 0
    cut_by_window: bool = False
    logs_cached: bool = True
    failure_rates: dict[str, float] = field(
        default_factory=lambda: {"error": 0.015, "cancelled": 0.008, "timeout": 0.004}
    )

    @property
    def sessions(self) -> bool:
        return self.turns_mean > 1.0


CHAT = Workload(
    name="chat",
    share=0.35,
    endpoint="chat",
    streaming=True,
    models=(
        ("meta-llama/Llama-3.1-8B-Instruct", 0.45),
        ("meta-llama/Llama-3.1-70B-Instruct", 0.35),
        ("Qwen/Qwen3-30B-A3B", 0.20),
    ),
    tenants=("team-consumer-app", "team-support-bot", "team-internal-assistant"),
    input_tokens=LogNormal(720, 0.77),
    output_tokens=LogNormal(129, 0.93, hi=4096),
    turns_mean=2.0,
    turn_tokens=LogNormal(70, 1.0, hi=8192),
    think_s=(20.0, 0.8),  # human reading + typing; assumption
)

CODE = Workload(
    name="code",
    share=0.25,
    endpoint="text_completion",
    streaming=True,
    models=(("llama-3.2-3b", 0.6), ("meta-llama/Llama-3.1-8B-Instruct", 0.4)),
    tenants=("team-ide-plugin", "team-code-review"),
    input_tokens=LogNormal(1500, 0.98, hi=16_384),
    output_tokens=LogNormal(13, 1.12, hi=1024),
)

RAG = Workload(
    name="rag",
    share=0.12,
    endpoint="chat",
    streaming=True,
    models=(("meta-llama/Llama-3.1-70B-Instruct", 0.6), ("Qwen/Qwen3-30B-A3B", 0.4)),
    tenants=("team-search", "team-legal-docs"),
    input_tokens=LogNormal(6909, 1.07, lo=256),
    output_tokens=LogNormal(350, 0.9, hi=4096),
)

AGENTIC = Workload(
    name="agentic",
    share=0.20,
    endpoint="chat",
    streaming=True,
    models=(
        ("gpt-oss-120b", 0.5),
        ("Qwen/Qwen3-30B-A3B", 0.3),
        ("meta-llama/Llama-3.1-70B-Instruct", 0.2),
    ),
    tenants=("team-coding-agent", "team-ops-agent"),
    input_tokens=LogNormal(900, 0.8, hi=32_768),  # the task, after the system prompt
    output_tokens=LogNormal(150, 0.9, hi=4096),
    turns_mean=6.0,
    turn_tokens=LogNormal(450, 1.0, hi=16_384),  # tool results
    think_s=(0.3, 0.8),  # tool execution between turns; sub-second; assumption
    system_prompt_blocks=(2, 4, 6, 8),
)

BATCH = Workload(
    name="batch",
    share=0.08,
    endpoint="batch",
    streaming=False,
    models=(("meta-llama/Llama-3.1-70B-Instruct", 0.5), ("meta-llama/Llama-3.1-8B-Instruct", 0.5)),
    tenants=("team-docs-pipeline",),
    input_tokens=LogNormal(1050, 0.5, hi=16_384),
    output_tokens=LogNormal(70, 0.4, hi=1024),
    batch_job_size=100,
    failure_rates={"error": 0.01, "cancelled": 0.0, "timeout": 0.003},
)

SESSIONS = Workload(
    name="sessions",
    share=1.0,
    endpoint="chat",
    streaming=True,
    models=(
        ("meta-llama/Llama-3.1-8B-Instruct", 0.4),
        ("meta-llama/Llama-3.1-70B-Instruct", 0.25),
        ("Qwen/Qwen3-30B-A3B", 0.2),
        ("gpt-oss-120b", 0.15),
    ),
    tenants=tuple(f"tenant-{i:02d}" for i in range(50)),
    input_tokens=LogNormal(3000, 0.9, hi=65_536),
    output_tokens=LogNormal(300, 0.9, hi=4096),
    turns_mean=6.0,
    turn_tokens=LogNormal(600, 1.0, hi=16_384),
    think_s=(3600.0, 0.7),  # turns about an hour apart; assumption
    cut_by_window=True,
    logs_cached=False,
)

MIXES: dict[str, tuple[Workload, ...]] = {
    "default": (CHAT, CODE, RAG, AGENTIC, BATCH),
    "interactive": (CHAT, CODE, RAG),
    "agentic": (AGENTIC,),
    "chat": (CHAT,),
    "sessions": (SESSIONS,),
}
# Mixes whose sessions last hours: a large trace draws every chunk over the whole span
# (sessions interleave across the day) and sorts the file by arrival at the end.
INTERLEAVED_MIXES = frozenset({"sessions"})

# model -> (effective prefill tokens/s, time per output token s); see the module docstring.
MODEL_SPEEDS: dict[str, tuple[float, float]] = {
    "llama-3.2-3b": (25_000.0, 0.006),
    "meta-llama/Llama-3.1-8B-Instruct": (12_000.0, 0.009),
    "Qwen/Qwen3-30B-A3B": (10_000.0, 0.012),
    "gpt-oss-120b": (8_000.0, 0.012),
    "meta-llama/Llama-3.1-70B-Instruct": (5_000.0, 0.025),
}

# Models that think before answering: part of their output is reasoning tokens.
REASONING_MODELS: frozenset[str] = frozenset({"Qwen/Qwen3-30B-A3B", "gpt-oss-120b"})

# Seconds after which the (synthetic) gateway gives up on a request.
TIMEOUT_S = {"interactive": 60.0, "batch": 600.0}

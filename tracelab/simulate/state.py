"""What a pool's replicas share: the per-request arrays of the replay, and how a step
shares its prefill budget (vLLM's scheduler settings)."""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan


@dataclass(frozen=True)
class Prefills:
    """How a step shares its prefill budget, in vLLM's scheduler-config names (0: no limit).

    ``long_prefill_token_threshold``: prefill tokens one request may take in a step; a prompt
    longer than it is "long". ``max_num_partial_prefills``: requests prefilling at once;
    ``max_long_partial_prefills``: long ones among them (a short request waiting behind a
    long one that finds the long slots full is admitted first)."""

    long_prefill_token_threshold: int = 0
    max_num_partial_prefills: int = 0
    max_long_partial_prefills: int = 0


class PoolState:
    """Per-request arrays of one pool (indexed by the pool's request number)."""

    def __init__(self, n: int, bucket_s: float) -> None:
        self.pre_left = [0] * n  # prefill tokens still to compute
        self.pre0 = [0] * n  # prefill tokens to recompute if preempted while prefilling
        self.kvr = [0] * n  # KV tokens reserved on admission
        self.dec_left = [0] * n  # tokens still to generate in this pool
        self.c0 = [0] * n  # KV tokens when decoding started
        self.s0 = [0] * n  # step counter when decoding started
        self.dec_end = [-1] * n  # step counter at which decoding ends (-1: not decoding)
        self.start = [NAN] * n  # first scheduled
        self.first = [NAN] * n  # first token
        self.done = [NAN] * n  # left the pool
        self.rep = [-1] * n
        self.npre = [0] * n
        # What a request adds to its replica's load (dispatch): the KV it reserves plus its
        # output in this pool (0 for all: dispatch by count).
        self.weight = [0] * n
        self.bucket_s = bucket_s

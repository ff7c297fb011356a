"""One replica's scheduler: iteration-level continuous batching, event to event.

One step of a replica (as vLLM's scheduler builds it): every running decode sequence
advances one token; running prefills, in admission order, then waiting requests (FCFS,
admitted while ``max_num_seqs``, ``max_num_partial_prefills`` and the KV capacity allow)
fill the prefill budget of the step, ``min(chunk, max_num_batched_tokens - decoders)``
tokens, each taking at most ``long_prefill_token_threshold`` (``Prefills``), so a prompt
behind a long one gets budget in the same step; when ``max_long_partial_prefills`` long
prompts are prefilling, the first short prompt waiting behind a long one goes ahead of it.
A request's first token comes at the end of the step that finishes its prefill. Admission reserves the request's whole
context in KV; each decode step adds a token per sequence; when the next step would
overflow, the most recently admitted running request is preempted (its KV freed, recomputed
later as a prefill of its context and the tokens it had generated: vLLM's recompute mode).

Event to event: a step changes nothing but token counts unless a prefill or a sequence
finishes, the KV fills, or a request arrives. So the loop asks how many steps ``k`` pass
before the next such event (the nearest decode finish, the KV headroom over the decoders,
the whole chunks left in the one prefill of the step, when its chunk is the step's whole
budget or its cap), runs them as one segment and sums
their times in closed form (``StepModel.span_s``: exact, the context grows by the batch
each step). A segment crossing an arrival at that replica is cut at the first step
boundary after it. A prefill chunk is charged its attention to the prompt before it
(chunks done, cached prefix). Cost per segment: O(prefills in the step + log batch); segments per
request: about its prefill chunks plus two (the arrival and the finish).
"""

from __future__ import annotations

import math
from collections import deque
from heapq import heappop, heappush
from typing import Any

from tracelab.simulate.state import NAN, PoolState, Prefills
from tracelab.simulate.steps import StepModel

__all__ = ["INF", "NAN", "PoolState", "Prefills", "Replica"]

INF = math.inf



class Replica:
    """One replica's scheduler state; ``advance`` runs it, ``enqueue`` hands it a request."""

    __slots__ = (
        "batch_area",
        "budget",
        "busy",
        "cap",
        "chunk",
        "clock",
        "fresh_first",
        "heap",
        "idx",
        "in_sys",
        "kv_area",
        "kv_cap",
        "kv_pre",
        "load",
        "max_long",
        "max_partial",
        "max_seqs",
        "max_span",
        "n_dec",
        "pending",
        "plan",
        "pool",
        "preemptions",
        "prefilling",
        "running",
        "s",
        "s_sum",
        "step",
        "waiting",
    )

    def __init__(self, idx: int, pool: PoolState, step: StepModel, kv_cap: float,
                 max_seqs: int, chunk: int, budget: int, max_span: int = 1 << 62,
                 prefills: Prefills | None = None) -> None:
        self.idx, self.pool, self.step = idx, pool, step
        self.max_span = max_span  # steps per segment at most (1: step by step, to check)
        self.kv_cap, self.max_seqs, self.chunk, self.budget = kv_cap, max_seqs, chunk, budget
        prefills = prefills or Prefills()
        # 1 << 62: no limit (vLLM's 0 / its V1 scheduler, which reads neither count)
        self.cap = prefills.long_prefill_token_threshold or 1 << 62
        self.max_partial = prefills.max_num_partial_prefills or 1 << 62
        self.max_long = prefills.max_long_partial_prefills or 1 << 62
        self.clock = 0.0
        self.s = 0  # steps run
        self.waiting: deque[int] = deque()
        self.running: dict[int, None] = {}  # admission order: the last is preempted first
        self.prefilling: deque[int] = deque()
        self.heap: list[tuple[int, int]] = []  # (step counter at finish, request)
        self.n_dec = 0
        self.s_sum = 0  # Σ (c0 - s0) over decoders: their KV is s_sum + n_dec·s
        self.kv_pre = 0  # KV reserved by running prefills
        self.in_sys = 0
        self.load = 0  # Σ PoolState.weight of the requests in the system (dispatch)
        self.preemptions = 0
        self.fresh_first: list[int] = []  # decode-only admissions awaiting their first step
        # Per timeline bucket the replica stepped in (sparse: a replay of logs months apart
        # touches few of its buckets): seconds stepping, decoders × seconds, KV tokens × s.
        self.busy: dict[int, float] = {}
        self.batch_area: dict[int, float] = {}
        self.kv_area: dict[int, float] = {}
        self.pending = -INF  # end of the planned, unexecuted segment (-INF: none planned)
        self.plan: tuple[Any, ...] | None = None  # that segment, ready to run

    def enqueue(self, i: int, t: float) -> None:
        if self.clock < t:
            self.clock = t
        self.waiting.append(i)
        self.pending = -INF
        self.plan = None
        self.in_sys += 1
        self.load += self.pool.weight[i]
        self.pool.rep[i] = self.idx

    def _preempt(self) -> None:
        p = self.pool
        i, _ = self.running.popitem()
        if p.dec_end[i] >= 0:
            held = p.c0[i] + self.s - p.s0[i]
            self.s_sum -= p.c0[i] - p.s0[i]
            self.n_dec -= 1
            p.dec_left[i] = p.dec_end[i] - self.s
            p.dec_end[i] = -1
            p.kvr[i] = p.pre0[i] = p.pre_left[i] = held
            if i in self.fresh_first:
                self.fresh_first.remove(i)
        else:
            self.prefilling.remove(i)
            self.kv_pre -= p.kvr[i]
            p.pre_left[i] = p.pre0[i]
        p.npre[i] += 1
        self.preemptions += 1
        self.waiting.appendleft(i)

    def _add_busy(self, t0: float, t1: float, batch: float, kv: float) -> None:
        """Spread a segment over the timeline's buckets (``batch`` decoders and ``kv`` KV
        tokens held throughout, on average)."""
        width = self.pool.bucket_s
        busy, batch_area, kv_area = self.busy, self.batch_area, self.kv_area
        b = int(t0 // width)
        while True:
            part = min(t1, (b + 1) * width) - t0
            busy[b] = busy.get(b, 0.0) + part
            batch_area[b] = batch_area.get(b, 0.0) + batch * part
            kv_area[b] = kv_area.get(b, 0.0) + kv * part
            if t1 <= (b + 1) * width:
                return
            t0, b = (b + 1) * width, b + 1

    def advance(self, until: float, cut: bool) -> None:
        """Run segments while the clock is before ``until``. ``cut``: the segment crossing
        ``until`` ends at the first step boundary after it (a request arrives here then);
        otherwise that segment is left for later (``until`` may be INF: drain)."""
        if not cut and self.pending > until:
            return  # the next segment, planned before, still ends after ``until``
        self.pending = -INF
        p = self.pool
        pre_left, kvr, dec_left, dec_end = p.pre_left, p.kvr, p.dec_left, p.dec_end
        c0, s0, start, first, done, pre0 = p.c0, p.s0, p.start, p.first, p.done, p.pre0
        weight = p.weight
        waiting, running, prefilling, heap = self.waiting, self.running, self.prefilling, self.heap
        span_s, step_s, parts = self.step.span_s, self.step.step_s, self.step.parts
        fs, bs, memo = self.step.fs, self.step.bs, self.step.packed
        cap, max_seqs, budget, chunk = self.kv_cap, self.max_seqs, self.budget, self.chunk
        lim, max_partial, max_long = self.cap, self.max_partial, self.max_long
        max_span = self.max_span
        width = p.bucket_s
        busy, batch_area, kv_area = self.busy, self.batch_area, self.kv_area
        clock, s, n_dec, s_sum, kv_pre = self.clock, self.s, self.n_dec, self.s_sum, self.kv_pre
        fresh = self.fresh_first
        while clock < until:
            plan = self.plan
            if plan is not None:  # planned by an earlier call; nothing changed since
                self.plan = None
                k, dt, takes, used, kv_dec, q, slope, first_s = plan
            else:
                kv_dec = s_sum + n_dec * s
                if n_dec and kv_pre + kv_dec + n_dec > cap:
                    self.n_dec, self.s_sum, self.kv_pre, self.s = n_dec, s_sum, kv_pre, s
                    while self.n_dec and self.kv_pre + self.s_sum + self.n_dec * (s + 1) > cap:
                        self._preempt()
                    n_dec, s_sum, kv_pre = self.n_dec, self.s_sum, self.kv_pre
                    kv_dec = s_sum + n_dec * s
                p_avail = budget - n_dec
                if p_avail > chunk:
                    p_avail = chunk
                used = 0
                takes = []
                for j in prefilling:
                    if used >= p_avail:
                        break
                    take = pre_left[j] if pre_left[j] < lim else lim
                    if take > p_avail - used:
                        take = p_avail - used
                    takes.append((j, take))
                    used += take
                while waiting and len(running) < max_seqs:
                    j = waiting[0]
                    need = kvr[j]
                    if pre_left[j] > 0:
                        if used >= p_avail or len(prefilling) >= max_partial:
                            break
                        if pre_left[j] > lim and max_long < max_partial and sum(
                                1 for x in prefilling if pre0[x] > lim) >= max_long:
                            j = next((x for x in waiting if pre_left[x] <= lim), -1)
                            if j < 0:
                                break
                            need = kvr[j]
                        if kv_pre + kv_dec + need + n_dec > cap:
                            break
                        if j == waiting[0]:
                            waiting.popleft()
                        else:
                            waiting.remove(j)  # a short prompt past the long ones (rare)
                        running[j] = None
                        prefilling.append(j)
                        kv_pre += need
                        take = pre_left[j] if pre_left[j] < lim else lim
                        if take > p_avail - used:
                            take = p_avail - used
                        takes.append((j, take))
                        used += take
                    else:  # decode-only pool: the KV arrived with the request
                        if n_dec >= budget or kv_pre + kv_dec + need + n_dec + 1 > cap:
                            break
                        waiting.popleft()
                        running[j] = None
                        c0[j], s0[j] = need, s
                        dec_end[j] = s + dec_left[j]
                        heappush(heap, (dec_end[j], j))
                        s_sum += need - s
                        n_dec += 1
                        kv_dec += need
                        fresh.append(j)
                    if start[j] != start[j]:
                        start[j] = clock
                if not n_dec and not used:
                    self.pending = INF  # idle: nothing happens here until a request comes
                    break
                k = 1 << 62
                if n_dec:
                    while dec_end[heap[0][1]] != heap[0][0]:
                        heappop(heap)
                    k = heap[0][0] - s
                    room = int((cap - kv_pre - kv_dec) // n_dec)
                    if room < k:
                        k = room
                if used:
                    if len(takes) == 1 and used == (lim if lim < p_avail else p_avail):
                        full = pre_left[takes[0][0]] // used
                        if full < k:
                            k = full
                    else:
                        k = 1
                if k > max_span:
                    k = max_span
                if k < 1:
                    k = 1
                # Step j of the segment takes const + max(u0 + du·j, v0 + dv·j) (StepModel): the
                # sum over k steps in closed form, inlined here because it runs once a segment.
                coef = memo.get((n_dec << 24) | used)
                if coef is None:
                    coef = memo[(n_dec << 24) | used] = parts(n_dec, used)
                const, fa, ba = coef
                q = 0
                slope = first_s = -1.0  # growth of the dominating line a step; -1: they cross
                if len(takes) > 1:  # several pieces: one step
                    cross = prefix = 0
                    for j, take in takes:
                        prefix += kvr[j] - pre_left[j]
                        cross += take * (kvr[j] - pre_left[j])
                    dt = step_s(n_dec, kv_dec, used, cross, prefix)
                else:
                    if takes:
                        j = takes[0][0]
                        q = kvr[j] - pre_left[j]  # tokens of its prompt before this chunk
                        u0 = fa + fs * (kv_dec + used * q)
                        v0 = ba + bs * (kv_dec + q)
                        du, dv = fs * (n_dec + used * used), bs * (n_dec + used)
                    else:
                        u0, v0 = fa + fs * kv_dec, ba + bs * kv_dec
                        du, dv = fs * n_dec, bs * n_dec
                    if k == 1:
                        dt = const + (u0 if u0 >= v0 else v0)
                    elif (u0 >= v0) == (u0 + du * (k - 1) >= v0 + dv * (k - 1)):
                        first_s, slope = (const + u0, du) if u0 >= v0 else (const + v0, dv)
                        dt = k * first_s + slope * (k * (k - 1) / 2.0)
                    else:
                        dt = span_s(n_dec, kv_dec, used, k, q)
            if clock + dt > until:
                if not cut:
                    self.pending = clock + dt
                    self.plan = (k, dt, takes, used, kv_dec, q, slope, first_s)
                    break
                if k > 1:  # at most one prefill piece: the first boundary at or after until
                    gap = until - clock
                    if slope >= 0.0:
                        if slope > 0.0:
                            lin = first_s - slope / 2.0
                            guess = math.ceil((math.sqrt(lin * lin + 2.0 * slope * gap) - lin)
                                              / slope)
                        else:
                            guess = math.ceil(gap / first_s)
                        guess = min(max(guess, 1), k)
                        while guess > 1 and (guess - 1) * first_s + slope * (
                                (guess - 1) * (guess - 2) / 2.0) >= gap:
                            guess -= 1
                        while guess < k and guess * first_s + slope * (
                                guess * (guess - 1) / 2.0) < gap:
                            guess += 1
                        k = guess
                        dt = k * first_s + slope * (k * (k - 1) / 2.0)
                    else:
                        guess = max(1, math.ceil(gap * k / dt))
                        if guess < k:
                            k = guess
                            dt = span_s(n_dec, kv_dec, used, k, q)
                            while clock + dt < until:
                                k += 1
                                dt = span_s(n_dec, kv_dec, used, k, q)
            t0 = clock
            clock = t1 = t0 + dt
            kv_mean = kv_pre + kv_dec + n_dec * (k - 1) / 2
            b = int(t0 // width)
            if b not in busy or t1 > (b + 1) * width:
                self._add_busy(t0, t1, n_dec, kv_mean)
            else:
                busy[b] += dt
                batch_area[b] += n_dec * dt
                kv_area[b] += kv_mean * dt
            s += k
            if fresh:
                t_first = t0 + (dt if k == 1 else span_s(n_dec, kv_dec, used, 1, q))
                for j in fresh:
                    first[j] = t_first
                fresh.clear()
            for j, take in takes:
                pre_left[j] -= take * k
            while heap and heap[0][0] <= s:
                end, j = heappop(heap)
                if dec_end[j] != end:
                    continue
                dec_end[j] = -1
                s_sum -= c0[j] - s0[j]
                n_dec -= 1
                done[j] = t1
                del running[j]
                self.in_sys -= 1
                self.load -= weight[j]
            for j, _ in takes:
                if pre_left[j]:
                    continue
                if prefilling[0] == j:
                    prefilling.popleft()
                else:  # a shorter prompt finished beside a capped long one
                    prefilling.remove(j)
                kv_pre -= kvr[j]
                if first[j] != first[j]:
                    first[j] = t1
                    if dec_left[j] > 0:
                        dec_left[j] -= 1
                if dec_left[j] <= 0:
                    done[j] = t1
                    del running[j]
                    self.in_sys -= 1
                    self.load -= weight[j]
                    continue
                c0[j], s0[j] = kvr[j], s
                dec_end[j] = s + dec_left[j]
                heappush(heap, (dec_end[j], j))
                s_sum += kvr[j] - s
                n_dec += 1
        self.clock, self.s, self.n_dec, self.s_sum, self.kv_pre = clock, s, n_dec, s_sum, kv_pre

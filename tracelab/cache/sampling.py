"""Pick exact or SHARDS sampling for a frame and collect its reference stream in one scan.

The rate comes from an upper bound on the references that reads no block lists
(``scan.guess_block_tokens``): exact at or below ``AUTO_SHARDS_REFERENCES``, else
``R = SHARDS_TARGET_REFERENCES / bound``. The scan then counts the references exactly; it is
repeated (rarely) when the bound was loose: exact after all, or a rate more than twice too low.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import polars as pl

from tracelab.cache.blocks import SESSION_BLOCK_TOKENS
from tracelab.cache.collect import collect_sample, first_references
from tracelab.cache.scan import SampledRefs, guess_block_tokens, prepare_frame
from tracelab.cache.sessions import SessionTurns, collect_turns
from tracelab.cache.stack import (
    compute_hit_ratios,
    compute_shards_distances,
    compute_stack_distances,
    hit_ratios_from_sorted,
    sort_warm,
)

# Streams of up to this many block references get exact stack distances (numpy, ~0.25 s per
# million references on one core of the 2-core dev machine); longer ones are SHARDS-sampled.
AUTO_SHARDS_REFERENCES = 1 << 22  # 4,194,304
# Sampled references aimed at under automatic SHARDS: 2^20 keeps the distance pass under a
# second, and FAST'15 reports mean absolute hit-ratio errors ~0.01 with far smaller samples.
SHARDS_TARGET_REFERENCES = 1 << 20  # 1,048,576
# SHARDS error is measured against the exact curve on the first references of the stream
# (kept unsampled by the main scan; see ``measure_shards_error`` for the size).
SHARDS_CHECK_REFERENCES = 1 << 19  # 524,288


def _rate_for(n_refs: int, sample_rate: float | None) -> tuple[float | None, str]:
    """The SHARDS rate (None: exact) for ``n_refs`` references and why, said in the output."""
    if sample_rate is not None:
        return (
            (None, "exact: sample rate 1")
            if sample_rate == 1
            else (sample_rate, f"SHARDS at the given rate {sample_rate:g}")
        )
    if n_refs <= AUTO_SHARDS_REFERENCES:
        return None, f"exact: {n_refs:,} block references (SHARDS above {AUTO_SHARDS_REFERENCES:,})"
    rate = min(SHARDS_TARGET_REFERENCES / n_refs, 1.0)
    return rate, (
        f"SHARDS chosen automatically: {n_refs:,} block references > "
        f"{AUTO_SHARDS_REFERENCES:,}, rate {rate:.4g} samples about "
        f"{round(rate * n_refs):,}; a sample rate of 1 is exact"
    )


def _needs_rerun(rate: float | None, n_refs: int, sample_rate: float | None) -> bool:
    """True when the bound-based automatic rate is far from the one the exact count gives."""
    if sample_rate is not None or rate is None:
        return False
    final, _ = _rate_for(n_refs, None)
    return final is None or final > 2 * rate


def _describe(refs: SampledRefs, how: str, sample_rate: float | None) -> str:
    """The automatic choice restated with the exact reference count of the stream."""
    if sample_rate is not None:
        return how
    if refs.rate is None:
        return _rate_for(refs.block_ids.size, None)[1]
    total = round(refs.block_ids.size / refs.rate)  # reads and writes, estimated from the sample
    if refs.evidence == "prefix_blocks":
        total = refs.n_reads
    return (
        f"SHARDS chosen automatically: {total:,} block references > "
        f"{AUTO_SHARDS_REFERENCES:,}, rate {refs.rate:.4g} sampled {refs.block_ids.size:,}; "
        "a sample rate of 1 is exact"
    )


def _check(rate: float | None) -> int:
    """Records to keep unsampled for the SHARDS error check (none when exact)."""
    return 0 if rate is None else SHARDS_CHECK_REFERENCES


def _session_bound(frame: pl.LazyFrame, block_tokens: int) -> tuple[int, int]:
    """(rows with a session, bound on their references: reads and output writes)."""
    tin = pl.col("input_tokens")
    ctx = tin + pl.col("output_tokens").fill_null(0)
    refs = pl.max_horizontal((tin + block_tokens - 1) // block_tokens, ctx // block_tokens)
    got = (
        frame.filter(pl.col("session_id").is_not_null())
        .select(pl.len().alias("n"), refs.sum().alias("bound"))
        .collect(engine="streaming")
    )
    return int(got["n"].item()), int(got["bound"].item() or 0)


def _none(frame: pl.LazyFrame) -> SampledRefs:
    import numpy as np

    from tracelab.cache.blocks import REJECTED_SCHEMA

    n = int(frame.select(pl.len()).collect(engine="streaming").item())
    empty = np.zeros(0, dtype=np.int64)
    return SampledRefs(
        evidence="none", block_tokens=None, rate=None, block_ids=empty.astype(np.uint64),
        row=empty, counted=empty.astype(bool), hit_tokens=empty, n_reads=0, read_tokens=0, n_rows=n,
        evidence_rows=empty, model_counts=pl.DataFrame(schema={"model": pl.String(), "count": pl.UInt32()}),
        rejected=pl.DataFrame(schema=REJECTED_SCHEMA), rows_without_evidence=n, span_hours=None,
    )  # fmt: skip


def _sessions_only(prepared: pl.LazyFrame) -> bool:
    """Rows have session ids, and none has prefix blocks or a malformed block list (one
    narrow scan)."""
    blocks, bad, sessions = prepared.select(
        pl.col("prefix_hash_blocks").is_not_null().any(),
        pl.col("_reason").is_not_null().any(),
        pl.col("session_id").is_not_null().any(),
    ).collect(engine="streaming").row(0)
    return bool(sessions and not blocks and not bad)


@overload
def collect_references(
    frame: pl.LazyFrame, sample_rate: float | None = None,
    session_block_tokens: int = SESSION_BLOCK_TOKENS, turns: Literal[False] = False,
) -> tuple[SampledRefs, str, pl.LazyFrame]: ...
@overload
def collect_references(
    frame: pl.LazyFrame, sample_rate: float | None = None,
    session_block_tokens: int = SESSION_BLOCK_TOKENS, *, turns: Literal[True],
) -> tuple[SampledRefs | SessionTurns, str, pl.LazyFrame]: ...
def collect_references(
    frame: pl.LazyFrame,
    sample_rate: float | None = None,
    session_block_tokens: int = SESSION_BLOCK_TOKENS,
    turns: bool = False,
) -> tuple[SampledRefs | SessionTurns, str, pl.LazyFrame]:
    """The (sampled) reference stream of a canonical frame, how the rate was chosen, and the
    prepared frame (``row`` numbers, parsed blocks) the stream's rows refer to.

    ``turns``: session evidence comes back as its turns (``tracelab.cache.sessions``), one
    record per request, instead of exploded block references."""
    prepared = prepare_frame(frame)
    if turns and _sessions_only(prepared):  # skip the prefix pass and the session bound
        return collect_turns(prepared, session_block_tokens), "", prepared
    block_tokens, bound = guess_block_tokens(prepared)
    if bound is None:  # a block row without input_tokens: count the references instead
        blocks = pl.col("prefix_hash_blocks").list.len().sum()
        bound = int(prepared.select(blocks).collect(engine="streaming").item() or 0)
    rate, how = _rate_for(bound, sample_rate)
    refs, sizes = collect_sample("prefix_blocks", block_tokens, rate, prepared, _check(rate))
    if refs.rows_without_evidence < refs.n_rows - refs.rejected.height or refs.rejected.height:
        top = sizes.filter(pl.col("n") == pl.col("n").max()).sort("pbt")
        actual = int(top["pbt"][0]) if top.height else 1
        if actual != block_tokens or _needs_rerun(rate, refs.n_reads, sample_rate):
            rate, how = _rate_for(refs.n_reads, sample_rate)
            refs, _ = collect_sample("prefix_blocks", actual, rate, prepared, _check(rate))
        return refs, _describe(refs, how, sample_rate), prepared
    del refs
    n_sessions, bound = _session_bound(prepared, session_block_tokens)
    if not n_sessions:
        return _none(prepared), "no reuse evidence", prepared
    if turns:
        return collect_turns(prepared, session_block_tokens), "", prepared
    rate, how = _rate_for(bound, sample_rate)
    refs, _ = collect_sample("sessions", session_block_tokens, rate, prepared)
    return refs, _describe(refs, how, sample_rate), prepared


def capacity_grid(n_distinct: int, requested: Sequence[int] | None) -> np.ndarray:
    """Powers of two up to the distinct-block count, that count, and every requested capacity."""
    grid = [1 << k for k in range(max(n_distinct, 1).bit_length()) if (1 << k) <= n_distinct]
    grid.append(max(n_distinct, 1))
    return np.unique(np.asarray(grid + list(requested or []), dtype=np.int64))


def measure_shards_error(frame: pl.LazyFrame, refs: SampledRefs, rate: float) -> dict[str, float]:
    """Max and mean |SHARDS - exact| hit ratio over the grid, on the stream's first references.

    The subset is the first ``SHARDS_CHECK_REFERENCES`` (2^19) references, kept unsampled by
    the main scan (``refs.check``; session evidence reads them with a short second scan). At
    rate R it holds about R·2^19 sampled references, fewer than the whole sample, so the error
    it reports is on the pessimistic side of the full sample's; a smaller subset would make it
    noisier and larger still, and its exact distances cost ~0.1 s, so it stays at 2^19.
    """
    if refs.check is not None:
        ids, cnt = refs.check.block_ids, refs.check.counted
    else:
        block_tokens = refs.block_tokens or 1
        ids, cnt = first_references(frame, refs.evidence, block_tokens, SHARDS_CHECK_REFERENCES)
    n = ids.size
    exact = compute_stack_distances(ids)
    n_distinct = int((exact < 0).sum())  # each block's first reference is cold
    caps = capacity_grid(n_distinct, None)
    caps = caps[caps >= 1 / rate]  # below 1/R blocks a sampled distance cannot resolve capacity
    if caps.size == 0:
        caps = np.asarray([max(n_distinct, 1)])
    approx, mask = compute_shards_distances(ids, rate)
    sampled = compute_hit_ratios(approx, caps, cnt[mask], expected_total=rate * cnt.sum())
    reads = exact[cnt]
    err = np.abs(sampled - hit_ratios_from_sorted(sort_warm(reads), reads.size, caps))
    return {"subset_references": float(n), "min_capacity_blocks": float(caps.min()),
            "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}  # fmt: skip

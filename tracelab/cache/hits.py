"""Per-request LRU cache hits from the (sampled) stack distances of a reuse pass.

Exact (no sampling): a block read hits an LRU cache of ``C`` blocks iff ``0 <= distance < C``
and a request's hits are the prompt tokens of its reads that hit.

SHARDS at rate ``R`` (Waldspurger et al., FAST'15): only the reads of sampled blocks have a
(scaled) distance. A request's hits are estimated Horvitz–Thompson style as
``sum(hit tokens of its sampled reads that hit) / R``: each read is in the sample with
probability ``R`` (the block hash is independent of the request), so over the hash draw the
estimate is unbiased for every request and any sum over requests (up to the error of the
scaled distances). One hash draw can over- or under-sample a hot block; as SHARDS-adj does
for the curve (§4.3), the difference between the expected sampled tokens ``R x all read
tokens`` and the sampled ones is credited to the hits (every capacity >= 1), spread over
requests in proportion to their estimates, so the total agrees with the adjusted curve.
One request's value is noisy (it moves in steps of about ``block_tokens / R`` and may exceed
its prompt; the plan caps credit at prefill tokens); sums over thousands of requests are
accurate. Values are rounded to whole tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.errors import ConfigError

HITS_BY_ROW_SCHEMA = {"row": pl.Int64(), "cache_hit_tokens": pl.Int64()}


@dataclass(frozen=True)
class RequestHits:
    """The counted reads' (row, tokens, distance) kept to credit hits to requests.

    ``row`` (int64 position of the request in the input frame), ``hit_tokens`` and
    ``distance`` (float64; scaled by 1/R under SHARDS; -1 cold) are aligned over the counted
    (sampled) reads. ``evidence_rows`` (sorted) are the rows with at least one reference.
    ``frame`` is the input frame with its ``row`` numbers, read only for request ids.
    """

    frame: pl.LazyFrame
    evidence: str
    row: np.ndarray
    hit_tokens: np.ndarray
    distance: np.ndarray
    evidence_rows: np.ndarray
    sample_rate: float | None
    read_tokens: int = 0

    def compute_cache_hits_by_row(self, capacity_blocks: int) -> pl.DataFrame:
        """``row``, ``cache_hit_tokens`` (Int64) for every request with reuse evidence.

        Rows ascending, the other requests absent: a left join on the input frame's row
        number (``with_row_index``) gives the per-request column, null without evidence.
        """
        if capacity_blocks < 0:
            msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
            raise ConfigError(msg)
        rows = self.evidence_rows
        hits = np.zeros(rows.size, dtype=np.int64)
        if self.row.size and rows.size:
            hit = (self.distance >= 0) & (self.distance < capacity_blocks)
            weights = (self.hit_tokens * hit).astype(np.float64)
            # every read's row is an evidence row: sum by its place among them
            place = np.searchsorted(rows, self.row)
            tokens: np.ndarray = np.bincount(place, weights=weights, minlength=rows.size)
            if self.sample_rate is not None and capacity_blocks >= 1:
                sampled_hits = float(tokens.sum())
                # SHARDS-adj in tokens: expected minus actual sampled read tokens
                adjust = self.sample_rate * self.read_tokens - float(self.hit_tokens.sum())
                scale = max(sampled_hits + adjust, 0.0) / sampled_hits if sampled_hits > 0 else 0.0
                tokens = tokens * (scale / self.sample_rate)
            hits = np.rint(tokens).astype(np.int64)
        return pl.DataFrame({"row": rows, "cache_hit_tokens": hits}, schema=HITS_BY_ROW_SCHEMA)

    def compute_cache_hits(self, capacity_blocks: int) -> pl.LazyFrame:
        """``request_id``, ``cache_hit_tokens`` per input row, in input order.

        Null for requests without reuse evidence (and for rows rejected as malformed). A lazy
        join: collecting it materialises every request id, so large traces should prefer
        ``compute_cache_hits_by_row`` or stream this frame.
        """
        by_row = self.compute_cache_hits_by_row(capacity_blocks)
        return (
            self.frame.select("row", "request_id")
            .join(by_row.lazy(), on="row", how="left", maintain_order="left")
            .select("request_id", "cache_hit_tokens")
        )


def compute_request_hits(
    frame: pl.LazyFrame,
    evidence: str,
    row: np.ndarray,
    counted: np.ndarray,
    hit_tokens: np.ndarray,
    distance: np.ndarray | None,
    evidence_rows: np.ndarray,
    sample_rate: float | None,
    read_tokens: int = 0,
) -> RequestHits:
    """Keep the counted reads of a reference stream (``distance`` aligned with them)."""
    ordered = (
        evidence_rows if np.all(evidence_rows[1:] >= evidence_rows[:-1]) else np.sort(evidence_rows)
    )
    return RequestHits(
        frame=frame, evidence=evidence, row=row[counted], hit_tokens=hit_tokens[counted],
        distance=distance if distance is not None else np.zeros(0), evidence_rows=ordered,
        sample_rate=sample_rate, read_tokens=read_tokens,
    )  # fmt: skip

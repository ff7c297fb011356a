"""The streaming reference pass against the in-memory one, SHARDS in polars, hit estimates."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracelab.cache import compute_block_references, compute_reuse_curve
from tracelab.cache.explode import in_reference_order
from tracelab.cache.hits import RequestHits
from tracelab.cache.sampling import collect_references
from tracelab.cache.scan import shards_keep
from tracelab.cache.stack import compute_shards_mask, compute_stack_distances, hash_blocks
from tracelab.schema import conform


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def random_frame(seed: int, n: int = 60, sessions: bool = False) -> pl.LazyFrame:
    """Rows in shuffled order, arrival ties across two files, a few hot blocks."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 6, n)
    blocks = [[int(b) for b in rng.zipf(1.5, k) % 40] for k in lengths]
    columns = {
        "request_id": [f"q{i}" for i in range(n)],
        "arrival_ts": [ts(int(t)) for t in rng.integers(0, 10, n)],
        "source_file": [f"f{int(f)}" for f in rng.integers(0, 2, n)],
        "source_row": list(range(n, 0, -1)),
        "input_tokens": [
            int(k) * 10 + int(e) for k, e in zip(lengths, rng.integers(0, 10, n), strict=True)
        ],
        "output_tokens": [int(o) for o in rng.integers(0, 40, n)],
        "model": ["llama-3.1-8b"] * n,
    }
    if sessions:
        columns["session_id"] = [f"s{int(s)}" for s in rng.integers(0, 5, n)]
    else:
        columns["prefix_hash_blocks"] = blocks
        columns["prefix_block_tokens"] = [10] * n
    return conform(pl.LazyFrame(columns))


@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50), st.sampled_from([0.01, 0.3, 0.9])
)
@settings(max_examples=30, deadline=None)
def test_polars_shards_matches_numpy(ids: list[int], rate: float) -> None:
    arr = np.array(ids, dtype=np.uint64)
    got = pl.DataFrame({"b": arr}).select(shards_keep(pl.col("b"), rate))["b"]
    assert got.to_list() == compute_shards_mask(arr, rate).tolist()
    from tracelab.cache.scan import splitmix64

    hashed = pl.DataFrame({"b": arr}).select(splitmix64(pl.col("b")))["b"].to_numpy()
    assert hashed.tolist() == hash_blocks(arr).tolist()


@pytest.mark.parametrize("sessions", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_stream_equals_in_memory(seed: int, sessions: bool) -> None:
    frame = random_frame(seed, sessions=sessions)
    old = compute_block_references(frame)
    refs, how, _ = collect_references(frame)
    assert how.startswith("exact")
    assert refs.evidence == old.evidence
    assert refs.counted.tolist() == old.counted.tolist()
    assert refs.hit_tokens.tolist() == old.hit_tokens.tolist()
    # same stream up to renaming the (synthesised) block ids: same stack distances
    assert (
        compute_stack_distances(refs.block_ids).tolist()
        == compute_stack_distances(old.block_ids).tolist()
    )
    ids = frame.select("request_id").collect()["request_id"]
    assert ids.gather(refs.row).unique(maintain_order=True).to_list() == (
        old.requests["request_id"].gather(np.unique(old.request_index)).to_list()
    )
    assert refs.n_reads == old.n_references


@pytest.mark.parametrize("rate", [None, 0.5])
def test_stream_with_nulls_equals_in_memory(rate: float | None) -> None:
    # missing arrivals sort last, missing prompt lengths credit whole blocks
    n = 80
    frame = random_frame(6, n=n).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise("arrival_ts").alias("arrival_ts"),
        pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise("input_tokens").alias("input_tokens"),
        pl.when(pl.int_range(pl.len()) % 9 == 0).then(None).otherwise("source_row").alias("source_row"),
    )  # fmt: skip
    old = compute_block_references(frame)
    refs, _, _ = collect_references(frame, sample_rate=1 if rate is None else rate)
    mask = (
        np.ones(old.block_ids.size, bool)
        if rate is None
        else compute_shards_mask(old.block_ids, rate)
    )
    assert refs.block_ids.tolist() == old.block_ids[mask].tolist()
    assert refs.hit_tokens.tolist() == old.hit_tokens[mask].tolist()
    assert 10 in refs.hit_tokens.tolist()  # a block of a row without input_tokens
    ids = frame.select("request_id").collect()["request_id"]
    assert (
        ids.gather(refs.row).to_list()
        == old.requests["request_id"].gather(old.request_index[mask]).to_list()
    )


def test_sample_is_the_numpy_mask_of_the_stream() -> None:
    frame = random_frame(3, n=200)
    full, _, _ = collect_references(frame)
    sampled, how, _ = collect_references(frame, sample_rate=0.4)
    assert "given rate" in how
    mask = compute_shards_mask(full.block_ids, 0.4)
    assert sampled.block_ids.tolist() == full.block_ids[mask].tolist()
    assert sampled.row.tolist() == full.row[mask].tolist()
    assert sampled.n_reads == full.n_reads


def test_rejects_match_the_in_memory_pass() -> None:
    frame = pl.LazyFrame(
        {
            "request_id": ["ok", "size", "long", "none"],
            "source_row": [1, 2, 3, 4],
            "input_tokens": [20, 20, 5, 20],
            "prefix_hash_blocks": [[1, 2], [1], [1, 2, 3], None],
            "prefix_block_tokens": [10, 16, 10, None],
        },
        schema_overrides={"prefix_hash_blocks": pl.List(pl.UInt64())},
    )
    result = compute_reuse_curve(frame)
    old = compute_block_references(frame).rejected
    assert_frame_equal(result.rejected.sort("request_id"), old.sort("request_id"))
    assert set(result.rejected["request_id"]) == {"size", "long"}
    assert result.rows_without_evidence == 1
    hits = result.compute_cache_hits(5).collect()
    assert hits["cache_hit_tokens"].to_list() == [0, None, None, None]


def test_hits_by_row_exact() -> None:
    frame = random_frame(0)
    result = compute_reuse_curve(frame)
    by_row = result.compute_cache_hits_by_row(3)
    full = result.compute_cache_hits(3).collect().with_row_index("row")
    joined = full.filter(pl.col("cache_hit_tokens").is_not_null())
    assert by_row["row"].to_list() == joined["row"].cast(pl.Int64()).to_list()
    assert by_row["cache_hit_tokens"].to_list() == joined["cache_hit_tokens"].to_list()


def test_shards_hit_estimate_arithmetic() -> None:
    # rate 0.5; sampled reads: row 0 (10 tokens, hit), row 0 (10, miss), row 2 (6, hit)
    hits = RequestHits(
        frame=pl.LazyFrame({"row": [0, 1, 2], "request_id": ["a", "b", "c"]}),
        evidence="prefix_blocks",
        row=np.array([0, 0, 2]),
        hit_tokens=np.array([10, 10, 6]),
        distance=np.array([0.0, 8.0, 1.0]),
        evidence_rows=np.array([0, 1, 2]),
        sample_rate=0.5,
        read_tokens=60,
    )
    # Horvitz-Thompson: a = 10 / 0.5 = 20, c = 6 / 0.5 = 12; SHARDS-adj in tokens: expected
    # sampled tokens 0.5 x 60 = 30 vs 26 sampled, so +4 hit tokens (x 1/R) spread pro rata:
    # scale (16 + 4) / 16 = 1.25 -> a = 25, c = 15
    got = hits.compute_cache_hits_by_row(2)
    assert got["cache_hit_tokens"].to_list() == [25, 0, 15]
    assert hits.compute_cache_hits_by_row(0)["cache_hit_tokens"].to_list() == [0, 0, 0]
    ids = hits.compute_cache_hits(2).collect()
    assert ids.to_dict(as_series=False) == {
        "request_id": ["a", "b", "c"],
        "cache_hit_tokens": [25, 0, 15],
    }


def test_loose_bound_is_rescanned_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracelab.cache.sampling as sampling

    # bound from input_tokens: 100 // 10 + 1 = 11 per row, 22 in all; only 3 references
    frame = conform(
        pl.LazyFrame(
            {
                "request_id": ["a", "b"],
                "input_tokens": [100, 100],
                "prefix_hash_blocks": [[1, 2], [1]],
                "prefix_block_tokens": [10, 10],
                "source_row": [1, 2],
            }
        )
    )
    monkeypatch.setattr(sampling, "AUTO_SHARDS_REFERENCES", 5)
    monkeypatch.setattr(sampling, "SHARDS_TARGET_REFERENCES", 5)
    result = compute_reuse_curve(frame)
    assert result.method == "exact"
    assert result.method_how.startswith("exact: 3 block references")
    assert result.reuse_ratio_infinite == pytest.approx(1 / 3)


def test_no_evidence_by_row_is_empty() -> None:
    frame = conform(pl.LazyFrame({"request_id": ["x"], "input_tokens": [5], "output_tokens": [1]}))
    result = compute_reuse_curve(frame)
    assert result.compute_cache_hits_by_row(4).height == 0
    assert result.rows_without_evidence == 1


def test_session_rows_without_input_are_rejected() -> None:
    frame = conform(
        pl.LazyFrame(
            {
                "request_id": ["a1", "a2", "a3"],
                "arrival_ts": [ts(0), ts(5), ts(9)],
                "session_id": ["s", "s", "s"],
                "input_tokens": [20, None, 40],
                "output_tokens": [12, 5, 1],
            }
        )
    )
    result = compute_reuse_curve(frame)
    old = compute_block_references(frame).rejected
    assert_frame_equal(result.rejected, old)
    assert result.rejected["reason"].to_list() == [
        "input_tokens is missing; session reuse needs the prompt length"
    ]
    assert result.compute_cache_hits(100).collect()["cache_hit_tokens"].to_list() == [0, None, 32]


def first_records(frame: pl.LazyFrame, n: int) -> list[int]:
    """The check subset by its definition: the first ``n`` exploded records of the block rows
    (an empty list is one null record), the good rows' blocks among them, in arrival order."""
    blocks = pl.col("prefix_hash_blocks")
    records = (
        frame.with_row_index("row")
        .filter(blocks.is_not_null())
        .with_columns(pl.int_ranges(0, blocks.list.len()).alias("_j"))
        .explode(["prefix_hash_blocks", "_j"], empty_as_null=True)
        .head(n)
        .filter(pl.col("_j").is_not_null() & (pl.col("prefix_block_tokens") == 10))
        .sort(["arrival_ts", "source_row", "row", "_j"], nulls_last=True, maintain_order=True)
        .collect()
    )
    return records["prefix_hash_blocks"].to_list()


@pytest.mark.parametrize("n", [1, 37, 10_000])
def test_check_subset_is_the_first_records(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracelab.cache.sampling as sampling

    # one file; rows 5, 50, 51 have another block size (rejected), some lists are empty
    frame = random_frame(4, n=120).with_columns(
        pl.lit("f").alias("source_file"),
        pl.when(pl.int_range(pl.len()).is_in([5, 50, 51]))
        .then(16)
        .otherwise(pl.col("prefix_block_tokens"))
        .alias("prefix_block_tokens"),
    )
    monkeypatch.setattr(sampling, "SHARDS_CHECK_REFERENCES", n)
    refs, _, _ = collect_references(frame, sample_rate=0.5)
    assert refs.check is not None
    assert refs.check.block_ids.tolist() == first_records(frame, n)
    assert refs.check.counted.all()
    if n == 10_000:  # the whole stream: the exact stream itself
        full, _, _ = collect_references(frame, sample_rate=1)
        assert refs.check.block_ids.tolist() == full.block_ids.tolist()


def test_shards_error_needs_no_second_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracelab.cache.sampling as sampling

    def no_scan(*args: object) -> None:
        raise AssertionError("prefix blocks keep the check subset from the main scan")

    monkeypatch.setattr(sampling, "first_references", no_scan)
    result = compute_reuse_curve(random_frame(5, n=200), sample_rate=0.5)
    assert result.sampling_error is not None
    assert result.sampling_error["subset_references"] > 0


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.integers(0, 3))),
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None)
def test_reference_order_is_a_nulls_last_sort(keys: list[tuple[int | None, int | None]]) -> None:
    frame = pl.DataFrame(
        {"a": [k[0] for k in keys], "b": [k[1] for k in keys], "i": list(range(len(keys)))},
        schema={"a": pl.Int64(), "b": pl.Int64(), "i": pl.Int64()},
    )
    expected = frame.sort(["a", "b"], nulls_last=True, maintain_order=True)
    assert_frame_equal(in_reference_order(frame, ["a", "b"]), expected)

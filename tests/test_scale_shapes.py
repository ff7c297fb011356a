"""Real-world shapes at scale: thousands of model names, renamed files, session-heavy synth."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_labels_support import HARDWARE, frame

import tracelab.features.work as work
from tracelab.features import compute_features
from tracelab.ingest import read_trace
from tracelab.labels import cluster_labeled, load_label_config, materialise_labels
from tracelab.synth import generate_trace, render_trace

SHARED_AZURE = Path("../shared/traces/azure-2023/AzureLLMInferenceTrace_conv.csv")


def _names(n: int) -> list[str | None]:
    # fine-tunes of a registered model, unknown names, and a missing one
    return [f"ft:tiny:org:{i}" if i % 3 else ("tiny" if i % 2 else f"lora-{i}")
            for i in range(n - 1)] + [None]  # fmt: skip


def test_many_model_names_join_equals_the_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    names = _names(200)
    lf = frame(model=names, input_tokens=[1000] * 200, output_tokens=[10] * 200)
    joined = compute_features(lf, hardware=HARDWARE, model_map={"ft:tiny:org:1": "tiny-8b"},
                              assume_model=None).collect()  # fmt: skip
    monkeypatch.setattr(work, "MAX_LOOKUP_NAMES", 10_000)  # the when/then chain per name
    chained = compute_features(lf, hardware=HARDWARE, model_map={"ft:tiny:org:1": "tiny-8b"},
                               assume_model=None).collect()  # fmt: skip
    assert_frame_equal(joined, chained)
    assert joined["model_id"].to_list()[1] == "tiny-8b"
    assert joined["model_match"].null_count() == 0


def test_two_thousand_model_names_label_quickly(tmp_path: Path) -> None:
    trace = generate_trace(2000, seed=1).drop("synth_workload").with_columns(
        (pl.lit("ft:llama-3.1-8b:org:") + pl.int_range(pl.len()).cast(pl.String)).alias("model"))
    path = tmp_path / "models.parquet"
    trace.write_parquet(path)
    cpu = time.process_time()
    labeled = materialise_labels(read_trace([path])).collect()
    # the when/then chains took 91 CPU-s and 5 GB here; the join takes well under a second
    assert time.process_time() - cpu < 10
    assert labeled.height == 2000
    assert labeled["model"].n_unique() == 2000


def _clusters(path: Path) -> tuple[int, pl.DataFrame]:
    labels = materialise_labels(read_trace([path]), assume_model="llama-3.1-8b")
    got = cluster_labeled(labels, config=load_label_config(), assume_model="llama-3.1-8b",
                          summary=False)  # fmt: skip
    columns = ["request_id", "cluster", "label_mode", "label_phase"]
    frame_ = got.frame.select(columns).collect().with_columns(
        pl.col("request_id").str.split(":").list.last(), pl.col("cluster").cast(pl.String))
    return got.clusterer.k_, frame_


def test_renamed_copy_gives_identical_labels_and_clusters(tmp_path: Path) -> None:
    original = tmp_path / "conv.csv"
    render_trace(generate_trace(3000, seed=4).drop("synth_workload"), "azure", original)
    renamed = tmp_path / "another_name_entirely.csv"
    shutil.copyfile(original, renamed)
    k1, first = _clusters(original)
    k2, second = _clusters(renamed)
    assert k1 == k2
    assert_frame_equal(first, second)


@pytest.mark.skipif(not SHARED_AZURE.exists(), reason="../shared traces absent")
def test_renamed_azure_conversation_trace_clusters_alike(tmp_path: Path) -> None:
    renamed = tmp_path / "copy.csv"
    shutil.copyfile(SHARED_AZURE, renamed)
    k1, first = _clusters(SHARED_AZURE)
    k2, second = _clusters(renamed)
    assert k1 == k2 == 6  # issue 16: the renamed copy clustered into k=5
    assert_frame_equal(first, second)


def test_session_heavy_mix_shape() -> None:
    trace = generate_trace(6000, seed=2, span_s=86_400, mix="sessions")
    assert trace["prefix_hash_blocks"].null_count() == trace.height  # reuse only from sessions
    assert trace["session_id"].null_count() == 0
    assert trace["tenant_id"].n_unique() == 50
    assert trace["model"].n_unique() == 4
    span = (trace["arrival_ts"].max() - trace["arrival_ts"].min()).total_seconds()  # type: ignore[operator]
    assert 0.9 * 86_400 < span <= 86_400
    turns = trace.sort("arrival_ts").with_columns(
        gap=pl.col("arrival_ts").diff().dt.total_seconds().over("session_id"))
    assert turns["gap"].median() > 1800  # turns about an hour apart
    assert trace["input_tokens"].median() > 5000  # long contexts
    sessions = trace.group_by("session_id").agg(pl.col("input_tokens").is_sorted().alias("grows"))
    assert sessions["grows"].all()


def test_session_heavy_busiest_second_is_near_the_mean_rate() -> None:
    # issue 16 item 2: sessions longer than the span were squeezed into it, so every long
    # session's last turn landed in the span's last second (455x the mean rate here)
    trace = generate_trace(100_000, seed=3, span_s=3600, mix="sessions")
    per_second = trace.group_by(pl.col("arrival_ts").dt.truncate("1s")).len()["len"]
    mean = trace.height / 3600
    assert per_second.max() <= 3 * mean  # type: ignore[operator]
    assert trace.height == 100_000
    sessions = trace.group_by("session_id").agg(
        pl.col("arrival_ts").is_sorted().alias("in_order"), pl.col("input_tokens").is_sorted())
    assert sessions["in_order"].all()
    assert sessions["input_tokens"].all()
    assert sessions.height > 100_000 / 6  # the window cuts sessions into their logged parts


def test_large_session_trace_interleaves_chunks_and_is_sorted(tmp_path: Path) -> None:
    from tracelab.synth import write_large_trace

    path = tmp_path / "sessions.parquet"
    assert write_large_trace(path, 3000, chunk_rows=1000, requests_per_s=3000 / 86_400,
                             mix="sessions") == 3000  # fmt: skip
    trace = pl.read_parquet(path)
    assert trace["arrival_ts"].is_sorted()
    assert not list(tmp_path.glob(".*unsorted"))
    chunk = trace["session_id"].str.extract(r"c(\d+)-")
    # every chunk's sessions spread over the whole day, not one slice of it each
    spans = trace.group_by(chunk.alias("c")).agg(
        (pl.col("arrival_ts").max() - pl.col("arrival_ts").min()).dt.total_hours().alias("h"))
    assert spans["h"].min() > 20

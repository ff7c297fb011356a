"""WorkloadClusterer: estimator contract, order independence, determinism, JSON models."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_labels_support import EDGE, HARDWARE, at, frame

from tracelab.errors import ConfigError
from tracelab.labels import (
    LabelConfig,
    WorkloadClusterer,
    label_trace,
    read_cluster_model,
    write_cluster_model,
)

N = 60


def _trace() -> pl.DataFrame:
    """Two obvious groups: code-completion-like (≈1500 in / ≈13 out) and chat (≈300 / ≈400),
    plus two rows without token counts."""
    code = [(1400 + 10 * i, 10 + i % 7) for i in range(N // 2)]
    chat = [(250 + 5 * i, 350 + 3 * i) for i in range(N // 2)]
    tokens = [*code, *chat, (None, None), (None, None)]
    return frame(
        request_id=[f"q{i:03d}" for i in range(len(tokens))],
        model=["tiny"] * len(tokens),
        session_id=[f"s{i % 9}" for i in range(len(tokens))],
        arrival_ts=[at(1.7 * i) for i in range(len(tokens))],
        input_tokens=[t[0] for t in tokens],
        output_tokens=[t[1] for t in tokens],
    ).collect()


def _label(df: pl.DataFrame, **kw: object) -> pl.DataFrame:
    result = label_trace(df.lazy(), config=LabelConfig(), hardware=HARDWARE, **kw)  # type: ignore[arg-type]
    return result.frame.collect()


def test_estimator_contract_and_two_groups() -> None:
    model = WorkloadClusterer(k=None, random_state=3)
    assert vars(model) == {"k": None, "k_range": (2, 8), "sample_size": 20_000, "random_state": 3}
    labeled = _label(_trace(), k=2)
    fitted = label_trace(_trace().lazy(), hardware=HARDWARE, k=2).clusterer
    assert fitted.k_ == 2
    assert len(fitted.centers_) == 2
    assert len(fitted.names_) == 2
    assert fitted.feature_names_ == ["prefill_tokens", "decode_tokens", "prefill_work_share"]
    # Centroids are numbered in lexicographic order of original units: chat (≈300 in) first.
    by = labeled.drop_nulls("cluster").group_by("cluster").agg(pl.col("input_tokens").min())
    by = by.sort("cluster")
    assert by.get_column("input_tokens").to_list() == [250, 1400]
    assert labeled.get_column("cluster").null_count() == 2
    names = labeled.drop_nulls("cluster").group_by("cluster").agg(pl.col("cluster_name").first())
    name_of = dict(names.iter_rows())
    assert name_of[1] == (
        "interactive · short · prefill-heavy · small · 1,545 → 13 tokens — 50% of requests, 69% of tokens")
    assert name_of[0].startswith("interactive · short · decode-heavy · small · ")


def test_k_is_chosen_by_silhouette_within_bounds() -> None:
    fitted = label_trace(_trace().lazy(), hardware=HARDWARE).clusterer
    assert 2 <= fitted.k_ <= 8
    assert set(fitted.silhouette_) <= set(range(2, 9))
    assert fitted.k_ == 2  # two well-separated groups


def test_sample_is_bounded_and_chosen_by_hash_not_position() -> None:
    df = _trace()
    a = WorkloadClusterer(k=2, sample_size=20)._sample(_label(df).lazy())
    b = WorkloadClusterer(k=2, sample_size=20)._sample(_label(df.reverse()).lazy())
    assert a.height == 20
    assert a.equals(b)  # the same rows whatever the input order
    by_id = _label(df).lazy().select("request_id", pl.col("request_id").hash(seed=0).alias("_h"))
    ids = a.join(by_id.collect(), on="_h", maintain_order="left")["request_id"].to_list()
    assert ids != sorted(ids)


KEY_COLUMNS = ["request_id", "prefill_work_share", "window_dispersion", "turn_index",
               "think_time_s", "label_phase", "label_mode", "label_placement_reason",
               "cluster", "cluster_name"]


@settings(max_examples=5, deadline=None)
@given(st.permutations(list(range(N + 2))), st.sampled_from([None, 3]))
def test_row_order_changes_no_feature_label_or_cluster(order: list[int], k: int | None) -> None:
    df = _trace()
    base = _label(df, k=k).select(KEY_COLUMNS).sort("request_id")
    shuffled = _label(df[order], k=k).select(KEY_COLUMNS).sort("request_id")
    assert_frame_equal(base, shuffled)


@settings(max_examples=5, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_fixed_random_state_gives_identical_output(seed: int) -> None:
    df = _trace()
    assert_frame_equal(_label(df, random_state=seed), _label(df, random_state=seed))


def test_output_rows_keep_input_order() -> None:
    df = _trace().reverse()
    out = _label(df)
    assert out.get_column("request_id").to_list() == df.get_column("request_id").to_list()
    assert out.columns[: len(df.columns)] == df.columns


def test_json_round_trip_applies_to_another_trace(tmp_path: Path) -> None:
    df = _trace()
    fitted = label_trace(df.lazy(), hardware=HARDWARE, k=2).clusterer
    path = tmp_path / "model.json"
    write_cluster_model(fitted, path)
    loaded = read_cluster_model(path)
    assert loaded.to_json() == json.loads(path.read_text())
    other = df.with_columns(pl.col("request_id") + "-tomorrow")
    again = label_trace(other.lazy(), hardware=HARDWARE, clusterer=loaded).frame.collect()
    first = _label(df, k=2)
    assert again.get_column("cluster_name").to_list() == first.get_column("cluster_name").to_list()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(colour=1), "key 'colour': unknown key"),
        (lambda d: d.pop("centers"), "key 'centers': missing"),
        (lambda d: d.update(k="two"), "key 'k'"),
        (lambda d: d.update(names=["only one"]), "key 'names': needs 2 names"),
        (lambda d: d["scaler_scale"].__setitem__(0, 0.0), "key 'scaler_scale.0'"),
        (lambda d: d.update(feature_names=["a", "b", "c"]), "key 'feature_names'"),
    ],
)
def test_bad_model_file_is_one_line_naming_file_and_key(
    tmp_path: Path, edit: object, needle: str
) -> None:
    data = label_trace(_trace().lazy(), hardware=HARDWARE, k=2).clusterer.to_json()
    edit(data)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        read_cluster_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert needle in message


def test_unreadable_model_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"x\.json: not valid JSON \(line 1"):
        read_cluster_model(path)
    assert EDGE.height == 2


@pytest.mark.parametrize("headroom", [1.01, 4])
def test_sample_by_hash_threshold_equals_a_full_sort(
    monkeypatch: pytest.MonkeyPatch, headroom: float
) -> None:
    import tracelab.labels.cluster as cluster

    monkeypatch.setattr(cluster, "SAMPLE_HEADROOM", headroom)
    frame = label_trace(_trace().lazy(), config=LabelConfig(), hardware=HARDWARE, k=2).frame
    chooser = WorkloadClusterer(sample_size=25, random_state=3)
    got = chooser._sample(frame)
    names = [c for c in got.columns if c not in ("_h", "_t")]
    want = (
        frame.drop_nulls(["prefill_tokens", "decode_tokens", "prefill_work_share"])
        .select(*names, pl.col("request_id").hash(seed=3).alias("_h"),
                pl.col("request_id").hash(seed=4).alias("_t"))
        .sort(["_h", "_t"]).head(25).collect()
    )
    assert got.height == 25
    assert got.equals(want)


def test_fit_limits_sklearns_openmp_even_when_sklearn_is_not_imported_yet() -> None:
    """threadpool_limits limits only the thread pools already loaded: a fit in a process that
    had not imported sklearn yet ran k-means on every core (14 CPU-s instead of 0.2 for a
    2,000-row silhouette search on 2 cores; ``tracelab label`` took 15 s on 2,000 rows)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import tracelab.labels.cluster as c\n"
        "assert 'sklearn' not in sys.modules\n"
        "seen = []\n"
        "def fit_sample(self, sample):\n"
        "    from threadpoolctl import threadpool_info\n"
        "    seen.extend(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'openmp')\n"
        "    return self\n"
        "c.WorkloadClusterer._fit_sample = fit_sample\n"
        "c.WorkloadClusterer._sample = lambda self, labeled: None\n"
        "c.WorkloadClusterer().fit(__import__('polars').LazyFrame())\n"
        "print(seen)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    from tracelab.labels.cluster import FIT_THREADS

    seen = json.loads(done.stdout)
    assert seen, "sklearn's OpenMP runtime was not loaded when the fit ran"
    assert set(seen) == {FIT_THREADS}

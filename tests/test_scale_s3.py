"""s3:// inputs through polars' native readers, against a local moto S3 server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from scale_fixtures import tiny_frame

from tracelab.errors import InputFileError

BUCKET = "traces"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev extra")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    boto3 = pytest.importorskip("boto3")
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    frame = tiny_frame()
    for day, part in (("2026-01-05", frame.head(4)), ("2026-01-06", frame.tail(2))):
        local = tmp_path / f"{day}.parquet"
        part.write_parquet(local)
        client.upload_file(str(local), BUCKET, f"logs/day={day}/part-0.parquet")
    frame.drop("prefix_hash_blocks").write_csv(tmp_path / "all.csv")
    client.upload_file(str(tmp_path / "all.csv"), BUCKET, "csv/all.csv")
    return client


def test_read_trace_from_an_s3_prefix(s3: Any) -> None:
    from tracelab.ingest import read_trace

    trace = read_trace([f"s3://{BUCKET}/logs/"])
    assert [str(p) for p in trace.files] == [
        f"s3://{BUCKET}/logs/day=2026-01-05/part-0.parquet",
        f"s3://{BUCKET}/logs/day=2026-01-06/part-0.parquet",
    ]
    assert trace.rows_read == 6
    got = trace.frame.select("request_id", "day", "input_tokens").collect().sort("request_id")
    assert got.get_column("day").to_list() == ["2026-01-05"] * 4 + ["2026-01-06"] * 2
    assert got.get_column("input_tokens").sum() == 2100


def test_glob_and_csv_objects(s3: Any) -> None:
    from tracelab.ingest import read_trace

    globbed = read_trace(f"s3://{BUCKET}/logs/**/*.parquet")
    assert globbed.rows_read == 6
    csv = read_trace(f"s3://{BUCKET}/csv/all.csv")
    assert csv.formats == {f"s3://{BUCKET}/csv/all.csv": "canonical"}
    assert csv.frame.select(pl.col("output_tokens").sum()).collect().item() == 210


def test_profile_on_s3_equals_local(s3: Any, tmp_path: Path) -> None:
    from tracelab.scale import run_profile

    local = tmp_path / "local.parquet"
    tiny_frame().write_parquet(local)
    remote = run_profile(f"s3://{BUCKET}/logs/")
    here = run_profile(local)
    assert remote["partitions"] == 2
    for key in ("requests", "totals", "quantiles", "windows", "mean_ttft_s"):
        assert remote[key] == here[key]


def test_missing_object_is_one_line_error(s3: Any) -> None:
    from tracelab.ingest import read_trace

    with pytest.raises(InputFileError, match=r"s3://traces/nope\.parquet: cannot read") as info:
        read_trace(f"s3://{BUCKET}/nope.parquet")
    assert "\n" not in str(info.value)
    with pytest.raises(InputFileError, match="matches no Parquet object"):
        read_trace(f"s3://{BUCKET}/empty/**/*.parquet")
    with pytest.raises(InputFileError, match="only Parquet and plain CSV"):
        read_trace(f"s3://{BUCKET}/logs/x.jsonl")

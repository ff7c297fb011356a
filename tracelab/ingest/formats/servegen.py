"""``servegen``: ServeGen offline batch-task traces (alibaba/ServeGen ``data/offline/*.jsonl``).

Records ``{"request_id", "type", "input_length", "output_length", "duration"}`` of one batch
task from Alibaba Cloud Model Studio (SOSP'26 ACDC, "Batched in Back"): ``request_id`` is
the request's position in the submitted file, ``duration`` its end-to-end time in ms. A
batch task is submitted as a whole, so there is no per-request arrival time: ``arrival_ts``
and ``time_base`` stay null (nothing is invented), the order survives as ``request_id`` and
``source_row``. ``type`` (``text``, ...) is kept as ``request_type``. Nothing says whether a
response was streamed, who submitted it or which model served it: those stay null.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import Adapter, RawSource, Sample, number

_FIELDS = ("request_id", "input_length", "output_length", "duration")


def detect(sample: Sample) -> bool:
    # Mooncake shares input_length/output_length but carries a timestamp and hash_ids.
    return sample.has(*_FIELDS) and not sample.has("timestamp")


def to_canonical(source: RawSource) -> pl.LazyFrame:
    return source.frame.select(
        "source_row",
        source.field("request_id").cast(pl.String).alias("request_id"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("arrival_ts"),
        pl.lit(None, pl.String).alias("time_base"),
        source.field("input_length").alias("input_tokens"),
        source.field("output_length").alias("output_tokens"),
        (number(source.field("duration")) / 1000).alias("e2e_latency_s"),
        pl.lit("ok").alias("status"),
        source.field("type").cast(pl.String).alias("request_type"),
    )


ADAPTER = Adapter(
    name="servegen",
    description="ServeGen offline batch task JSONL (request_id order, input/output_length, "
                "duration ms; no arrival times)",
    detect=detect,
    to_canonical=to_canonical,
    required=_FIELDS,
    hint="ServeGen offline records have request_id, input_length, output_length and duration",
)

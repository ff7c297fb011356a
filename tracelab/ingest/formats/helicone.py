"""``helicone``: Helicone request exports (``HeliconeRequest`` records: JSONL, CSV or Parquet).

Fields as Helicone's ``HeliconeRequest`` type (Helicone/helicone, ``lib/stores/request``):
``request_id``, ``request_created_at``, ``response_created_at``, ``response_status`` (HTTP),
``request_model``/``response_model``/``model_override``, ``provider``, ``delay_ms`` (total
latency, ms), ``time_to_first_token`` (ms), ``prompt_tokens``, ``prompt_cache_read_tokens``,
``prompt_cache_write_tokens``, ``completion_tokens``, ``request_user_id``,
``request_properties`` (the ``Helicone-*`` headers: ``Helicone-Session-Id`` is the session),
``request_body`` (its ``stream`` flag), ``country_code``.

Helicone stores ``prompt_tokens`` WITHOUT the cache reads and writes: its own token totals
are ``prompt_tokens + completion_tokens + prompt_cache_write_tokens +
prompt_cache_read_tokens`` (+ audio; ``TOTAL_TOKENS_EXPR`` in its model-usage statistics) and
its cost code prices the three apart. So input = prompt + cache reads + cache writes, cached
= cache reads. ttft = ``time_to_first_token``/1000, e2e = ``delay_ms``/1000; ok iff the
HTTP status is 2xx. In a CSV or Parquet file, ``request_properties`` and ``request_body``
are JSON text. Tabular files must use these field names (the API's JSON export; the web
UI's CSV headers could not be checked against a source).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    Adapter,
    RawSource,
    Sample,
    arrival_columns,
    json_field,
    millis_column,
    number,
    uncached_input_columns,
)


def detect(sample: Sample) -> bool:
    return sample.has("request_id", "request_created_at") and (
        sample.has("delay_ms") or sample.has("prompt_cache_read_tokens"))


def to_canonical(source: RawSource) -> pl.LazyFrame:
    code = number(source.field("response_status"))
    ttft, e2e = source.field("time_to_first_token"), source.field("delay_ms")
    stream = json_field(source, "request_body", "stream").cast(pl.String).str.to_lowercase()
    return source.frame.select(
        "source_row",
        source.field("request_id").alias("request_id"),
        *arrival_columns(source.field("request_created_at")),
        source.fields("response_model", "request_model", "model_override", "model")
        .alias("model"),
        *uncached_input_columns(source.field("prompt_tokens"),
                                source.field("prompt_cache_read_tokens"),
                                source.field("prompt_cache_write_tokens")),
        source.field("completion_tokens").alias("output_tokens"),
        *millis_column(ttft, "ttft_s"),
        *millis_column(e2e, "e2e_latency_s"),
        pl.when(stream == "true").then(True).when(stream == "false").then(False)
        .alias("is_streaming"),
        json_field(source, "request_properties", "Helicone-Session-Id").alias("session_id"),
        source.fields("request_user_id", "helicone_user").alias("tenant_id"),
        pl.when(code.is_null() | code.is_between(200, 299)).then(pl.lit("ok"))
        .otherwise(pl.lit("error"))
        .alias("status"),
        code.cast(pl.Int64).alias("http_status"),
        source.field("provider").alias("provider"),
    )


ADAPTER = Adapter(
    name="helicone",
    description="Helicone request exports (HeliconeRequest; input = prompt + cache reads + writes)",
    detect=detect,
    to_canonical=to_canonical,
    required=("request_id", "request_created_at", "prompt_tokens", "completion_tokens"),
    hint="Helicone exports have request_id, request_created_at, prompt_tokens and completion_tokens",
)

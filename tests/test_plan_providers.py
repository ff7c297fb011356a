"""Per-token providers as plan tiers: hand-solved cases, eligibility, the table and its file."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from conftest import invoke
from plan_fakes import FakeDevice, FakePerf, labeled_frame

from tracelab.errors import ConfigError
from tracelab.plan import fit_plan
from tracelab.plan.providers import (
    API_UNIT_USD,
    Provider,
    load_providers,
    without_providers,
)


def _perf() -> FakePerf:
    # One device, $2/h a replica: prefill 1000 tok/s, decode 100 tok/s at 20 ms.
    return FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5, [(8, 0.02, 100.0)])})


def _tiny():
    # 200 prompt and 20 output tokens over a 100 s span: P = 2 tok/s, D = 0.2 tok/s.
    return labeled_frame([
        {"id": "r1", "t": 0, "prefill": 100, "decode": 10},
        {"id": "r2", "t": 100, "prefill": 100, "decode": 10},
    ])


def _api(usd_in: float, usd_out: float, ttft: float | None = 0.1,
         speed: float | None = 200.0) -> Provider:
    return Provider(id="acme/m8", provider="acme", model_id="m8", usd_per_m_input=usd_in,
                    usd_per_m_output=usd_out, ttft_s=ttft, output_tokens_per_s=speed)


def _fit(providers):
    return fit_plan(_tiny(), _perf(), window_s=200.0, headroom=False, providers=providers,
                    max_device_types=None)


def test_tiny_class_goes_to_a_provider_cheaper_than_an_idle_replica():
    # 2 tok/s × 3600 × $1/M + 0.2 tok/s × 3600 × $2/M = $0.00864/h (the MILP's $0.001 units
    # round it to $0.009/h) against one whole $2/h replica; the plan pays the tokens sent.
    plan = _fit([_api(1.0, 2.0)])
    assert math.ceil(0.00864 / API_UNIT_USD) * API_UNIT_USD < 2.0
    assert plan.usd_per_hour == pytest.approx(0.00864, rel=1e-12)
    assert plan.fleet["pool_id"].to_list() == ["api:acme/m8/x0/api"]
    # A per-token route: no replicas, no devices, no idle $.
    assert plan.fleet["replicas"].to_list() == [0]
    assert plan.fleet["devices"].to_list() == [0]
    assert plan.idle_usd == pytest.approx(0.0, abs=1e-12)
    assert plan.to_json()["per_token"][0]["requests"] == 2
    ledger = plan.ledger.collect().sort("request_id")
    # Priced per token: 100 × $1/M and 10 × $2/M per request.
    assert ledger["prefill_usd"].to_list() == pytest.approx([1e-4, 1e-4])
    assert ledger["decode_usd"].to_list() == pytest.approx([2e-5, 2e-5])
    assert "per-token provider acme" in ledger["reason"][0]
    # The GPU baseline is still one replica: providers never form a single-device baseline.
    assert plan.baseline_h100_usd_per_hour == pytest.approx(2.0)
    assert plan.assumptions["providers"]["table"][0]["provider"] == "acme"


def test_provider_is_priced_at_the_tokens_sent_not_the_peak_window():
    # 10 s windows over a 100 s span: one window carries 100 prompt tokens (10 tok/s at its
    # peak) but the class sends 2 tok/s on average: the provider bills 2 tok/s.
    plan = fit_plan(_tiny(), _perf(), window_s=10.0, headroom=False, max_device_types=None,
                    providers=[_api(1.0, 2.0)])
    assert plan.usd_per_hour == pytest.approx(0.00864, rel=1e-12)
    ledger_usd = plan.ledger.collect().select(pl.sum("prefill_usd") + pl.sum("decode_usd")).item()
    assert plan.fleet_usd == pytest.approx(ledger_usd, rel=1e-12)


def test_class_comes_back_when_the_provider_costs_more_than_the_replica():
    # At $1,000/M input the class's prompt tokens alone cost 2 × 3600 × 1e-3 = $7.2/h > $2/h.
    plan = _fit([_api(1000.0, 2.0)])
    assert plan.usd_per_hour == pytest.approx(2.0)
    assert plan.fleet["device_id"].to_list() == ["h100-sxm"]


@pytest.mark.parametrize(("ttft", "speed"), [(3.0, 200.0), (0.1, 10.0), (None, 200.0)])
def test_provider_missing_the_slo_or_without_figures_is_not_eligible(ttft, speed):
    # Interactive: TTFT ≤ 2 s (+ 0.05 s per 1K prompt tokens), TPOT ≤ 40 ms (≥ 25 tok/s).
    plan = _fit([_api(1.0, 2.0, ttft=ttft, speed=speed)])
    assert plan.fleet["device_id"].to_list() == ["h100-sxm"]


def test_unpriced_provider_is_listed_not_planned():
    plan = _fit([Provider(id="x/m8", provider="x", model_id="m8", usd_per_m_input=0.01,
                          ttft_s=0.01, output_tokens_per_s=1000.0)])
    assert plan.fleet["device_id"].to_list() == ["h100-sxm"]


def test_bundled_table_is_sourced_and_dated_and_a_file_overrides_it(tmp_path):
    table = load_providers()
    assert table, "the bundled table is empty"
    for p in table:
        assert p.source.startswith("https://"), p.id
        assert p.as_of, p.id
    file = tmp_path / "negotiated.toml"
    file.write_text('[providers."groq/llama-3.1-8b"]\nusd_per_m_output = 0.07\n'
                    '[providers."mine/llama-3.1-8b"]\nprovider = "mine"\nmodel_id = "llama-3.1-8b"\n'
                    'usd_per_m_input = 0.01\nusd_per_m_output = 0.02\n')
    by_id = {p.id: p for p in load_providers(file)}
    assert by_id["groq/llama-3.1-8b"].usd_per_m_output == 0.07
    assert by_id["groq/llama-3.1-8b"].usd_per_m_input == 0.05  # the bundled figure stays
    assert by_id["mine/llama-3.1-8b"].priced
    # Google Vertex AI publishes a price for the 405B only (the smaller Llama 3.1 models are
    # in Preview there): priced, but with no published latency it serves no latency target.
    vertex = by_id["vertex/llama-3.1-405b"]
    assert (vertex.usd_per_m_input, vertex.usd_per_m_output) == (5.0, 16.0)
    assert vertex.priced
    assert vertex.ttft_s is None
    assert not any(p.provider == "vertex" and p.model_id != "llama-3.1-405b" for p in table)


def test_bad_provider_file_is_one_line_naming_the_entry(tmp_path):
    file = tmp_path / "bad.toml"
    file.write_text('[providers.x]\nprovider = "x"\nusd_per_m_input = -1\n')
    with pytest.raises(ConfigError, match=r"bad.toml entry 'x' field 'usd_per_m_input'"):
        load_providers(file)
    file.write_text('[providers.y]\nprovider = "y"\n')
    with pytest.raises(ConfigError, match=r"entry 'y' field 'model_id': missing"):
        load_providers(file, bundled=False)


def test_replay_view_drops_provider_pools_and_renormalises():
    plan_json = {
        "pools": [{"pool_id": "api:a/m/x1/api"}, {"pool_id": "h/m/x1/colocated"}],
        "fleet": [],
        "routes": [{"class_id": "c", "prefill_pool": "api:a/m/x1/api", "fraction": 0.75},
                   {"class_id": "c", "prefill_pool": "h/m/x1/colocated", "fraction": 0.25}],
    }
    out = without_providers(plan_json)
    assert [p["pool_id"] for p in out["pools"]] == ["h/m/x1/colocated"]
    assert [r["fraction"] for r in out["routes"]] == [1.0]


def test_cli_plan_with_providers_prices_their_requests_per_token(runner, tmp_path):
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    file = tmp_path / "mine.toml"
    # A negotiated price so low that every llama-3.1-8b class is cheaper there.
    file.write_text('[providers."fireworks/llama-3.1-8b"]\nusd_per_m_input = 0.0001\n'
                    'usd_per_m_output = 0.0001\n')
    result = invoke(runner, ["plan", "--providers", str(file), "--no-replay", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    api = [p for p in doc["pools"] if p["pool_id"].startswith("api:fireworks/llama-3.1-8b")]
    assert api, doc["pools"]
    # A per-token route is not a pool of replicas: none in the fleet, listed with its tokens.
    assert not [f for f in doc["fleet"] if f["pool_id"].startswith("api:")]
    route = next(r for r in doc["per_token"] if r["pool_id"] == api[0]["pool_id"])
    assert route["requests"] > 0
    assert route["usd_per_hour"] == pytest.approx(route["usd"] / doc["span_hours"])
    assert doc["assumptions"]["providers"]["table"]
    assert doc["fleet_usd"] == pytest.approx(doc["ledger_usd"] + doc["idle_usd"])


def test_cli_bad_providers_file_is_one_line_exit_2(runner, tmp_path):
    file = tmp_path / "bad.toml"
    file.write_text('[providers.x]\nprovider = "x"\nusd_per_m_input = -1\n')
    result = invoke(runner, ["plan", "--providers", str(file)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "entry 'x' field 'usd_per_m_input'" in result.stderr


def test_replayed_plan_with_providers_notes_their_requests_in_the_ledger(runner, tmp_path):
    from tracelab.plan.providers import PROVIDER_NOTE
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan", "--providers", "bundled", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.stderr
    ledger = pl.read_parquet(tmp_path / "p" / "ledger.parquet")
    sent = ledger.filter(pl.col("prefill_pool").str.starts_with("api:"))
    kept = ledger.filter(~pl.col("prefill_pool").str.starts_with("api:"))
    assert sent.height > 0
    assert sent["replay_note"].unique().to_list() == [PROVIDER_NOTE]
    assert sent["ttft_s"].null_count() == sent.height
    assert kept.filter(pl.col("replay_note") == "replayed")["ttft_s"].null_count() == 0
    # The replay's heading counts the requests it replayed, not the window's.
    replayed = kept.filter(pl.col("replay_note") == "replayed").height
    assert f"{replayed:,} of them on the pools" in " ".join(result.stdout.split())


def test_a_plan_without_providers_weighs_its_pools_against_them():
    """Not given the provider, the plan buys its $2/h replica and says the model's tokens
    would cost $0.00864/h per token there (not planned: the replica stays); a provider
    dearer than the pool, or one the class's SLO rules out, is not offered."""
    plan = fit_plan(_tiny(), _perf(), window_s=200.0, headroom=False,
                    compare_providers=[_api(1.0, 2.0)], max_device_types=None)
    assert plan.usd_per_hour == pytest.approx(2.0)
    (alt,) = plan.per_token_alternatives()
    assert alt["model_id"] == "m8"
    assert alt["usd_per_hour"] == pytest.approx(0.00864, rel=1e-12)
    assert alt["pools_usd_per_hour"] == pytest.approx(2.0)
    assert alt["saving_usd_per_hour"] == pytest.approx(2.0 - 0.00864)
    assert alt["providers"] == ["acme"]
    assert alt["requests"] == 2
    assert plan.to_json()["per_token_alternatives"] == [alt]
    # The same price, planned: what the plan pays for the tokens sent is the offer.
    assert _fit([_api(1.0, 2.0)]).usd_per_hour == pytest.approx(alt["usd_per_hour"], rel=1e-12)
    dear = fit_plan(_tiny(), _perf(), window_s=200.0, headroom=False, max_device_types=None,
                    compare_providers=[_api(1e5, 1e5)])
    assert dear.per_token_alternatives() == []
    assert "per_token_alternatives" not in dear.to_json()
    slow = fit_plan(_tiny(), _perf(), window_s=200.0, headroom=False, max_device_types=None,
                    compare_providers=[_api(1.0, 2.0, ttft=None)])
    assert slow.per_token_alternatives() == []  # no published TTFT: the SLO rules it out


def test_the_sample_report_names_the_models_cheaper_per_token(runner):
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    offered = {a["model_id"]: a for a in doc["per_token_alternatives"]}
    assert offered  # the sample's 8B and 70B pools are mostly idle at 0.4 requests/s each
    hosted = {f["model_id"]: 0.0 for f in doc["fleet"]}
    for f in doc["fleet"]:
        hosted[f["model_id"]] += f["usd_per_hour"]
    for model, alt in offered.items():
        assert alt["usd_per_hour"] < hosted[model] == pytest.approx(alt["pools_usd_per_hour"])
    assert "--providers bundled" in result.stderr
    with_them = json.loads(invoke(runner, ["plan", "--json", "--providers", "bundled"]).stdout)
    assert "per_token_alternatives" not in with_them
    assert with_them["usd_per_hour"] < doc["usd_per_hour"]

"""Hardware catalog: package data, overrides, prices, errors."""

from __future__ import annotations

import pytest

from tracelab.errors import ConfigError
from tracelab.hardware.catalog import load_catalog, parse_prices

REQUIRED_IDS = {
    "h100-sxm",
    "h100-pcie",
    "h200",
    "b200",
    "gb200",
    "b300",
    "a100",
    "mi300x",
    "mi325x",
    "mi355x",
    "rubin-cpx",
    "l40s",
    "rtx-pro-6000",
    "trainium2",
    "trainium3",
    "groq-lpu-v1",
    "groq-3-lp30",
    "cerebras-wse-3",
    "tpu-v5e",
    "tpu-v6e",
    "tpu-ironwood",
    "jetson-agx-thor",
    "jetson-agx-orin",
    "dgx-spark",
    "rtx-5090",
    "apple-m4-max",
    "qualcomm-ai100",
}


def test_catalog_covers_the_issue_list() -> None:
    cat = load_catalog()
    assert len(cat.devices) >= 25
    assert REQUIRED_IDS <= set(cat.devices)
    assert {d.tier for d in cat.devices.values()} >= {"hbm-gpu", "prefill", "sram", "tpu", "edge"}
    for d in cat.devices.values():
        assert d.spec_source, d.id
        assert d.price_source, d.id
        assert d.as_of, d.id
        if d.estimated:
            assert d.estimate_notes or d.price_source.startswith("EST"), d.id
    h100 = cat.get("h100-sxm")
    assert (h100.bf16_tflops, h100.fp8_tflops, h100.mem_bw_tbs, h100.usd_per_hour) == (
        989,
        1979,
        3.35,
        3.78,
    )


def test_unpriced_devices_are_not_plannable_until_priced() -> None:
    cat = load_catalog()
    assert cat.get("mi355x").usd_per_hour is None
    assert "mi355x" not in {d.id for d in cat.plannable()}
    priced = load_catalog(prices={"mi355x": 3.5})
    assert priced.get("mi355x").usd_per_hour == 3.5
    assert "mi355x" in {d.id for d in priced.plannable()}


def test_parse_prices() -> None:
    assert parse_prices(["h100-sxm=2.10", "b200=0"]) == {"h100-sxm": 2.1, "b200": 0.0}
    for bad, match in [
        ("h100-sxm", "expected ID=USD"),
        ("h100-sxm=2/h", "not a number"),
        ("h100-sxm=-1", ">= 0"),
    ]:
        with pytest.raises(ConfigError, match=match):
            parse_prices([bad])
    with pytest.raises(ConfigError, match="unknown device id"):
        load_catalog(prices={"h100": 2.0})


def test_get_unknown_suggests() -> None:
    with pytest.raises(ConfigError, match=r"did you mean .*h100-sxm"):
        load_catalog().get("h100-sx")


def test_user_catalog_overrides_and_adds(tmp_path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        '[devices.h100-sxm]\nusd_per_hour = 2.0\n\n[devices.my-gpu]\nname="Mine"\nvendor="Me"\n'
        'tier="edge"\nbf16_tflops=10\nmem_type="DDR"\nmem_gb=8\nmem_bw_tbs=0.1\ninterconnect="none"\n'
        'link_gbs=1\nunit="1"\nunit_devices=1\nprice_source="me"\nspec_source="me"\nas_of="2026"\n'
    )
    cat = load_catalog(f)
    assert cat.get("h100-sxm").usd_per_hour == 2.0
    assert cat.get("h100-sxm").bf16_tflops == 989
    assert cat.get("my-gpu").usd_per_hour is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[devices.h100-sxm]\nusd_per_hour = -2\n", r"entry 'h100-sxm' field 'usd_per_hour'"),
        ('[devices.h100-sxm]\nmem_bw_tbs = "3.35 TB/s"\n', r"field 'mem_bw_tbs'.*not of type"),
        ('[devices.new]\nname = "x"\n', r"entry 'new' field 'vendor': missing"),
        ("not toml", "not valid TOML"),
    ],
)
def test_bad_catalog_is_one_line(tmp_path, text: str, match: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_catalog(f)
    assert "bad.toml" in str(info.value)
    assert "\n" not in str(info.value)

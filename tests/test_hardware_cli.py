"""CLI: hardware, models, perf, calibrate — happy paths and one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import invoke


def _error(result) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error:")


def test_hardware_lists_catalog(runner) -> None:
    r = invoke(runner, ["hardware"])
    assert r.exit_code == 0, r.stderr
    assert "h100-sxm" in r.stdout
    assert "cerebras-wse-3" in r.stdout
    # Every price's source is printed whole, in a table of its own (it is a sentence: in the
    # catalog's table, cut to 60 characters, it folded every row into a column of 4).
    assert "Where each price comes from" in r.stdout
    text = " ".join(r.stdout.replace("│", " ").split())
    from tracelab.commands._hardware import read_catalog

    for device in read_catalog(None, None).devices.values():
        assert " ".join(device.price_source.split()[:4]) in text
    r = invoke(
        runner,
        [
            "hardware",
            "--json",
            "--price",
            "mi355x=3",
            "--model",
            "llama-3.1-8b",
            "--tier",
            "hbm-gpu",
        ],
    )
    assert r.exit_code == 0, r.stderr
    rows = {d["id"]: d for d in json.loads(r.stdout)["devices"]}
    assert rows["mi355x"]["usd_per_hour"] == 3
    assert rows["mi355x"]["plannable"]
    assert rows["h100-sxm"]["usd_per_mtok_output"] > rows["h100-sxm"]["usd_per_mtok_input"] > 0


@pytest.mark.parametrize(
    "args",
    [
        ["hardware", "--price", "h100-sxm=-1"],
        ["hardware", "--price", "h100=2"],
        ["hardware", "--price", "h100-sxm=2/h"],
        ["hardware", "--tier", "gpu"],
    ],
)
def test_hardware_errors(runner, args) -> None:
    _error(invoke(runner, args))


def test_hardware_bad_catalog_file(runner, tmp_path) -> None:
    f = tmp_path / "cat.toml"
    f.write_text('[devices.h100-sxm]\nmem_gb = "80 GB"\n')
    r = invoke(runner, ["hardware", "--catalog", str(f)])
    _error(r)
    assert "cat.toml entry 'h100-sxm' field 'mem_gb'" in r.stderr


def test_models(runner) -> None:
    r = invoke(runner, ["models", "--json"])
    assert r.exit_code == 0
    assert {m["id"] for m in json.loads(r.stdout)["models"]} >= {"llama-3.1-8b", "deepseek-v3"}
    r = invoke(runner, ["models", "--match", "meta-llama/Llama-3.1-8B-Instruct"])
    assert r.stdout.split() == ["meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b", "exact"]
    _error(invoke(runner, ["models", "--models", "/nonexistent.toml"]))


def test_perf_json(runner) -> None:
    r = invoke(
        runner,
        [
            "perf",
            "--device",
            "h100-sxm",
            "--model",
            "llama-3.1-8b",
            "--phase",
            "prefill",
            "--batch",
            "1",
            "--context",
            "2048",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ms"] == pytest.approx(54.537, rel=1e-3)
    assert out["tokens_per_s"] == pytest.approx(2048 / out["ms"] * 1e3)
    assert out["devices"] == 1
    r = invoke(
        runner,
        [
            "perf",
            "--device",
            "h100-sxm",
            "--model",
            "meta-llama/Llama-3.1-70B-Instruct",
            "--phase",
            "decode",
            "--batch",
            "16",
            "--context",
            "2048",
            "--precision",
            "fp8",
        ],
    )
    assert r.exit_code == 0
    assert "read as 'llama-3.1-70b'" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["perf", "--device", "h100", "--model", "llama-3.1-8b"],
        ["perf", "--device", "h100-sxm", "--model", "gpt-4"],
        ["perf", "--device", "a100", "--model", "llama-3.1-8b", "--precision", "fp8"],
        ["perf", "--device", "h100-sxm", "--model", "llama-3.1-8b", "--phase", "both"],
        ["perf", "--device", "rtx-5090", "--model", "llama-3.1-405b"],
    ],
)
def test_perf_errors(runner, args) -> None:
    _error(invoke(runner, args))


def test_perf_bad_profile(runner, tmp_path) -> None:
    f = tmp_path / "p.toml"
    f.write_text("[defaults]\nmfu = 1.5\n")
    r = invoke(
        runner, ["perf", "--device", "h100-sxm", "--model", "llama-3.1-8b", "--profile", str(f)]
    )
    _error(r)
    assert "p.toml [defaults] field 'mfu'" in r.stderr


def test_calibrate_roundtrip(runner, tmp_path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text(
        "model,phase,batch,context,ms\n"
        "llama-3.1-8b,prefill,1,2048,60.0\n"
        "llama-3.1-8b,prefill,1,8192,260.0\n"
        "llama-3.1-8b,decode,1,1024,8.0\n"
        "llama-3.1-8b,decode,64,1024,11.0\n"
        "llama-3.1-8b,decode,256,1024,22.0\n"
    )
    out = tmp_path / "prof.toml"
    r = invoke(runner, ["calibrate", str(csv), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["median_abs_err_after"] < res["median_abs_err_before"]
    r = invoke(
        runner,
        [
            "perf",
            "--device",
            "h100-sxm",
            "--model",
            "llama-3.1-8b",
            "--phase",
            "prefill",
            "--context",
            "2048",
            "--profile",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["ms"] == pytest.approx(60.0, rel=0.1)


def test_calibrate_errors(runner, tmp_path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("model,phase,batch\nllama-3.1-8b,prefill,1\n")
    _error(invoke(runner, ["calibrate", str(csv)]))
    _error(invoke(runner, ["calibrate", str(tmp_path / "missing.csv")]))


def test_perf_devices_forces_the_replica_size(runner):
    import json

    auto = json.loads(invoke(runner, ["perf", "--device", "h100-sxm", "--model", "llama-3.1-70b",
                                      "--phase", "decode", "--batch", "8", "--json"]).stdout)
    one = invoke(runner, ["perf", "--device", "h100-sxm", "--model", "llama-3.1-70b",
                          "--phase", "decode", "--batch", "8", "--devices", "1", "--json"])
    assert one.exit_code == 0, one.output
    single = json.loads(one.stdout)
    assert auto["devices"] > 1
    assert auto["weights_fit"] is True
    assert single["devices"] == 1
    assert single["weights_fit"] is False
    # One device streams every weight itself: slower than the tensor-parallel group.
    assert single["ms"] > auto["ms"]


def test_tables_piped_without_columns_keep_every_column_whole(runner) -> None:
    """Saved to a file (no terminal, no COLUMNS), a table is printed wide, not cut to rich's
    80-column fallback that broke ids across lines and dropped columns."""
    from tracelab.cli import app
    from tracelab.commands._process import PIPED_WIDTH

    r = runner.invoke(app, ["hardware"], env={"COLUMNS": None, "NO_COLOR": "1"})
    assert r.exit_code == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ ")]
    assert any(line.split("│")[1].strip() == "h100-sxm" for line in rows)
    assert max(len(line) for line in r.stdout.splitlines()) <= PIPED_WIDTH
    assert max(len(line) for line in rows) > 80

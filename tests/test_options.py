"""One options object, validated once from declared constraints, before any trace is read.

Every bad value below is given with an input file that does not exist: the option's error
(not the file's) proves the check ran before ingest.
"""

from __future__ import annotations

import pytest
from conftest import invoke

from tracelab.errors import ParamError
from tracelab.pipeline import MAX_K, PipelineOptions
from tracelab.validation import Interval, Options, validate_params

MISSING = "no-such-trace.parquet"

CASES = [
    (["plan", "--window-s", "0"], "--window-s 0.0: must be a number in the range (0, inf)"),
    (["report", "--window-s", "-5"], "--window-s -5.0: must be a number in the range (0, inf)"),
    (["report", "--k", "100000"],
     f"--k 100000: must be an integer in the range [1, {MAX_K}] or absent"),
    (["plan", "--k", "65"], f"--k 65: must be an integer in the range [1, {MAX_K}] or absent"),
    (["plan", "--percentile", "101"],
     "--percentile 101.0: must be a number in the range [0, 100]"),
    (["report", "--percentile", "nan"],
     "--percentile nan: must be a number in the range [0, 100]"),
    (["plan", "--growth", "0"], "--growth 0.0: must be a number in the range (0, inf)"),
    (["plan", "--by", "tenant"], "--by 'tenant': must be one of labels, cluster"),
    (["plan", "--precision", "fp3"], "--precision 'fp3': must be one of bf16, fp8, fp4"),
    (["plan", "--only", "h100-sxm,tpu-v9"], "--only 'tpu-v9': unknown or unpriced device"),
    (["report", "--exclude", "nope"], "--exclude 'nope': unknown or unpriced device"),
    (["plan", "--slo", "interative.tpot_s=0.005"],
     "--slo 'interative.tpot_s=0.005': unknown mode 'interative'; use one of"),
    (["report", "--slo", "interactive.tpot=0.005"],
     "--slo 'interactive.tpot=0.005': unknown field 'tpot'"),
    (["plan", "--slo", "batch.ttft_s=-1"],
     "--slo 'batch.ttft_s=-1': a target must be a finite number >= 0 seconds"),
    (["report", "--cache-capacity", "-1"],
     "--cache-capacity -1: must be an integer in the range [0, inf) or absent"),
    (["plan", "--random-state", "-1"],
     "--random-state -1: must be an integer in the range [0, 4294967295]"),
    (["cache", "--sample-rate", "1.5"],
     "--sample-rate 1.5: must be a number in the range (0, 1] or absent"),
    (["cache", "--capacities", "0,5"],
     "--capacities 0: must be an integer in the range [1, inf)"),
    (["label", "--format", "xml"], "--format 'xml': must be one of"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_option_is_one_line_exit_2_before_reading_the_trace(runner, args, message):
    result = invoke(runner, [args[0], MISSING, *args[1:]])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {message}"), lines[0]


def test_library_options_name_parameters_not_flags():
    with pytest.raises(ParamError) as caught:
        PipelineOptions(window_s=0.0).validate()
    assert str(caught.value) == "window_s 0.0: must be a number in the range (0, inf)"
    assert caught.value.param == "window_s"
    assert caught.value.hint is None


def test_the_defaults_are_valid():
    assert PipelineOptions().validate() == PipelineOptions()


@pytest.mark.parametrize(("value", "ok"), [
    (0, False), (1, True), (2.5, True), (10, True), (10.5, False), (True, False),
    (float("inf"), False), (float("nan"), False), ("3", False), (None, False),
])
def test_interval_left_open_right_closed(value, ok):
    interval = Interval(float, 0, 10, closed="right")
    assert interval.is_satisfied_by(value) is ok
    assert str(interval) == "a number in the range (0, 10]"


def test_one_template_for_every_constraint():
    constraints = {"k": [None, Interval(int, 1, 8)], "by": [Options(("a", "b"))]}
    validate_params({"k": None, "by": "a"}, constraints)
    with pytest.raises(ParamError, match=r"^k 2\.0: must be an integer in the range \[1, 8\] "
                                         r"or absent$"):
        validate_params({"k": 2.0, "by": "a"}, constraints)
    with pytest.raises(ParamError, match=r"^by 'c': must be one of a, b$"):
        validate_params({"k": 3, "by": "c"}, constraints)


def test_run_pipeline_keeps_taking_keyword_options(tmp_path):
    from tracelab.pipeline import run_pipeline

    with pytest.raises(ParamError, match=r"^growth -1"):
        run_pipeline([tmp_path / MISSING], growth=-1)
    with pytest.raises(TypeError, match="unknown pipeline option windows"):
        run_pipeline([tmp_path / MISSING], windows=3)


def test_the_pipelines_public_signatures_have_no_any():
    import dataclasses
    import inspect

    from tracelab.pipeline import options, run, stages, summary

    found = []
    for module in (options, run, stages, summary):
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [obj]
            if inspect.isclass(obj):
                members = [m for n, m in vars(obj).items() if not n.startswith("_")
                           and callable(m)]
                if dataclasses.is_dataclass(obj):
                    found += [f"{name}.{f.name}" for f in dataclasses.fields(obj)
                              if "Any" in str(f.type)]
            for member in members:
                if callable(member):
                    text = str(inspect.signature(member))
                    if "Any" in text:
                        found.append(f"{module.__name__}.{name}: {text}")
    assert not found, found

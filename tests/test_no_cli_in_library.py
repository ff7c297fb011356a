"""Library code states facts; only the CLI (``tracelab/commands``, ``tracelab/cli.py``)
speaks in flags. No string the library can raise, return or write into a data column
names a CLI flag (docstrings and comments may, to say which flag feeds a parameter)."""

from __future__ import annotations

import ast
import re

import polars as pl
from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "tracelab"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
# Strings that are a shell command to regenerate package data, not advice to a caller.
ALLOWED = {("synth/samples.py", "tracelab synth --samples sample_traces")}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_library_string_names_a_cli_flag():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("commands/") or rel == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docs and FLAG.search(node.value)
                    and (rel, node.value) not in ALLOWED):
                found.append(f"{rel}:{node.lineno}: {node.value[:80]!r}")
    assert not found, "\n".join(found)


def test_label_reasons_carry_no_cli_advice():
    from tracelab.labels import label_trace

    frame = pl.LazyFrame({
        "request_id": ["a", "b"], "model": [None, "some-private-model"],
        "input_tokens": [100, 2000], "output_tokens": [10, 20],
    })
    from tracelab.schema import conform  # the canonical columns, nulls where absent

    labeled = label_trace(conform(frame), k=1).frame.collect()
    reasons = labeled["label_model_reason"].to_list()
    assert all(r is not None and not FLAG.search(r) for r in reasons), reasons

"""``tracelab models``: list the model registry (architecture facts and their sources)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Json


def models(
    match: Annotated[
        list[str] | None, typer.Option("--match", help="Show which id a logged model name maps to.")
    ] = None,
    models_file: Annotated[
        Path | None, typer.Option("--models", help="Your TOML adding or overriding models.")
    ] = None,
    json_out: Json = False,
) -> None:
    """List registry models with parameters, shape and KV bytes per token."""
    from tracelab.hardware.registry import load_models, resolve_models

    registry = load_models(models_file)
    if match:
        frame = resolve_models(match, models=registry)
        if json_out:
            sys.stdout.write(json.dumps(frame.to_dicts(), indent=2) + "\n")
        else:
            for row in frame.iter_rows(named=True):
                sys.stdout.write(
                    f"{row['model']}\t{row['model_id'] or '-'}\t{row['model_match']}\n"
                )
        return
    if json_out:
        rows = [
            {**vars(m), "aliases": list(m.aliases), "weight_bytes_bf16": m.weight_bytes_bf16}
            for m in registry.values()
        ]
        sys.stdout.write(json.dumps({"models": rows}, indent=2) + "\n")
        return
    from rich.table import Table

    from tracelab.commands._process import stdout_console

    table = Table(title="tracelab model registry (params in billions; KV bf16 bytes/token)")
    for col in (
        "id",
        "family",
        "params_b",
        "active_b",
        "layers",
        "hidden",
        "heads",
        "kv_heads",
        "head_dim",
        "attn",
        "kv_bytes/tok",
        "source",
    ):
        table.add_column(col, overflow="fold")
    for m in registry.values():
        table.add_row(
            m.id,
            m.family,
            f"{m.params_b:g}",
            f"{m.active_params_b:g}",
            str(m.n_layers),
            str(m.hidden_size),
            str(m.n_heads),
            str(m.n_kv_heads),
            str(m.head_dim),
            m.attention,
            f"{m.kv_bytes_per_token:,}",
            m.source[:50],
        )
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models", help="List the model registry and match logged names to ids.")(
        boundary(models)
    )

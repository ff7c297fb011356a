"""``tracelab perf``: one prediction of the performance model (prefill or a decode step)."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._hardware import load_perf_model, read_catalog, resolve_model
from tracelab.commands._options import Catalog, Json, Precision, Price, Profile


def perf(
    device: Annotated[str, typer.Option("--device", help="Catalog id, e.g. h100-sxm.")],
    model: Annotated[str, typer.Option("--model", help="Registry id or a logged model name.")],
    phase: Annotated[str, typer.Option("--phase", help="prefill | decode.")] = "decode",
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Prompts (prefill) or sequences (decode).")
    ] = 1,
    context: Annotated[
        int, typer.Option("--context", min=1, help="Prompt length or cached context, tokens.")
    ] = 1024,
    chunk: Annotated[
        int, typer.Option("--chunk", min=0, help="Decode only: co-scheduled prefill chunk, tokens.")
    ] = 0,
    devices_opt: Annotated[
        int | None,
        typer.Option(
            "--devices",
            min=1,
            help="Devices per replica (tensor-parallel group). Default: the fewest that hold "
            "the model's weights. A count too small to hold them still predicts the time, "
            "with weights_fit false.",
        ),
    ] = None,
    precision: Precision = "bf16",
    catalog: Catalog = None,
    price: Price = None,
    profile: Profile = None,
    json_out: Json = False,
) -> None:
    """Predict one prefill (B prompts × L tokens) or one decode step (B sequences at context L)."""
    from tracelab.errors import ConfigError

    if phase not in ("prefill", "decode"):
        msg = f"--phase '{phase}': use prefill or decode"
        raise ConfigError(msg)
    cat = read_catalog(catalog, price)
    model_id, how = resolve_model(model)
    pm = load_perf_model(cat, profile)
    dev = cat.get(device)
    needed = pm.replica_devices(device, model_id, precision)
    if needed is None and devices_opt is None:
        msg = f"model '{model_id}' does not fit on '{device}' at {precision}; try --precision fp8, --devices N or another device"
        raise ConfigError(msg)
    devices = devices_opt or needed or 1
    if phase == "prefill":
        seconds = pm.prefill_s(device, model_id, batch, context, precision, devices)
        tokens = batch * context
        stretch = None
    else:
        seconds = pm.decode_step_s(device, model_id, batch, context, precision, devices)
        tokens = batch
        stretch = (
            pm.colocation_stretch(device, model_id, batch, context, chunk, precision)
            if chunk
            else None
        )
        seconds *= stretch or 1.0
    kv_cap = pm.kv_capacity_tokens(device, model_id, precision, devices)
    usd_h = devices * dev.usd_per_hour if dev.usd_per_hour is not None else math.nan
    tps = tokens / seconds
    result = {
        "device_id": device,
        "model_id": model_id,
        "model_match": how,
        "phase": phase,
        "precision": precision,
        "batch": batch,
        "context": context,
        "devices": devices,
        "ms": seconds * 1e3,
        "tokens_per_s": tps,
        "weights_fit": needed is not None and devices >= needed,
        "fits_memory": (needed is not None and devices >= needed)
        and (batch * context <= kv_cap or dev.tier == "sram"),
        "kv_capacity_tokens": kv_cap,
        "usd_per_hour": None if math.isnan(usd_h) else usd_h,
        "usd_per_mtok": None if math.isnan(usd_h) else usd_h / (tps * 3600) * 1e6,
        "colocation_stretch": stretch,
    }
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    what = (
        f"{batch} prompt(s) x {context} tokens"
        if phase == "prefill"
        else f"decode step, batch {batch} at context {context}"
    )
    lines = [
        f"{model_id} on {devices} x {device} ({precision}): {what}",
        f"  time          {result['ms']:.3f} ms"
        + (f"  (x{stretch:.2f} with a {chunk}-token prefill chunk)" if stretch else ""),
        f"  tokens/s      {tps:,.1f} per replica",
        f"  $/M tokens    {result['usd_per_mtok']:.4f}"
        if result["usd_per_mtok"] is not None
        else "  $/M tokens    n/a (no price; pass --price)",
    ]
    if not result["fits_memory"]:
        lines.append(
            f"  warning: KV of {batch * context} tokens exceeds the {kv_cap:,.0f} that fit"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def register(app: typer.Typer) -> None:
    app.command("perf", help="One performance-model prediction (prefill or decode step).")(
        boundary(perf)
    )

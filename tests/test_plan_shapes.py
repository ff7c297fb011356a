"""Shape candidates start at the model's headroom: what the count repair found its present
pools need over their fluid need."""

from __future__ import annotations

from tracelab.plan.routes import Route
from tracelab.plan.shapes import candidates, headroom

MODEL = "llama-3.2-3b"


def _route(cls: str, device: str, size: int, load: float) -> Route:
    pool = (device, MODEL, size, "colocated")
    return Route(class_id=cls, model_id=MODEL, prefill_pool=pool, decode_pool=pool,
                 prefill_load=load / 2, decode_load=load / 2, prefill_tokens_per_s=1e4,
                 decode_tokens_per_s=1e3, prefill_usd_per_hour=2.0 * size,
                 decode_usd_per_hour=2.0 * size, stretch=1.0, chunk_tokens=512,
                 transfer_s=0.0, kv_bytes=0.0, ttft_s=0.1, tpot_s=0.01, decode_batch=64)


def test_headroom_is_replicas_over_fluid_need_and_never_below_one():
    a = _route("a", "h100-sxm", 1, 9.5)  # fluid need 10
    b = _route("b", "h100-sxm", 1, 4.2)  # with a: 13.7, need 14
    fractions = {"a": [(a, 1.0)], "b": [(b, 1.0)]}
    assert headroom({a.prefill_pool: 28}, fractions) == 2.0
    assert headroom({a.prefill_pool: 10}, fractions) == 1.0  # below the need: 1
    assert headroom({}, fractions) == 1.0


def test_candidates_start_at_the_fluid_need_times_the_headroom():
    routes = {"a": [_route("a", "h100-sxm", 1, 9.5), _route("a", "l40s", 1, 9.5)]}

    def price(pool):
        return 1.0 if pool[0] == "l40s" else 2.0

    plain = candidates(routes, ["a"], {}, ["h100-sxm", "l40s"], price, 100.0)
    roomy = candidates(routes, ["a"], {}, ["h100-sxm", "l40s"], price, 100.0, room=2.0)
    assert min(n for r, *_ in plain for n in r.values()) == 10
    assert min(n for r, *_ in roomy for n in r.values()) == 20
    assert sorted(n for r, *_ in roomy for n in r.values()) == [20, 20, 21, 21, 22, 22]
    # A shape the headroom makes dearer than the fleet it would replace is not tried.
    cheaper = candidates(routes, ["a"], {}, ["h100-sxm", "l40s"], price, 42.0, room=2.0)
    assert [usd for *_, usd, _ in cheaper] == [20.0, 21.0, 22.0, 40.0]

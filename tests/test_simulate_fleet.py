"""plan.json → Fleet, in the planner's new shape (pools) and the older one (fleet rows)."""

from __future__ import annotations

import pytest

from tracelab.errors import ConfigError
from tracelab.simulate import Fleet, PoolSpec, RouteShare

POOL = {"pool_id": "h100-sxm/llama-3.1-8b/x1/colocated", "device_id": "h100-sxm",
        "model_id": "llama-3.1-8b", "devices_per_replica": 1, "replicas": 2,
        "role": "colocated", "precision": "bf16", "usd_per_hour": 6.0}
ROUTE = {"class_id": "c llama-3.1-8b", "prefill_pool": POOL["pool_id"],
         "decode_pool": POOL["pool_id"], "fraction": 1.0}


def test_the_new_shape_is_read_as_is():
    fleet = Fleet.from_plan_json({"pools": [POOL], "routes": [ROUTE]}, source="p.json")
    assert fleet.pools == (PoolSpec(POOL["pool_id"], "h100-sxm", "llama-3.1-8b", 1, 2,
                                    "colocated"),)
    assert fleet.routes == (RouteShare("c llama-3.1-8b", POOL["pool_id"], POOL["pool_id"], 1.0),)


def test_the_older_shape_derives_pools_from_fleet_rows_and_routes():
    data = {
        "fleet": [
            {"device_id": "mi300x", "model_id": "m", "replicas": 1, "devices": 2, "role": "prefill"},
            {"device_id": "mi300x", "model_id": "m", "replicas": 3, "devices": 24, "role": "prefill"},
            {"device_id": "h100-sxm", "model_id": "m", "replicas": 2, "devices": 4, "role": "decode"},
            {"device_id": "h100-sxm", "model_id": "m", "replicas": 1, "devices": 1,
             "role": "colocated"},
        ],
        "routes": [
            {"class_id": "a m", "prefill_device": "mi300x", "decode_device": "h100-sxm",
             "fraction": 0.5, "colocated": False},
            {"class_id": "a m", "prefill_device": "h100-sxm", "decode_device": "h100-sxm",
             "fraction": 0.5, "colocated": True},
        ],
        "classes": [{"class_id": "a m", "model_id": "m"}],
        "settings": {"precision": "fp8"},
    }
    fleet = Fleet.from_plan_json(data, source="p.json")
    ids = [p.pool_id for p in fleet.pools]
    assert ids == ["mi300x/m/x2/prefill", "mi300x/m/x8/prefill", "h100-sxm/m/x2/decode",
                   "h100-sxm/m/x1/colocated"]
    assert {p.precision for p in fleet.pools} == {"fp8"}
    # the split route's half goes 1:3 over the two prefill sizes, by their replicas
    assert [(r.prefill_pool, r.fraction) for r in fleet.routes] == [
        ("mi300x/m/x2/prefill", 0.125), ("mi300x/m/x8/prefill", 0.375),
        ("h100-sxm/m/x1/colocated", 0.5)]


def test_a_route_to_a_pool_bought_with_no_replica_gets_an_empty_pool():
    data = {"fleet": [{"device_id": "a", "model_id": "m", "replicas": 1, "devices": 1,
                       "role": "prefill"}],
            "routes": [{"class_id": "x m", "prefill_device": "a", "decode_device": "a",
                        "fraction": 1.0, "colocated": False}],
            "classes": [{"class_id": "x m", "model_id": "m"}]}
    fleet = Fleet.from_plan_json(data, source="p.json")
    assert [(p.pool_id, p.replicas) for p in fleet.pools] == [("a/m/x1/prefill", 1),
                                                              ("a/m/x1/decode", 0)]


@pytest.mark.parametrize(("data", "says"), [
    ({"usd_per_hour": 1}, "not a tracelab plan.json"),
    ({"pools": {}, "routes": []}, "field 'pools' must be a list"),
    ({"pools": [{**POOL, "role": "both"}], "routes": []}, "pools[0] field 'role'"),
    ({"pools": [{**POOL, "replicas": "2"}], "routes": []}, "pools[0] field 'replicas'"),
    ({"pools": [POOL], "routes": [{**ROUTE, "fraction": 0.5}]}, "sum to 0.5"),
    ({"pools": [POOL], "routes": [{**ROUTE, "decode_pool": "nope"}]}, "names pool 'nope'"),
    ({"pools": [POOL, POOL], "routes": []}, "appears twice"),
])
def test_a_malformed_or_foreign_plan_is_one_config_error(data, says):
    with pytest.raises(ConfigError, match=r"^p\.json") as err:
        Fleet.from_plan_json(data, source="p.json")
    assert says in str(err.value)
    assert "\n" not in str(err.value)

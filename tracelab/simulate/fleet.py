"""The fleet a replay runs on: pools of identical replicas and each class's route shares.

``Fleet.from_plan_json`` reads a plan.json in either shape the planner writes:
- with a top-level ``pools`` list (PoolSpec fields) and routes naming ``prefill_pool`` and
  ``decode_pool`` ids;
- the older shape, ``fleet`` rows (device_id, model_id, replicas, devices, role) and routes
  naming ``prefill_device``/``decode_device``/``colocated``: a route's pool is the fleet row
  of that device, the class's model and the role; when several rows match (replica sizes
  differ), the route's fraction is split over them in proportion to their replicas.
Anything else is a ``ConfigError`` naming the source and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracelab.errors import ConfigError

ROLES = ("colocated", "prefill", "decode")
PRECISIONS = ("bf16", "fp8", "fp4")


@dataclass(frozen=True)
class PoolSpec:
    """A pool of ``replicas`` identical replicas of ``devices_per_replica`` devices.

    ``available``: when the count in service changes over time (a schedule), steps
    ``(from_s, replicas in service)`` in time order, each at most ``replicas`` (the pool's
    size); empty: all ``replicas`` all the time (``tracelab.simulate.dispatch``)."""

    pool_id: str
    device_id: str
    model_id: str
    devices_per_replica: int
    replicas: int
    role: str
    precision: str = "bf16"
    available: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class RouteShare:
    """``fraction`` of a class's requests prefill on ``prefill_pool``, decode on ``decode_pool``."""

    class_id: str
    prefill_pool: str
    decode_pool: str
    fraction: float


def pool_id(device_id: str, model_id: str, devices_per_replica: int, role: str) -> str:
    """The stable text id of a pool, e.g. ``h100-sxm/llama-3.1-8b/x1/colocated``."""
    return f"{device_id}/{model_id}/x{devices_per_replica}/{role}"


@dataclass(frozen=True)
class Fleet:
    """Pools and routes; every route names pools of this fleet."""

    pools: tuple[PoolSpec, ...]
    routes: tuple[RouteShare, ...]

    def pool(self, pool_id: str) -> PoolSpec:
        for p in self.pools:
            if p.pool_id == pool_id:
                return p
        msg = f"no pool {pool_id!r} in the fleet"
        raise ConfigError(msg)

    @classmethod
    def from_plan_json(cls, data: Mapping[str, object], *, source: str) -> Fleet:
        """The fleet of a plan.json object (see the module docstring); ``source`` names the
        file in errors."""
        if not isinstance(data, Mapping) or "routes" not in data or (
            "pools" not in data and "fleet" not in data
        ):
            msg = f"{source}: not a tracelab plan.json (needs 'routes' and 'pools' or 'fleet'); "
            msg += "write one with tracelab plan -o DIR"
            raise ConfigError(msg)
        routes = _list(data, "routes", source)
        if "pools" in data:
            pools = tuple(_pool(r, i, source) for i, r in enumerate(_list(data, "pools", source)))
            shares = tuple(_share(r, i, source) for i, r in enumerate(routes))
        else:
            rows = _list(data, "fleet", source)
            settings = data.get("settings")
            precision = settings.get("precision") if isinstance(settings, Mapping) else None
            found = [_legacy_pool(r, i, source, str(precision or "bf16"))
                     for i, r in enumerate(rows)]
            models = _class_models(data, source)
            shares = tuple(s for i, r in enumerate(routes)
                           for s in _legacy_shares(r, i, found, models, source))
            pools = tuple(found)
        fleet = cls(pools, shares)
        fleet.check(source)
        return fleet

    def check(self, source: str) -> None:
        """ConfigError unless pool ids are unique, routes name pools of the right roles and
        one model, and each class's fractions sum to 1."""
        by_id: dict[str, PoolSpec] = {}
        for p in self.pools:
            if p.pool_id in by_id:
                msg = f"{source}: pool {p.pool_id!r} appears twice; give each pool one entry"
                raise ConfigError(msg)
            by_id[p.pool_id] = p
        sums: dict[str, float] = {}
        for r in self.routes:
            for name in (r.prefill_pool, r.decode_pool):
                if name not in by_id:
                    msg = f"{source}: route of class {r.class_id!r} names pool {name!r}, "
                    msg += "which is not in 'pools'"
                    raise ConfigError(msg)
            pre, dec = by_id[r.prefill_pool], by_id[r.decode_pool]
            colocated = r.prefill_pool == r.decode_pool
            if (colocated and pre.role != "colocated") or (
                not colocated and (pre.role, dec.role) != ("prefill", "decode")
            ):
                msg = f"{source}: route of class {r.class_id!r} goes {pre.pool_id} -> "
                msg += f"{dec.pool_id}; a route is one colocated pool or a prefill then a decode pool"
                raise ConfigError(msg)
            if pre.model_id != dec.model_id:
                msg = f"{source}: route of class {r.class_id!r} prefills {pre.model_id} but "
                msg += f"decodes {dec.model_id}; both pools must serve one model"
                raise ConfigError(msg)
            sums[r.class_id] = sums.get(r.class_id, 0.0) + r.fraction
        for class_id, total in sums.items():
            if abs(total - 1.0) > 1e-6:
                msg = f"{source}: the route fractions of class {class_id!r} sum to {total:.6g}, "
                msg += "not 1"
                raise ConfigError(msg)


def _list(data: Mapping[str, object], key: str, source: str) -> Sequence[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        msg = f"{source}: field '{key}' must be a list of objects"
        raise ConfigError(msg)
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            msg = f"{source}: {key}[{i}] must be an object"
            raise ConfigError(msg)
    return value


def _field(row: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = row.get(name)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        msg = f"{where} field '{name}': {value!r} is not a {kind.__name__}"
        raise ConfigError(msg)
    return float(value) if kind is float else value  # type: ignore[arg-type]


def _checked_pool(pid: str, device: str, model: str, size: int, replicas: int, role: str,
                  precision: str, where: str) -> PoolSpec:
    if role not in ROLES:
        msg = f"{where} field 'role': {role!r}; use one of {', '.join(ROLES)}"
        raise ConfigError(msg)
    if size < 1 or replicas < 0:
        msg = f"{where}: needs devices_per_replica >= 1 and replicas >= 0 (got {size}, {replicas})"
        raise ConfigError(msg)
    if precision not in PRECISIONS:
        msg = f"{where} field 'precision': {precision!r}; use one of {', '.join(PRECISIONS)}"
        raise ConfigError(msg)
    return PoolSpec(pid, device, model, size, replicas, role, precision)


def _pool(row: Mapping[str, Any], i: int, source: str) -> PoolSpec:
    where = f"{source}: pools[{i}]"
    return _checked_pool(
        _field(row, "pool_id", str, where), _field(row, "device_id", str, where),
        _field(row, "model_id", str, where), _field(row, "devices_per_replica", int, where),
        _field(row, "replicas", int, where), _field(row, "role", str, where),
        str(row.get("precision") or "bf16"), where)


def _share(row: Mapping[str, Any], i: int, source: str) -> RouteShare:
    where = f"{source}: routes[{i}]"
    fraction = _field(row, "fraction", float, where)
    if not 0 <= fraction <= 1:
        msg = f"{where} field 'fraction': {fraction} is not in [0, 1]"
        raise ConfigError(msg)
    return RouteShare(_field(row, "class_id", str, where), _field(row, "prefill_pool", str, where),
                      _field(row, "decode_pool", str, where), fraction)


def _legacy_pool(row: Mapping[str, Any], i: int, source: str, default: str) -> PoolSpec:
    where = f"{source}: fleet[{i}]"
    device, model = _field(row, "device_id", str, where), _field(row, "model_id", str, where)
    replicas, devices = _field(row, "replicas", int, where), _field(row, "devices", int, where)
    role = _field(row, "role", str, where)
    size = devices // replicas if replicas > 0 else devices
    if replicas > 0 and devices % replicas:
        msg = f"{where}: {devices} devices do not split into {replicas} equal replicas"
        raise ConfigError(msg)
    precision = str(row.get("precision") or default)
    return _checked_pool(pool_id(device, model, size, role), device, model, size, replicas, role,
                         precision, where)


def _class_models(data: Mapping[str, object], source: str) -> dict[str, str]:
    models = {}
    for i, row in enumerate(_list(data, "classes", source)):
        where = f"{source}: classes[{i}]"
        class_id = _field(row, "class_id", str, where)
        model = row.get("model_id")
        if isinstance(model, str):
            models[class_id] = model
    return models


def _legacy_shares(row: Mapping[str, Any], i: int, pools: list[PoolSpec],
                   models: Mapping[str, str], source: str) -> list[RouteShare]:
    """The route's shares of the matching pools. A route to a pool the fleet bought no
    replica of (the older planner drops such rows) gets a pool of 0 replicas, so its
    requests show as unserved rather than vanishing."""
    where = f"{source}: routes[{i}]"
    class_id = _field(row, "class_id", str, where)
    fraction = _field(row, "fraction", float, where)
    model = models.get(class_id)
    if model is None:
        msg = f"{where}: class {class_id!r} is not in 'classes' with a model_id"
        raise ConfigError(msg)
    colocated = row.get("colocated") is True
    ends = [("prefill_device", "colocated" if colocated else "prefill")]
    if not colocated:
        ends.append(("decode_device", "decode"))
    matched = []
    for key, role in ends:
        device = _field(row, key, str, where)
        found = [p for p in pools if (p.device_id, p.model_id, p.role) == (device, model, role)]
        if not found:
            found = [PoolSpec(pool_id(device, model, 1, role), device, model, 1, 0, role,
                              pools[0].precision if pools else "bf16")]
            pools.extend(found)
        matched.append(found)
    pre = matched[0]
    dec = matched[-1]
    shares = []
    for a in pre:
        for b in dec if not colocated else [a]:
            weight = _weight(a, pre) * (1.0 if colocated else _weight(b, dec))
            shares.append(RouteShare(class_id, a.pool_id, b.pool_id, fraction * weight))
    return shares


def _weight(pool: PoolSpec, group: Sequence[PoolSpec]) -> float:
    total = sum(p.replicas for p in group)
    return pool.replicas / total if total else 1.0 / len(group)

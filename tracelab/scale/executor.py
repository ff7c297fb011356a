"""Where per-partition work runs: in this process, or on Dask ``distributed`` workers.

Both executors expose ``map_partitions(fn, partitions) -> list`` returning one result per
partition **in partition order**, so merging on the client is deterministic and a Dask run
gives the same merged result as a local run. ``fn`` must be a module-level function (it is
pickled to the workers); partitions are small descriptions (``tracelab.scale.Partition``),
never data. Dask is an optional extra (``pip install '.[dask]'`` in a checkout) imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from tracelab.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

# Seconds to wait for a scheduler before saying it is unreachable.
CONNECT_TIMEOUT_S = 5.0
DASK_MISSING = (
    "the dask executor needs Dask distributed, which is not installed; "
    "install it with pip install '.[dask]' (in a checkout of this project) or use the local "
    "executor"
)


class Executor(Protocol):
    name: str

    def map_partitions(self, fn: Callable[[T], R], partitions: Sequence[T]) -> list[R]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Run each partition in turn in this process (polars parallelises inside each one)."""

    name = "local"

    def map_partitions(self, fn: Callable[[T], R], partitions: Sequence[T]) -> list[R]:
        return [fn(p) for p in partitions]

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Run partitions on a Dask cluster: an existing scheduler, or a local one of N workers.

    ``scheduler``: address such as ``tcp://10.0.0.5:8786``. ``local_cluster``: start a
    ``LocalCluster`` of that many single-threaded workers bound to 127.0.0.1 (dashboard on a
    random port); ``processes=False`` keeps them as threads of this process (tests).
    Exactly one of the two must be given.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        local_cluster: int | None = None,
        *,
        processes: bool = True,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if (scheduler is None) == (local_cluster is None):
            msg = "the dask executor needs exactly one of a scheduler address or a local cluster size"
            raise ConfigError(msg, param="scheduler")
        if local_cluster is not None and local_cluster < 1:
            msg = f"local cluster {local_cluster}: the number of workers must be at least 1"
            raise ConfigError(msg, param="local_cluster")
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(DASK_MISSING) from None
        self._cluster: Any = None
        if local_cluster is not None:
            self._cluster = LocalCluster(
                n_workers=local_cluster,
                threads_per_worker=1,
                processes=processes,
                host="127.0.0.1",
                protocol="tcp://",
                dashboard_address=":0",
            )
            address = self._cluster.scheduler_address
        else:
            address = str(scheduler)
        try:
            self.client: Any = Client(address, timeout=connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = (f"cannot reach the Dask scheduler at {address} within {connect_timeout_s:g} s "
                   f"({reason}); check the address and that the scheduler is running")
            raise ConfigError(msg, param="scheduler") from None
        self.address = address

    def map_partitions(self, fn: Callable[[T], R], partitions: Sequence[T]) -> list[R]:
        if not partitions:
            return []
        futures = self.client.map(fn, list(partitions), pure=False)
        return list(self.client.gather(futures))

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def make_executor(
    executor: str = "local",
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    processes: bool = True,
) -> LocalExecutor | DaskExecutor | None:
    """The executor a CLI's ``--executor/--scheduler/--local-cluster`` options name; None
    for ``inline`` (the whole frame in this process, no partitions)."""
    if executor not in ("inline", "local", "dask"):
        msg = f"unknown executor {executor!r}; use inline, local or dask"
        raise ConfigError(msg, param="executor")
    if executor != "dask" and (scheduler is not None or local_cluster is not None):
        msg = "a scheduler address or local cluster needs the dask executor"
        raise ConfigError(msg, param="scheduler")
    if executor == "inline":
        return None
    if executor == "local":
        return LocalExecutor()
    return DaskExecutor(scheduler, local_cluster, processes=processes)

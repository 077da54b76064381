"""Where the per-frame work runs: in the calling thread, a thread pool, or a Dask cluster.

Every backend offers ``submit(fn, *args) -> future`` (``.done()``, ``.result()``) and
``close()``. The engine never holds more than its ``max_in_flight`` futures, so the
backend's own queues stay bounded whatever the acquisition rate.

* ``local``: runs the work at submission (a finished future); the reference loop.
* ``thread``: a :class:`~concurrent.futures.ThreadPoolExecutor`; numpy, scipy.fft and
  torch release the GIL in their heavy loops, so threads use several cores.
* ``dask``: a :mod:`distributed` client on an existing scheduler (``tcp://host:port``)
  or on a :class:`~distributed.LocalCluster` of single-threaded worker processes that
  it starts and stops.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from ..errors import ParameterError


class FutureLike(Protocol):
    def done(self) -> bool: ...
    def result(self, timeout: float | None = None) -> Any: ...


class Backend(Protocol):
    name: str
    workers: int

    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike: ...
    def close(self) -> None: ...


class LocalBackend:
    """Run each frame in the calling thread, at submission."""

    name = "local"
    workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # delivered through the future, as the other backends do
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


class ThreadBackend:
    """Run frames on ``workers`` threads."""

    name = "thread"

    def __init__(self, workers: int = 2):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asirp-worker")

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class DaskBackend:
    """Run frames on a Dask ``distributed`` cluster.

    Parameters
    ----------
    workers:
        Worker processes of the :class:`~distributed.LocalCluster` started when no
        ``scheduler`` is given (one thread each: restoration is CPU-bound).
    scheduler:
        Address of a running scheduler (``tcp://host:8786``); its workers are used as they are.
    client:
        An existing :class:`distributed.Client` to use instead (not closed by :meth:`close`).
    processes:
        LocalCluster only: worker processes (True) or threads in this process (False, for tests).
    connect_timeout_s:
        How long to try reaching ``scheduler`` before giving up, s.
    pin:
        LocalCluster of processes only: pin each worker to its own CPU core (when there
        are at least as many cores as workers, on Linux). A worker is then one core's
        worth of compute: restoration methods run their FFTs on every core they can
        see (``scipy.fft`` with ``workers=-1``), so unpinned workers fight over the
        same cores and a second worker adds contention instead of throughput.
    """

    name = "dask"

    def __init__(
        self,
        workers: int = 1,
        scheduler: str | None = None,
        *,
        client: Any = None,
        processes: bool = True,
        connect_timeout_s: float = 10.0,
        pin: bool = True,
    ):
        from distributed import Client, LocalCluster

        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self._client = client
        elif scheduler is not None:
            try:
                self._client = Client(scheduler, timeout=connect_timeout_s)
            except OSError as exc:
                raise ParameterError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=":0", silence_logs=40
            )
            self._client = Client(self._cluster)
        addresses = sorted(self._client.scheduler_info(n_workers=-1).get("workers", {}))
        self.workers = max(1, len(addresses) or workers)
        if self._cluster is not None and processes and pin:
            _pin_workers(self._client, addresses)
        # Import the repertoire on every worker now (seconds with torch), not while the first frames wait.
        self._client.run(_import_repertoire)

    @property
    def client(self) -> Any:
        return self._client

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        # pure=False: two identical frames are two frames, never deduplicated by Dask.
        return self._client.submit(fn, *args, pure=False)

    def close(self) -> None:
        if self._own_client:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _pin_to_core(core: int) -> list[int]:
    os.sched_setaffinity(0, {core})
    return sorted(os.sched_getaffinity(0))


def _pin_workers(client: Any, addresses: list[str]) -> None:
    """Pin worker ``i`` to core ``i`` of the cores this process may use (Linux, enough cores)."""
    if not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(addresses) > len(cores):
        return
    for core, address in zip(cores, addresses, strict=False):
        client.run(_pin_to_core, core, workers=[address])


def _import_repertoire() -> int:
    from ..methods.base import registry

    return len(registry())


def make_backend(name: str, workers: int = 1, scheduler: str | None = None) -> Backend:
    """The backend called ``name`` ("local", "thread" or "dask")."""
    if name == "local":
        return LocalBackend()
    if name == "thread":
        return ThreadBackend(workers)
    if name == "dask":
        return DaskBackend(workers, scheduler)
    raise ParameterError(f"unknown backend {name!r}; expected local, thread or dask")

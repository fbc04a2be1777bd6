"""A Dask distributed client for ``--workers N`` / ``--scheduler ADDRESS`` (``liberation report``, ``segment``).

:func:`dask_client` opens either a local cluster of ``N`` worker processes with one thread
each, or a client of a running cluster (a ``dask scheduler`` with its workers, e.g. started by
dask-jobqueue on SLURM), and closes what it opened when the block ends, also on an error.
Extra ``distributed``: imported only when a cluster is asked for. docs/distributed.md says
what runs on the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from liberation.errors import InputError, require

__all__ = ["CONNECT_TIMEOUT_S", "check_cluster_options", "dask_client"]

#: Seconds to wait for the scheduler given by ``--scheduler`` before giving up.
CONNECT_TIMEOUT_S = 5.0


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """Refuse ``workers`` < 1, an empty ``scheduler`` address, or both given.

    Parameters
    ----------
    workers : int, optional
        ``--workers``: worker processes of a local cluster.
    scheduler : str, optional
        ``--scheduler``: address of a running scheduler.

    Raises
    ------
    InputError
        Naming the option and the value.
    """
    if workers is not None and scheduler is not None:
        raise InputError(f"--workers={workers} and --scheduler={scheduler!r} were both given; --workers starts a "
                         "local cluster, --scheduler uses a running one: give one of them")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise InputError(f"--workers={workers!r}; expected a whole number of worker processes >= 1")
    if scheduler is not None and not str(scheduler).strip():
        raise InputError(f"--scheduler={scheduler!r}; expected a scheduler address such as tcp://10.0.0.5:8786")


@contextmanager
def dask_client(client=None, *, workers: int | None = None, scheduler: str | None = None,
                timeout: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for the block of a ``with`` statement, or None when none is asked for.

    Parameters
    ----------
    client : distributed.Client, optional
        The caller's own client: yielded as it is, not closed (then no ``workers`` or ``scheduler``).
    workers : int, optional
        Start a ``distributed.LocalCluster`` of this many worker processes, one thread each
        (the nanny sets ``OMP_NUM_THREADS=1`` in each), no dashboard; closed at the end.
    scheduler : str, optional
        Connect to the running scheduler at this address (``tcp://host:port``); the cluster
        is left running, only the client is closed.
    timeout : float, optional
        Seconds to wait for ``scheduler`` (default :data:`CONNECT_TIMEOUT_S`).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    InputError
        Bad options (:func:`check_cluster_options`), or no scheduler answers at ``scheduler``
        within ``timeout``.
    DependencyError
        The ``distributed`` extra is not installed.
    """
    check_cluster_options(workers, scheduler)
    if client is not None and (workers is not None or scheduler is not None):
        raise InputError("client= was given together with workers= or scheduler=; give one of them")
    if workers is None and scheduler is None:
        yield client
        return
    distributed = require("distributed", "distributed")
    with _quiet_dask():
        yield from _client(distributed, workers, scheduler, timeout)


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own log lines (cluster start and stop, workers joining) only at -v (root level INFO or lower).

    Dask configures its ``distributed`` logger at INFO; its errors still show.
    """
    log = logging.getLogger("distributed")
    before = log.level
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(before)


def _client(distributed, workers: int | None, scheduler: str | None, timeout: float | None) -> Iterator[Any]:
    if scheduler is not None:
        wait = CONNECT_TIMEOUT_S if timeout is None else float(timeout)
        try:
            client = distributed.Client(str(scheduler).strip(), timeout=wait, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(f"--scheduler={scheduler!r}: no Dask scheduler answered within {wait:g} s ({reason}); "
                             "start one ('dask scheduler', or a dask-jobqueue cluster, docs/distributed.md) and "
                             "give its address, e.g. tcp://10.0.0.5:8786") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()

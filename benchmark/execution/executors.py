"""Where jobs run: this machine (joblib processes) or a Dask cluster the user already has.

Both give the same results: jobs carry everything they need (paths, parameters, seeds) and write
their outputs atomically to the results folder, which must be shared with the workers for Dask.
A job on a Dask worker that dies is rescheduled by the scheduler on another worker (Dask's
``allowed-failures``) and written exactly once, since a job folder only appears by rename.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cirrbench.benchmark.common.processes import worker_pool

__all__ = ["DaskExecutor", "LocalExecutor", "make_executor"]


class LocalExecutor:
    """``n_jobs`` joblib (loky) processes; 1 runs in this process. Workers end with the main process
    (:func:`cirrbench.benchmark.common.processes.worker_pool` starts each with that guard)."""

    distributed = False

    def __init__(self, n_jobs: int = 1) -> None:
        self.n_jobs = n_jobs

    @property
    def workers(self) -> int:
        return self.n_jobs

    def map_unordered(self, fn: Callable, argument_tuples: Sequence[tuple]) -> Iterator[Any]:
        from joblib import delayed

        yield from worker_pool(self.n_jobs, "generator_unordered")(delayed(fn)(*args) for args in argument_tuples)

    def map_ordered(self, fn: Callable, argument_tuples: Sequence[tuple]) -> Iterator[Any]:
        from joblib import delayed

        yield from worker_pool(self.n_jobs, "generator")(delayed(fn)(*args) for args in argument_tuples)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster given by its scheduler address (or a Client)."""

    distributed = True  # RunContext.cluster: runners fan per-scan work out to its workers

    def __init__(self, address: Any) -> None:
        try:
            from dask.distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("Dask execution needs dask.distributed: pip install 'cirrbench[dask]'") from exc
        self._own = not isinstance(address, Client)
        self.client = Client(address) if self._own else address

    @property
    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _submit(self, fn: Callable, argument_tuples: Sequence[tuple]) -> list:
        return [self.client.submit(fn, *args, pure=False) for args in argument_tuples]

    def map_unordered(self, fn: Callable, argument_tuples: Sequence[tuple]) -> Iterator[Any]:
        from dask.distributed import as_completed

        for future in as_completed(self._submit(fn, argument_tuples)):
            yield future.result()

    def map_ordered(self, fn: Callable, argument_tuples: Sequence[tuple]) -> Iterator[Any]:
        for future in self._submit(fn, argument_tuples):
            yield future.result()

    def close(self) -> None:
        if self._own:
            self.client.close()


def make_executor(n_jobs: int = 1, dask: Any | None = None) -> LocalExecutor | DaskExecutor:
    return DaskExecutor(dask) if dask else LocalExecutor(n_jobs)

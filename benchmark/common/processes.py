"""The suite's worker processes (joblib's loky; :func:`forked_pool` for figures and radiomics
features): every pool starts its workers with a guard that ends them once the process that
started them is gone (kill -9, SIGTERM, an out-of-memory kill).

Without it, loky workers orphaned by a killed run wait on their task queue for loky's idle timeout
(minutes), holding memory and cores. The guard is the workers' first code: the initializer is the
builtin ``exec`` with the guard's source, so a worker runs it before importing anything of the
suite's (slow on a busy machine). Every pool of the suite uses the same initializer, so loky keeps
one reusable pool across validation, preprocessing, feature extraction and jobs.

The guard also widens loky's memory-leak check. Loky restarts a worker whose resident size grew
300 MB beyond its size after its first task; a worker whose first task drew a phantom patient or
ran a reference job crosses that as soon as a deep job imports torch and MONAI, so it was replaced
and the next job imported them all again (seconds of CPU each, and every in-process cache lost).
A worker now restarts only past :data:`WORKER_GROWTH_LIMIT_BYTES`, which still catches a real leak.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["STARTUP_GUARD", "WORKER_GROWTH_LIMIT_BYTES", "forked_pool", "startup_guard", "worker_pool"]

#: How far a worker's resident size may grow beyond its size after its first task before loky
#: replaces it (loky's own limit, 300 MB, is less than importing torch and MONAI costs).
WORKER_GROWTH_LIMIT_BYTES = 4 * 1024**3

#: A worker process's first code: on Linux the kernel kills it when the process that started it
#: ends, however it ends (the parent-death signal); everywhere, a thread exits it once re-parented.
STARTUP_GUARD = """
import ctypes, os, signal, sys, threading, time

if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
if os.getppid() != {parent}:
    os._exit(1)  # the parent ended before the signal was armed

def watch(parent={parent}):
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.2)

threading.Thread(target=watch, name="cirrbench-exit-with-parent", daemon=True).start()

_loky = sys.modules.get("joblib.externals.loky.process_executor")
if _loky is not None and hasattr(_loky, "_MAX_MEMORY_LEAK_SIZE"):
    _loky._MAX_MEMORY_LEAK_SIZE = {growth_limit}
"""


def startup_guard() -> str:
    """The guard's source for workers of this process (the initializer ``exec`` runs it)."""
    return STARTUP_GUARD.format(parent=os.getpid(), growth_limit=WORKER_GROWTH_LIMIT_BYTES)


def worker_pool(n_jobs: int, return_as: str = "list"):
    """A joblib ``Parallel`` over loky processes that end with this process (``n_jobs`` 1: here)."""
    from joblib import Parallel
    from joblib.parallel import LokyBackend

    backend = LokyBackend(initializer=exec, initargs=(startup_guard(), {}))
    return Parallel(n_jobs=n_jobs, backend=backend, return_as=return_as)


def forked_pool(jobs: int, initializer: Callable[[], None] | None = None) -> Any:
    """A ``concurrent.futures`` process pool for work that needs this process's loaded libraries
    (figures, PyRadiomics): on Linux its workers are forked, so they start in ~0.5 s instead of
    ~3 s for fresh interpreters; elsewhere they start as the platform's default (fork is unsafe
    with macOS system libraries). Like every pool's, its workers run the guard first and end with
    this process; then ``initializer``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if sys.platform.startswith("linux") else None
    return ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(startup_guard(), initializer),
    )


def _start_worker(guard: str, initializer: Callable[[], None] | None) -> None:
    exec(guard, {})
    if initializer is not None:
        initializer()

"""A run stops the same way whoever stops it: Ctrl-C (SIGINT) or ``kill`` / ``timeout`` / ``docker
stop`` / a scheduler (SIGTERM).

Both raise in the main thread, so the run unwinds as for Ctrl-C: joblib aborts its workers, the
results folder's lock is released, finished jobs stay (each was renamed into place when done) and
a rerun resumes. SIGTERM raises :class:`Terminated`, a ``KeyboardInterrupt``, so every handler of
an interrupt also handles it, and the command exits 143 (128 + 15) instead of 130.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STOP_REQUESTED", "Terminated", "stop_signals"]

#: Set when the user or the system asked the run to stop: a KeyboardInterrupt then means them,
#: not a runner's own exception (which only fails its job).
STOP_REQUESTED = threading.Event()


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _on_sigint(signum, frame) -> None:  # noqa: ANN001
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


def _on_sigterm(signum, frame) -> None:  # noqa: ANN001
    STOP_REQUESTED.set()
    raise Terminated


@contextmanager
def stop_signals() -> Iterator[None]:
    """While the block runs (main thread only): SIGINT and SIGTERM stop it with an exception."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        STOP_REQUESTED.clear()

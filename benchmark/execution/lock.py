"""One run per results folder: an exclusive lock that the operating system releases with its holder.

Two runs writing one results folder would interleave manifests and reports. The lock is an
``fcntl.flock`` on ``<results>/.cirrbench.lock``: it is released when the holding process exits
for any reason (kill -9 included), so a crashed run never blocks the next one, and the file
says who holds it (pid, host, start time) for the message a second run prints. A process the run
started can outlive it holding the lock's open file (a worker left over by a killed run); when
the recorded holder is gone from this host, the lock is taken over (a fresh lock file replaces
the held one) with one line saying so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

__all__ = ["ResultsLock", "ResultsLocked"]

logger = logging.getLogger(__name__)

LOCK_NAME = ".cirrbench.lock"


class ResultsLocked(RuntimeError):
    """Another live process holds the results folder."""


class ResultsLock:
    """Context manager: hold the results folder's lock for the duration of a run."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._handle = None

    def __enter__(self) -> ResultsLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except json.JSONDecodeError:
                holder = {}
            handle.close()
            if _gone_from_this_host(holder):
                return self._take_over(holder)
            since = (
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started"]))
                if "started" in holder
                else "an unknown time"
            )
            raise ResultsLocked(
                f"{self.path.parent}: another cirrbench run (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {since}) is writing this results folder; "
                "wait for it to finish, or use another --out"
            ) from None
        return self._hold(handle)

    def _hold(self, handle) -> ResultsLock:  # noqa: ANN001
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def _take_over(self, holder: dict) -> ResultsLock:
        """Replace a lock file still held by the leftovers of a run that is gone."""
        import fcntl

        fresh = self.path.with_name(f"{LOCK_NAME}.{os.getpid()}")
        handle = open(fresh, "a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        os.replace(fresh, self.path)
        if os.stat(self.path).st_ino != os.fstat(handle.fileno()).st_ino:  # another run took it over first
            handle.close()
            raise ResultsLocked(
                f"{self.path.parent}: another cirrbench run took over this results folder's stale lock; use another --out"
            )
        logger.warning(
            "%s: taking over the lock of cirrbench run pid %s, which is no longer running on this host "
            "(a process it started still held the lock)",
            self.path.parent,
            holder.get("pid"),
        )
        return self._hold(handle)

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _gone_from_this_host(holder: dict) -> bool:
    """Whether the recorded holder ran on this host and no process has its pid any more."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

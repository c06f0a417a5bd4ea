"""One run per results folder: an exclusive lock that the operating system releases with its holder.

Two runs writing one results folder would interleave manifests and reports. The lock is an
``fcntl.flock`` on ``<results>/.cirrbench.lock``: it is released when the holding process exits
for any reason (kill -9 included), so a crashed run never blocks the next one, and the file
says who holds it (pid, host, start time) for the message a second run prints.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

__all__ = ["ResultsLock", "ResultsLocked"]

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
            since = (
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started"]))
                if "started" in holder
                else "an unknown time"
            )
            raise ResultsLocked(
                f"{self.path.parent}: another cirrbench run (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {since}) is writing this results folder; "
                "wait for it to finish, or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            import fcntl

            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

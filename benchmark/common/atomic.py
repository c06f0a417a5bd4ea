"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every output of the suite (tables, figures' sidecars, manifests, cache entries) is written to a
temporary sibling with a per-process name and renamed into place; ``os.replace`` is atomic on
POSIX and Windows file systems. A failed write removes its temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "replacing",
    "temporary_sibling",
    "read_cache_entry",
    "write_cache_entry",
]


def temporary_sibling(path: Path) -> Path:
    """A temporary name next to ``path``, unique per process (two writers never share one)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Write to the yielded temporary sibling; on success it replaces ``path``, on any failure it
    is removed. A failed write that names no file (``write()``, ``fsync()``: a full disk) is
    raised naming ``path``, so the error says which file could not be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None or Path(str(exc.filename)) == tmp:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the parent folder is created if needed."""
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_cache_entry(path: str | Path) -> object | None:
    """A JSON cache entry, or None when absent or corrupt (truncated by a kill, edited, emptied).

    A corrupt entry is reported once as a warning, deleted and recomputed by the caller: a cache
    must never be the reason a run fails, nor hand back a half-written value.
    """
    import json
    import logging

    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        logging.getLogger("cirrbench").warning(
            "cache entry %s is corrupt (%s); recomputing it", path, type(exc).__name__
        )
        path.unlink(missing_ok=True)
        return None


def write_cache_entry(path: str | Path, value: object) -> Path:
    """A JSON cache entry, written atomically."""
    import json

    return atomic_write_text(path, json.dumps(value))

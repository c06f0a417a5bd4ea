"""Content digests of files, memoised in-process on (path, size, mtime) so a file is hashed once."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["clear_memo", "file_digest", "memo_digest"]

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def memo_digest(path: Path) -> str:
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(Path(path))
    return _DIGESTS[key]


def clear_memo() -> None:
    _DIGESTS.clear()

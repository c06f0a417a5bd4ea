"""Content digests: of files (memoised in-process on path, size and mtime, so a file is hashed
once) and of plain values (frames, arrays, dataclasses), for keys that reuse earlier work."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["clear_memo", "content_hash", "file_digest", "memo_digest"]

log = logging.getLogger(__name__)

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


class _NoStableHash(TypeError):
    """An argument whose content cannot be hashed reproducibly (the figure is drawn)."""


def _feed(digest: Any, value: object) -> None:
    """Add ``value``'s content (type and data, never its identity) to ``digest``."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, Path):
        digest.update(f"path:{value};".encode())
    elif isinstance(value, np.generic):
        _feed(digest, value.item())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            raise _NoStableHash("an object array")
        digest.update(f"array:{value.dtype.str}:{value.shape};".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (pd.DataFrame, pd.Series)):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        digest.update(f"frame:{list(map(str, frame.columns))}:{list(map(str, frame.dtypes))};".encode())
        try:
            digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        except TypeError as error:  # unhashable cells (lists, dicts)
            raise _NoStableHash(str(error)) from error
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(f"{type(value).__qualname__}(".encode())
        for item in dataclasses.fields(value):
            if item.compare:
                digest.update(f"{item.name}=".encode())
                _feed(digest, getattr(value, item.name))
        digest.update(b")")
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key, item in value.items():  # insertion order: it can decide what is drawn or computed first
            _feed(digest, key)
            _feed(digest, item)
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}[".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        raise _NoStableHash(type(value).__name__)


def content_hash(*values: object) -> str | None:
    """The SHA-256 of the values' content; None when one of them has no stable hash."""
    digest = hashlib.sha256()
    try:
        for value in values:
            _feed(digest, value)
    except _NoStableHash as reason:
        log.debug("no stable hash (%s): computed afresh", reason)
        return None
    return digest.hexdigest()

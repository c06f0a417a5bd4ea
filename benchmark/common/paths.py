"""Where the suite keeps caches: ``$CIRRBENCH_CACHE`` or ``~/.cache/cirrbench``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    base = Path(os.environ.get("CIRRBENCH_CACHE") or Path.home() / ".cache" / "cirrbench").expanduser()
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path

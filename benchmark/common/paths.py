"""Where the suite keeps caches (``$CIRRBENCH_CACHE`` or ``~/.cache/cirrbench``), and which names
may become part of a file name.

Runner names, aliases, variants and the config's name become parts of output file names
(``tables/top_features_<alias>_<protocol>.csv``). They must match :data:`NAME_PATTERN`: no
``..`` or ``/`` can leave the results folder, no leading dot hides a file, no ``$``, space or
``%`` trips a shell script, LaTeX ``\\input`` or a URL, and no ``=`` starts a spreadsheet formula.
Display names stay free text (escaped per format by :mod:`escaping`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["NAME_PATTERN", "UnsafePathError", "cache_dir", "inside", "name_problem"]

#: Every user-given name that becomes part of a path.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
_NAME = re.compile(NAME_PATTERN)


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be a name in file names (None: it can)."""
    if not isinstance(value, str):
        return f"{value!r} is not text"
    if not _NAME.fullmatch(value):
        return f"{value!r} does not match {NAME_PATTERN} (letters, digits and . _ + -, starting with a letter or digit, at most 64)"
    return None


def cache_dir(*parts: str) -> Path:
    base = Path(os.environ.get("CIRRBENCH_CACHE") or Path.home() / ".cache" / "cirrbench").expanduser()
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class UnsafePathError(ValueError):
    """An output path that would leave its folder (a ``..``, an absolute part, a link out)."""


def inside(root: str | Path, *parts: str) -> Path:
    """``root/parts...``, refused unless it stays inside ``root`` once resolved (links followed).

    Every output of a results folder is named through here, so no name that reached a file name
    (an alias, a variant, a plugin's runner name) can write outside ``--out``, whatever it holds.
    """
    root = Path(root)
    path = root.joinpath(*parts)
    if any(Path(part).is_absolute() for part in parts) or not path.resolve().is_relative_to(root.resolve()):
        raise UnsafePathError(
            f"{path}: refused, it would be written outside {root}; names in file names must match {NAME_PATTERN}"
        )
    return path

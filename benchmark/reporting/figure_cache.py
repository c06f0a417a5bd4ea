"""Figures redrawn only when what they show changed: a changed runner redraws the figures it is in.

Drawing is most of a report's time (each figure is laid out once and rendered twice, PNG and PDF).
A built-in figure is a pure function of its arguments (plain frames, arrays, names), the drawing
code and the library versions, so :func:`reusable_figure` keys each figure by the hash of exactly
those. When the previous build recorded the same key for the same file stem, and its files are
still there byte for byte, the files are kept and nothing is drawn; otherwise the figure is drawn
as in a full build. A rebuild therefore gives the same bytes as a full one (a test checks it after
one runner's predictions change). Arguments of a type with no stable hash are never guessed at:
such a figure is always drawn.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cirrbench.benchmark.common.hashing import content_hash, file_digest

__all__ = ["FigureCache", "reusable_figure"]

log = logging.getLogger(__name__)

Draw = TypeVar("Draw", bound=Callable[..., list[Path]])


@dataclass
class FigureCache:
    """The figures of the previous build (stem -> key and file hashes) and those of this one.

    Args:
        code: the fingerprint of the drawing code and library versions (part of every key).
        previous: what the previous build recorded, ``{stem: {"key": ..., "files": {name: sha256}}}``.
    """

    code: str
    previous: dict[str, dict] = field(default_factory=dict)
    recorded: dict[str, tuple[str, list[Path]]] = field(default_factory=dict)
    kept_count: int = 0
    drawn_count: int = 0

    @property
    def current(self) -> dict[str, dict]:
        """This build's figures as the next build reads them (each file's hash is taken here,
        once the files exist: a figure rendered on a worker is written when the block ends)."""
        return {
            stem: {"key": key, "files": {p.name: file_digest(p) for p in paths}}
            for stem, (key, paths) in self.recorded.items()
        }

    def key(self, draw_name: str, arguments: Mapping[str, object]) -> str | None:
        values = content_hash(draw_name, dict(arguments))
        return None if values is None else hashlib.sha256(f"{self.code}:{values}".encode()).hexdigest()

    def kept(self, stem: Path, key: str) -> list[Path] | None:
        """The previous build's files of ``stem`` when it had the same key and they are unchanged."""
        record = self.previous.get(stem.name)
        if record is None or record.get("key") != key:
            return None
        paths = [stem.with_name(name) for name in record.get("files", {})]
        if not paths or any(not p.is_file() or file_digest(p) != record["files"][p.name] for p in paths):
            return None
        return paths

    def record(self, stem: Path, key: str, paths: list[Path]) -> None:
        self.recorded[stem.name] = (key, list(paths))


def reusable_figure(draw: Draw) -> Draw:
    """Decorator of a figure function with a ``target`` argument (a ``FigureTarget``): keeps the
    previous build's files when the target carries a cache and nothing the figure shows changed."""
    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> list[Path]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        target = bound.arguments["target"]
        cache: FigureCache | None = getattr(target, "cache", None)
        if cache is None:
            return draw(*args, **kwargs)
        shown = {name: value for name, value in bound.arguments.items() if name != "target"}
        shown["target"] = (target.stem.name, target.title, target.banner)
        key = cache.key(draw.__qualname__, shown)
        if key is not None and (kept := cache.kept(target.stem, key)) is not None:
            cache.record(target.stem, key, kept)
            cache.kept_count += 1
            return kept
        paths = draw(*args, **kwargs)
        if paths:
            cache.drawn_count += 1
            if key is not None:
                cache.record(target.stem, key, paths)
        return paths

    return wrapper  # type: ignore[return-value]

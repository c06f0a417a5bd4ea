"""One registry for everything the suite finds by name: runners, backbones, protocols, metrics,
table and figure families, commands.

Every kind follows the same rules, so a plugin author learns them once:

- **built-ins are listed where the registry is declared** (module names, imported on the first
  lookup), then the kind's entry-point group, if it has one, is read; a kind may also declare
  which built-in module registers which name, so looking one name up imports only its module;
- **a name is registered once**: registering it again is allowed only for the same definition
  (an equal value, or the same class or function: same qualified name from the same module or
  the same file, as when a plugin file is imported under two module names); anything else is an
  error naming the holder;
- **an unknown name** is an error listing the available ones.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["Registry", "same_definition"]

T = TypeVar("T")


def _identity(value: object) -> object:
    return value


def _where(value: object) -> str:
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return f"{module}.{name}" if module and name else f"another {type(value).__name__}"


def same_definition(a: object, b: object) -> bool:
    """Whether two registrations are one definition: the same or an equal value, or a class or
    function of the same qualified name from the same module or the same source file."""
    if a is b or a == b:
        return True
    if not (callable(a) and callable(b)) or getattr(a, "__qualname__", 1) != getattr(b, "__qualname__", 2):
        return False
    if getattr(a, "__module__", 1) == getattr(b, "__module__", 2):
        return True
    try:
        return Path(inspect.getfile(a)).resolve() == Path(inspect.getfile(b)).resolve()
    except (TypeError, OSError):
        return False


class Registry(Generic[T]):
    """Named entries of one kind, in registration order.

    Args:
        kind: what an entry is, for messages ("runner", "protocol").
        builtins: modules whose import registers the built-in entries.
        entry_point_group: an ``importlib.metadata`` group whose entries are loaded after them;
            ``on_entry_point`` registers what one of them loads.
        defined_by: the value two registrations of a name are compared by (a protocol's
            function, a runner's class).
        missing: the exception an unknown name raises (``KeyError`` unless the kind has its own).
        index: built-in name -> the module of ``builtins`` that registers it. :meth:`get` of such
            a name imports that module alone, and of any other name (a plugin's) none of them,
            so a run that names a reference and a radiomics learner never imports the deep
            runners' torch. Every other lookup imports all of ``builtins``.
    """

    def __init__(
        self,
        kind: str,
        *,
        builtins: tuple[str, ...] = (),
        entry_point_group: str | None = None,
        on_entry_point: Callable[[object], None] | None = None,
        defined_by: Callable[[T], object] = _identity,
        missing: type[Exception] = KeyError,
        index: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.builtins = builtins
        self.entry_point_group = entry_point_group
        self._on_entry_point = on_entry_point
        self._defined_by = defined_by
        self._missing = missing
        self._index = dict(index or {})
        self._entries: dict[str, T] = {}
        self._loaded = False
        self._entry_points_loaded = False

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; the same definition again is a no-op, another is an error."""
        existing = self._entries.get(name)
        if existing is not None:
            held, new = self._defined_by(existing), self._defined_by(entry)
            if not same_definition(held, new):
                raise ValueError(f"{self.kind} name {name!r} is taken by {_where(held)}")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Forget ``name`` (tests and interactive sessions); an unknown name is ignored."""
        self._entries.pop(name, None)

    def load(self) -> None:
        """Import the built-in modules, then the entry points (once)."""
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtins:
            importlib.import_module(module)
        self._load_entry_points()

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.entry_point_group is None:
            return
        self._entry_points_loaded = True
        for entry in entry_points(group=self.entry_point_group):
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plugin must not break the suite
                logging.getLogger("cirrbench").warning("could not load %s plugin %s: %s", self.kind, entry.value, exc)
                continue
            if self._on_entry_point is not None:
                self._on_entry_point(loaded)

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name lists the available ones."""
        if not self._loaded and self._index:
            found = self._indexed(name)
            if found is not None:
                return found
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            available = ", ".join(sorted(self._entries)) or "none"
            raise self._missing(f"unknown {self.kind} {name!r}; available: {available}") from None

    def _indexed(self, name: str) -> T | None:
        """``name`` through the index: its built-in module imported if it has one (a plugin that
        took the name then fails there, as in a full load), else the entry a plugin registered."""
        self._load_entry_points()
        module = self._index.get(name)
        if module is not None:
            importlib.import_module(module)
        return self._entries.get(name)

    def registered(self, name: str) -> T | None:
        """The entry called ``name`` if it is registered already, else None, importing nothing: a
        worker process that imported the one module defining a runner need not import the others
        (the deep runners' torch, for a radiomics job)."""
        return self._entries.get(name)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(list(self._entries))

    def entries(self) -> dict[str, T]:
        """Every entry, in registration order."""
        self.load()
        return dict(self._entries)

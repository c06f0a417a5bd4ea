"""The runner registry: built-in runners, entry-point plugins and decorated classes, by name.

A runner registers with :func:`register_runner` (a class decorator), or from another package
through the ``cirrbench.runners`` entry-point group; configs and the command line find it by name.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from importlib.metadata import entry_points
from pathlib import Path

from cirrbench.benchmark.common.paths import name_problem
from cirrbench.benchmark.runners.contract import Runner

__all__ = [
    "register_runner",
    "unregister_runner",
    "get_runner",
    "available_runners",
    "ENTRY_POINT_GROUP",
    "BUILTIN_MODULES",
]

ENTRY_POINT_GROUP = "cirrbench.runners"


_REGISTRY: dict[str, type[Runner]] = {}
_ENTRY_POINTS_LOADED = False
BUILTIN_MODULES = ("cirrbench.benchmark.runners.reference", "cirrbench.baselines", "cirrbench.models")


def register_runner(cls: type[Runner]) -> type[Runner]:
    """Class decorator: make a runner available by its ``name`` (configs, ``cirrbench runners``).

    Args:
        cls: a :class:`Runner` subclass with a string ``name`` and a dataclass ``Params``.

    Returns:
        ``cls`` itself, registered; a name taken by another class is an error.
    """
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} needs a string class attribute 'name'")
    if not dataclasses.is_dataclass(cls.Params):
        raise TypeError(f"{cls.__name__}.Params must be a dataclass")
    for kind, value in [("name", name), *[("variant", v) for v in getattr(cls, "variants", {}) or {}]]:
        problem = name_problem(value)
        if problem:
            raise ValueError(f"{cls.__name__}: runner {kind} {problem}; it becomes part of file names")
    existing = _REGISTRY.get(name)
    if existing is not None and not _same_definition(existing, cls):
        raise ValueError(f"runner name {name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _same_definition(a: type, b: type) -> bool:
    """One class, even when its file was imported twice under two module names (``import
    my_runner`` and the same file as a ``plugins:`` entry): same qualified name, same source file."""
    if a is b or f"{a.__module__}.{a.__qualname__}" == f"{b.__module__}.{b.__qualname__}":
        return True
    try:
        same_file = Path(inspect.getfile(a)).resolve() == Path(inspect.getfile(b)).resolve()
    except (TypeError, OSError):
        return False
    return same_file and a.__qualname__ == b.__qualname__


def _load_builtin_and_plugins() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break the suite
            logging.getLogger("cirrbench").warning("could not load runner plugin %s: %s", entry.value, exc)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Runner):
            register_runner(loaded)


def unregister_runner(name: str) -> None:
    """Forget a runner (tests and interactive sessions that redefine one).

    Args:
        name: the registry name; unknown names are ignored.

    Returns:
        None.
    """
    _REGISTRY.pop(name, None)


def get_runner(name: str) -> type[Runner]:
    """The registered runner class called ``name``.

    Args:
        name: a registry name such as ``radiomics-xgboost``.

    Returns:
        The class; an unknown name is a ``KeyError`` listing the available ones.
    """
    _load_builtin_and_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown runner {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def available_runners() -> dict[str, type[Runner]]:
    """Every registered runner: built in, from entry points, and from loaded plugins.

    Args:
        (none)

    Returns:
        Registry name -> class, sorted by name.
    """
    _load_builtin_and_plugins()
    return dict(sorted(_REGISTRY.items()))

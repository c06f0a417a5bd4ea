"""Plugins without packaging: a local ``.py`` file or an importable module whose decorated runners
register when it is imported.

``plugins: [my_runners.py, my_pkg.runners]`` in a config (paths relative to the config file) or
``--plugin PATH_OR_MODULE`` on ``run``, ``reproduce`` and ``runners``. Jobs carry the plugin list,
so parallel worker processes and Dask workers import the same files (the path must be reachable
from the workers, as the data is). A plugin that fails to import is one error naming it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

__all__ = ["load_plugin", "load_plugins", "PluginError", "plugin_module_name"]


class PluginError(ValueError):
    """A plugin that cannot be imported; the message names it and the reason."""


def plugin_module_name(path: Path) -> str:
    """A stable module name for a plugin file (the same in every process that loads it)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    return f"cirrbench_plugin_{path.stem}_{digest}"


def load_plugin(spec: str | Path) -> str:
    """Import a plugin file (``.py``) or module (``pkg.mod``) once; returns its module name.

    Args:
        spec: a path to a Python file, or a dotted module name importable from ``sys.path``.

    Returns:
        The name under which the module is in ``sys.modules``.
    """
    text = str(spec)
    if text.endswith(".py") or "/" in text or "\\" in text:
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise PluginError(f"plugin {text}: no such file")
        name = plugin_module_name(path)
        if name in sys.modules:
            return name
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise PluginError(f"plugin {text}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # before executing: dataclasses and pickling look it up
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise PluginError(f"plugin {text}: {type(exc).__name__}: {exc}") from None
        return name
    try:
        importlib.import_module(text)
    except Exception as exc:
        raise PluginError(
            f"plugin {text}: cannot be imported ({type(exc).__name__}: {exc}); give a path to a .py file or a module on PYTHONPATH"
        ) from None
    return text


def load_plugins(specs: tuple[str, ...] | list[str]) -> list[str]:
    """Every plugin of a run, in order (idempotent)."""
    return [load_plugin(spec) for spec in specs]

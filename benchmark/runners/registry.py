"""The runner registry: built-in runners, entry-point plugins and decorated classes, by name.

A runner registers with :func:`register_runner` (a class decorator), or from another package
through the ``cirrbench.runners`` entry-point group; configs and the command line find it by name.
"""

from __future__ import annotations

import dataclasses
import importlib

from cirrbench.benchmark.common.paths import name_problem
from cirrbench.benchmark.common.registry import Registry
from cirrbench.benchmark.runners.contract import Runner

__all__ = [
    "register_runner",
    "unregister_runner",
    "get_runner",
    "available_runners",
    "ENTRY_POINT_GROUP",
    "BUILTIN_MODULES",
    "BUILTIN_RUNNERS",
]

ENTRY_POINT_GROUP = "cirrbench.runners"


BUILTIN_MODULES = ("cirrbench.benchmark.runners.reference", "cirrbench.baselines", "cirrbench.models")

_REFERENCE, _RADIOMICS, _MODELS = BUILTIN_MODULES

#: Which of :data:`BUILTIN_MODULES` registers each built-in runner: a config that names a reference
#: and radiomics learners imports neither torch nor MONAI. A built-in runner missing here is still
#: found (every module is imported then); test_harness lists what to add.
BUILTIN_RUNNERS: dict[str, str] = {
    "majority": _REFERENCE,
    "stratified-random": _REFERENCE,
    "radiomics-logreg": _RADIOMICS,
    "radiomics-ordinal": _RADIOMICS,
    "radiomics-rf": _RADIOMICS,
    "radiomics-svm": _RADIOMICS,
    "radiomics-xgboost": _RADIOMICS,
    "cnn-convnext-base": _MODELS,
    "cnn-convnext-tiny": _MODELS,
    "cnn-densenet121": _MODELS,
    "cnn-efficientnet-b0": _MODELS,
    "cnn-mambavision-t": _MODELS,
    "cnn-mobilenetv3-small": _MODELS,
    "cnn-pvtv2-b2": _MODELS,
    "cnn-resnet18": _MODELS,
    "cnn-resnet50": _MODELS,
    "cnn-vgg19": _MODELS,
    "foundation-logreg": _MODELS,
    "foundation-xgboost": _MODELS,
    "msa": _MODELS,
    "volumetric-3d": _MODELS,
}


def _register_entry_point(loaded: object) -> None:
    if isinstance(loaded, type) and issubclass(loaded, Runner):
        register_runner(loaded)


_RUNNERS: Registry[type[Runner]] = Registry(
    "runner",
    builtins=BUILTIN_MODULES,
    entry_point_group=ENTRY_POINT_GROUP,
    on_entry_point=_register_entry_point,
    index=BUILTIN_RUNNERS,
)


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
    return _RUNNERS.register(name, cls)


def unregister_runner(name: str) -> None:
    """Forget a runner (tests and interactive sessions that redefine one).

    Args:
        name: the registry name; unknown names are ignored.

    Returns:
        None.
    """
    _RUNNERS.unregister(name)


def get_runner(name: str, module: str | None = None) -> type[Runner]:
    """The registered runner class called ``name``.

    Args:
        name: a registry name such as ``radiomics-xgboost``.
        module: the module whose import registers it, when known (a job carries it). A fresh worker
            process then imports that module alone: the parent already checked the config's
            runners, so a radiomics job's worker never imports torch. Without it, a built-in name
            imports its module from :data:`BUILTIN_RUNNERS` alone. A runner this process has
            registered already (a plugin file it loaded) is taken as it is; a name the module does
            not register (an entry point's, a generated one) is looked up among all runners.

    Returns:
        The class; an unknown name is a ``KeyError`` listing the available ones.
    """
    if module is None:
        return _RUNNERS.get(name)
    found = _RUNNERS.registered(name)  # a plugin file loaded in this process registered it already
    if found is None and module != "__main__":
        importlib.import_module(module)
        found = _RUNNERS.registered(name)
    return found if found is not None else _RUNNERS.get(name)


def available_runners() -> dict[str, type[Runner]]:
    """Every registered runner: built in, from entry points, and from loaded plugins.

    Args:
        (none)

    Returns:
        Registry name -> class, sorted by name.
    """
    return dict(sorted(_RUNNERS.entries().items()))

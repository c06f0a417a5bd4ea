"""The protocol registry: every split protocol is one file with one decorated function.

A protocol turns a cohort (and its options) into a :class:`~cirrbench.benchmark.protocols.base.SplitSet`.
It declares its options (checked when a config is read, listed in docs/config.md), a short
description for tables, where it sorts in reports, and whether it takes the config's seed.
Built-in protocols are the modules listed in ``BUILTIN_MODULES``; a plugin file that registers
a protocol adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cirrbench.benchmark.common.paths import name_problem
from cirrbench.benchmark.common.registry import Registry
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.protocols.base import SplitError, SplitSet

__all__ = [
    "Protocol",
    "ProtocolOption",
    "register_protocol",
    "unregister_protocol",
    "get_protocol",
    "available_protocols",
    "make_splits",
    "protocol_description",
    "protocol_order",
]


@dataclass(frozen=True)
class ProtocolOption:
    """One option of a protocol: its kind (for the check), allowed values, default and meaning."""

    kind: str  # int | int>=1 | int>=2 | fraction | fractions | sequence | file | text
    allowed: str
    default: Any
    meaning: str


@dataclass(frozen=True)
class Protocol:
    name: str
    make: Callable[..., SplitSet]
    description: str
    order: int = 9
    seeded: bool = False  # takes the config's seed unless the options give one
    options: dict[str, ProtocolOption] = field(default_factory=dict)
    required: tuple[str, ...] = ()


BUILTIN_MODULES = tuple(
    f"cirrbench.benchmark.protocols.{name}" for name in ("official", "paired", "cv", "file", "learning_curve")
)
_PROTOCOLS: Registry[Protocol] = Registry(
    "protocol", builtins=BUILTIN_MODULES, defined_by=lambda protocol: protocol.make, missing=SplitError
)


def register_protocol(
    name: str,
    *,
    description: str,
    order: int = 9,
    seeded: bool = False,
    options: dict[str, ProtocolOption] | None = None,
    required: tuple[str, ...] = (),
) -> Callable:
    """Decorator of ``make(cohort, **options) -> SplitSet``: a protocol usable by name in configs.

    Args:
        name: the name in ``protocols:``.
        description: a few words for tables ("repeated CV").
        order: where its tables sort in reports (official 0, paired 1, cv 2, file 3).
        seeded: whether it receives the config's ``seed`` unless its options give one.
        options: the options it accepts.
        required: options that must be given.

    Returns:
        The decorator (it returns the function unchanged).
    """

    problem = name_problem(name)
    if problem:
        raise ValueError(f"protocol name {problem}; it becomes part of file names (splits/<protocol>/, tables)")

    def decorate(make: Callable[..., SplitSet]) -> Callable[..., SplitSet]:
        _PROTOCOLS.register(
            name, Protocol(name, make, description, order, seeded, dict(options or {}), tuple(required))
        )
        return make

    return decorate


def unregister_protocol(name: str) -> None:
    """Forget a protocol (tests and interactive sessions). Unknown names are ignored."""
    _PROTOCOLS.unregister(name)


def available_protocols() -> dict[str, Protocol]:
    """Every registered protocol, in report order."""
    return dict(sorted(_PROTOCOLS.entries().items(), key=lambda item: (item[1].order, item[0])))


def get_protocol(name: str) -> Protocol:
    return _PROTOCOLS.get(name)


def protocol_description(name: str) -> str:
    """The protocol's words for tables ("repeated CV"); its name when it is not registered."""
    return available_protocols()[name].description if name in available_protocols() else name


def protocol_order(name: str) -> tuple[int, str]:
    """Sort key of a protocol in reports."""
    protocols = available_protocols()
    return (protocols[name].order if name in protocols else 9, name)


def make_splits(cohort: Cohort, protocol: str, **options: Any) -> SplitSet:
    """The protocol's splits of ``cohort``."""
    return get_protocol(protocol).make(cohort, **options)

"""Declared runner parameters: a default, a one-line meaning, and the values allowed.

A runner's ``Params`` is a frozen dataclass; :func:`param` declares a field with its documentation
and range, so a config is checked when it is read (type, range, choices) and the config reference
(``docs/config.md``) is generated from the same declarations. Types come from the annotations:
``int``, ``float`` (an int is accepted), ``bool``, ``str``, ``X | None`` and ``tuple[X, ...]``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

__all__ = ["param", "check_param_values", "describe_type", "param_doc"]

_MISSING = dataclasses.MISSING


def param(
    default: Any = _MISSING,
    doc: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: tuple | None = None,
) -> Any:
    """A dataclass field with its meaning and allowed values.

    Args:
        default: the default value.
        doc: one line saying what the parameter does.
        minimum, maximum: inclusive bounds of a number.
        above, below: exclusive bounds of a number (``above=0``: strictly positive).
        choices: the allowed values.
    """
    metadata = {"doc": doc, "minimum": minimum, "maximum": maximum, "above": above, "below": below, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


def param_doc(field: dataclasses.Field) -> str:
    return str(field.metadata.get("doc", "")) if field.metadata else ""


def _hints(params_cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(params_cls)
    except Exception:  # an annotation that cannot be resolved: fall back to no type check
        return {}


def _is_none_type(tp: Any) -> bool:
    return tp is type(None)


def describe_type(tp: Any) -> str:
    """A short readable name of an annotation (``int or null``, ``list of float``)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in typing.get_args(tp) if not _is_none_type(a)]
        nullable = any(_is_none_type(a) for a in typing.get_args(tp))
        return " or ".join(parts) + (" or null" if nullable else "")
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = describe_type(args[0]) if args else "value"
        count = len(typing.get_args(tp))
        inner = {"an integer": "integers", "a number": "numbers", "text": "texts", "true or false": "booleans"}.get(
            inner, inner
        )
        return f"a list of {inner}" if Ellipsis in typing.get_args(tp) or count <= 1 else f"a list of {count} {inner}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "text"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if _is_none_type(tp):
        return value is None
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(tp)
        if Ellipsis in args or len(args) <= 1:
            return all(_type_ok(v, args[0]) for v in value) if args else True
        return len(value) == len(args) and all(_type_ok(v, a) for v, a in zip(value, args))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return True  # a type this checker does not know: accepted


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return []


def check_param_values(params_cls: type, values: dict[str, Any]) -> list[str]:
    """Problems with ``values`` (given parameters only), one line each: ``name: value is ...; allowed``."""
    problems = []
    hints = _hints(params_cls)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            continue  # unknown names are reported by make_params with the list of known ones
        tp = hints.get(name)
        if tp is not None and not _type_ok(value, tp):
            hint = ""
            if isinstance(value, str) and any(t in describe_type(tp) for t in ("number", "integer")):
                try:
                    float(value)
                    hint = " (YAML reads 1e-4 as text: write 1.0e-4)"
                except ValueError:
                    pass
            problems.append(f"{name}: {value!r} is not {describe_type(tp)}{hint}")
            continue
        meta: typing.Mapping[str, Any] = field.metadata or {}
        choices = meta.get("choices")
        if choices is not None:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            bad = [v for v in items if v not in choices]
            if bad:
                problems.append(f"{name}: {bad[0]!r} is not one of {', '.join(map(repr, choices))}")
        for number in _numbers(value):
            if meta.get("minimum") is not None and number < meta["minimum"]:
                problems.append(f"{name}: {value!r} is below the minimum {meta['minimum']:g}")
            elif meta.get("maximum") is not None and number > meta["maximum"]:
                problems.append(f"{name}: {value!r} is above the maximum {meta['maximum']:g}")
            elif meta.get("above") is not None and number <= meta["above"]:
                problems.append(f"{name}: {value!r} must be greater than {meta['above']:g}")
            elif meta.get("below") is not None and number >= meta["below"]:
                problems.append(f"{name}: {value!r} must be less than {meta['below']:g}")
            else:
                continue
            break
    return problems


def allowed_text(field: dataclasses.Field) -> str:
    """The allowed values of a field, for the config reference."""
    meta: typing.Mapping[str, Any] = field.metadata or {}
    parts = []
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(str(c) for c in meta["choices"]))
    for key, symbol in (("minimum", ">="), ("above", ">"), ("maximum", "<="), ("below", "<")):
        if meta.get(key) is not None:
            parts.append(f"{symbol} {meta[key]:g}")
    return "; ".join(parts)


def field_default(field: dataclasses.Field) -> Any:
    """A dataclass field's default value, built from its factory where it has one."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ValueError(f"parameter {field.name} has no default")

"""The config's checks and its reference, both driven by the schema in ``config_keys.py``.

:func:`check_config` reads a whole config and returns every problem at once, one line each
naming the key, the value and what is allowed, before any cohort is read or job run: unknown
keys and plain values from the schema, then what needs a registry or the rest of the config
(protocols, runners and their parameters, metrics, the reference, declared pairs).
``docs/config.md`` is generated from the same schema, the protocols' declared options and the
runners' declared parameters (:func:`config_reference`), so the reference cannot drift from the checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cirrbench.benchmark.common.config_keys import (
    KEYS,
    config_key,
    default,
    is_int,
    is_number,
    known_keys,
    unknown_note,
    value_problems,
)
from cirrbench.benchmark.common.paths import name_problem

__all__ = ["check_config", "config_reference", "declared_pair_problems"]

INPUTS = ("T1W", "T2W", "both")
LEVELS = ("patient", "slice")


def _close(word: str, options) -> str:
    import difflib

    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


Bad = Callable[[str, str], None]  # bad(key, text): report one problem of the config


def check_config(raw: Any, source: str) -> list[str]:
    """Every problem of a config, one line each: ``SOURCE: KEY: VALUE is ...; allowed ...``."""
    problems: list[str] = []

    def bad(key: str, text: str) -> None:
        problems.append(f"{source}: {key}: {text}")

    if not isinstance(raw, dict):
        return [
            f"{source}: the config must be a mapping of keys (name:, data:, runners:, ...), got {type(raw).__name__}"
        ]
    _check_top_level(raw, bad)
    for key, text in value_problems(raw):
        bad(key, text)
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        bad("data", f"{data!r} is not a mapping; e.g. data: {{root: /path/to/CirrMRI600}}")
    elif isinstance(data, dict):
        _check_data(data, bad)
    sequences = _check_inputs(raw, bad)
    protocol_names = _check_protocols(raw, bad)
    rows = _check_runners(raw, sequences, protocol_names, bad)
    if "name" in raw and (problem := name_problem(raw["name"])):
        bad("name", f"{problem}; the experiment's name is written into file names and the report")
    known_metrics = _check_metrics(raw, bad)
    if isinstance(raw.get("figures"), dict):
        _unknown_keys(raw["figures"], "figures", "figures", bad)
    _check_reference(raw, rows, bad)
    _check_reported(raw, known_metrics, bad)
    _check_robustness(raw, protocol_names, rows, bad)
    if rows:
        problems += [f"{source}: {line}" for line in declared_pair_problems(raw.get("compare"), rows)]
    return problems


def _unknown_keys(mapping: dict, parent: str, where: str, bad: Bad) -> None:
    """Keys the schema does not know under ``parent``, each with its closest known key."""
    known = known_keys(parent)
    note = unknown_note(parent)
    for key in mapping:
        if key not in known:
            bad(
                f"{where}.{key}" if where else str(key),
                f"unknown key{_close(key, known)}; known: {', '.join(known)}{note}",
            )


def _check_top_level(raw: dict, bad: Bad) -> None:
    _unknown_keys(raw, "", "", bad)
    if "protocol" in raw and "protocols" in raw:
        bad("protocol", "give either protocol: or protocols:, not both")


def _check_data(data: dict, bad: Bad) -> None:
    _unknown_keys(data, "data", "data", bad)
    if isinstance(data.get("phantom"), dict):
        _unknown_keys(data["phantom"], "data.phantom", "data.phantom", bad)


def _check_inputs(raw: dict, bad: Bad) -> list:
    """The config's inputs (``sequences:`` is their former name); [] when unusable."""
    if "inputs" in raw and "sequences" in raw:
        bad("sequences", "is the former name of inputs; give only inputs:")
    inputs_key = "inputs" if "inputs" in raw or "sequences" not in raw else "sequences"
    sequences = raw.get(inputs_key, default("inputs"))
    if not isinstance(sequences, list) or not sequences:
        bad(inputs_key, f"{sequences!r} is not a non-empty list of {', '.join(INPUTS)}")
        return []
    for s in sequences:
        if s not in INPUTS:
            bad(inputs_key, f"{s!r} is not an input{_close(s, INPUTS)}; allowed: {', '.join(INPUTS)}")
    return sequences


def _check_protocols(raw: dict, bad: Bad) -> list[str]:
    """The names of the config's known protocols, each checked with its options."""
    from cirrbench.benchmark.protocols.registry import available_protocols

    protocol_items = raw.get("protocols", [raw["protocol"]] if "protocol" in raw else default("protocols"))
    if not isinstance(protocol_items, list) or not protocol_items:
        bad("protocols", f"{protocol_items!r} is not a non-empty list")
        protocol_items = []
    protocols = available_protocols()
    protocol_names: list[str] = []
    for index, item in enumerate(protocol_items):
        key = f"protocols[{index}]"
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name, options = item["name"], {k: v for k, v in item.items() if k != "name"}
        else:
            bad(key, f"{item!r} is not a protocol name or a mapping with name:")
            continue
        if name not in protocols:
            bad(key, f"unknown protocol {name!r}{_close(name, protocols)}; allowed: {', '.join(protocols)}")
            continue
        if name in protocol_names:
            bad(key, f"protocol {name!r} listed twice")
        protocol_names.append(name)
        _check_protocol_options(key, name, options, protocols[name], bad)
    return protocol_names


def _check_protocol_options(key: str, name: str, options: dict, protocol: Any, bad: Bad) -> None:
    allowed = protocol.options
    for option, value in options.items():
        if option not in allowed:
            bad(
                f"{key}.{option}",
                f"unknown option of protocol {name!r}{_close(option, allowed)}; allowed: {', '.join(allowed) or 'none'}",
            )
            continue
        kind, text = allowed[option].kind, allowed[option].allowed
        ok = {
            "int": is_int(value),
            "int>=1": is_int(value) and value >= 1,
            "int>=2": is_int(value) and value >= 2,
            "fraction": is_number(value) and 0 < value < 1,
            "fractions": isinstance(value, list) and bool(value) and all(is_number(v) and 0 < v <= 1 for v in value),
            "sequence": value in ("T1W", "T2W"),
            "file": isinstance(value, str) and Path(value).expanduser().is_file(),
            "text": isinstance(value, str),
        }.get(kind, True)
        if not ok:
            bad(f"{key}.{option}", f"{value!r} is not {text}")
    for option in protocol.required:
        if option not in options:
            bad(key, f"protocol {name!r} needs {option}: ({allowed[option].meaning})")


def _check_runners(raw: dict, sequences: list, protocol_names: list[str], bad: Bad) -> dict[str, set[str]]:
    """Row name (alias or runner) -> its variants, for every usable runner entry."""
    from cirrbench.benchmark.runners.registry import available_runners, get_runner

    runners = raw.get("runners")
    rows: dict[str, set[str]] = {}
    if not isinstance(runners, list) or not runners:
        bad(
            "runners",
            "no runners listed; e.g. runners: [majority, radiomics-xgboost, msa] (`cirrbench runners` lists them)",
        )
        runners = []
    for index, item in enumerate(runners):
        entry = {"name": item} if isinstance(item, str) else item
        key = f"runners[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            bad(key, f"{item!r} is not a runner name or a mapping with name:")
            continue
        name = entry["name"]
        key = f"runners[{index}] ({name})"
        _unknown_keys(entry, "runners[]", key, bad)
        try:
            cls = get_runner(name)  # imports only the module that registers it (torch for deep runners)
        except KeyError:
            registry = available_runners()
            bad(key, f"unknown runner{_close(name, registry)}; available: {', '.join(registry)}")
            continue
        variants = _check_runner_variants(key, entry, cls, bad)
        _check_runner_scope(key, entry, sequences, protocol_names, bad)
        alias = entry.get("as")
        if alias is not None and (problem := name_problem(alias)):
            bad(f"{key}.as", f"{problem}: the alias names the row's files; put free text in a plugin's display_name")
        rows.setdefault(alias or name, set()).update(v for v in variants if isinstance(v, str))
    return rows


def _check_runner_variants(key: str, entry: dict, cls: Any, bad: Bad) -> list:
    """The entry's variants, each resolved with its params (every parameter problem reported once)."""
    from cirrbench.benchmark.runners.contract import ParamsError

    name = entry["name"]
    variants = entry.get("variants", ["default"])
    if variants == "all":
        variants = cls.variant_names()
    if not isinstance(variants, list) or not variants:
        bad(f"{key}.variants", f"{variants!r} is not a list of variant names or all")
        variants = []
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        bad(f"{key}.params", f"{params!r} is not a mapping of parameter: value")
        params = {}
    for variant in variants:
        if variant != "default" and variant not in cls.variants:
            bad(
                f"{key}.variants",
                f"{variant!r} is not a variant of {name}{_close(variant, cls.variants)}; variants: {', '.join(cls.variant_names())}",
            )
    reported_once: set[str] = set()

    def once(field: str, text: str) -> None:
        if text not in reported_once:
            reported_once.add(text)
            bad(field, text)

    for variant in [v for v in variants if v == "default" or v in cls.variants]:
        try:
            cls.make_params(params, variant)
        except ParamsError as exc:
            for line in exc.problems:
                if line not in reported_once:
                    reported_once.add(line)
                    bad(f"{key}.params.{line.split(':')[0]}", line.split(": ", 1)[1] if ": " in line else line)
        except TypeError as exc:
            once(f"{key}.params", str(exc))
        except (KeyError, ValueError) as exc:
            once(f"{key}.params", str(exc.args[0]) if exc.args else str(exc))
    return variants


def _check_runner_scope(key: str, entry: dict, sequences: list, protocol_names: list[str], bad: Bad) -> None:
    """An entry's own protocols, inputs and seeds lie within the config's."""
    if "inputs" in entry and "sequences" in entry:
        bad(f"{key}.sequences", "is the former name of inputs; give only inputs:")
    for field_name, allowed in (("protocols", protocol_names), ("inputs", sequences), ("sequences", sequences)):
        chosen = entry.get(field_name)
        if chosen is None:
            continue
        chosen = chosen if isinstance(chosen, list) else [chosen]
        for value in chosen:
            if value not in allowed:
                bad(
                    f"{key}.{field_name}",
                    f"{value!r} is not one of the config's {'protocols' if field_name == 'protocols' else 'inputs'} ({', '.join(map(str, allowed))})",
                )
    if "seeds" in entry and (problem := config_key("runners[].seeds").kind.problem(entry["seeds"])):
        bad(f"{key}.seeds", problem)


def _check_metrics(raw: dict, bad: Bad) -> list[str]:
    """The metrics: section; returns every known metric name (plugins' included)."""
    from cirrbench.benchmark.reporting.metric_registry import available_metrics

    metrics = raw.get("metrics", {})
    if not isinstance(metrics, dict):
        metrics = {}  # reported with the plain values
    _unknown_keys(metrics, "metrics", "metrics", bad)
    known_metrics = list(available_metrics())
    if "main" in metrics and metrics["main"] not in known_metrics:
        bad(
            "metrics.main",
            f"unknown metric {metrics['main']!r}{_close(metrics['main'], known_metrics)}; available: {', '.join(known_metrics)}",
        )
    for key in ("table", "secondary"):
        chosen = metrics.get(key)
        for metric in (chosen if isinstance(chosen, list) else [chosen]) if chosen is not None else []:
            if metric not in known_metrics:
                bad(
                    f"metrics.{key}",
                    f"unknown metric {metric!r}{_close(metric, known_metrics)}; available: {', '.join(known_metrics)}",
                )
    return known_metrics


def _check_reference(raw: dict, rows: dict[str, set[str]], bad: Bad) -> None:
    reference = raw.get("reference", default("reference"))
    if rows and reference is not None and reference not in rows:
        implied = " (the default)" if "reference" not in raw else ""
        bad(
            "reference",
            f"{reference!r}{implied} is not a runner of this config: add it to runners: (the chance row every method is marked against), name one of {', '.join(rows)}, or write reference: null for none",
        )


def _check_reported(raw: dict, known_metrics: list[str], bad: Bad) -> None:
    reported = raw.get("reported", [])
    if not isinstance(reported, list):
        bad("reported", f"{reported!r} is not a list")
        reported = []
    for index, item in enumerate(reported):
        key = f"reported[{index}]"
        if not isinstance(item, dict):
            bad(key, f"{item!r} is not a mapping")
            continue
        _unknown_keys(item, "reported[]", key, bad)
        if "method" not in item or not is_number(item.get("value")):
            bad(key, "needs method: and a numeric value:")
        if item.get("input", default("reported[].input")) not in INPUTS:
            bad(f"{key}.input", f"{item.get('input')!r} is not one of {', '.join(INPUTS)}")
        if item.get("level", default("reported[].level")) not in LEVELS:
            bad(f"{key}.level", f"{item.get('level')!r} is not patient or slice")
        if item.get("metric", default("reported[].metric")) not in known_metrics:
            bad(f"{key}.metric", f"unknown metric {item.get('metric')!r}")


def _check_robustness(raw: dict, protocol_names: list[str], rows: dict[str, set[str]], bad: Bad) -> None:
    """The ``robustness:`` section: a protocol of the config, its runners, known perturbations at
    allowed levels (an erosion that would empty a mask is checked once the cohort is read)."""
    section = raw.get("robustness")
    if not isinstance(section, dict):
        return  # absent, or reported by the schema's value check
    _unknown_keys(section, "robustness", "robustness", bad)
    protocol = section.get("protocol", protocol_names[0] if protocol_names else None)
    if protocol is not None and protocol_names and protocol not in protocol_names:
        bad(
            "robustness.protocol",
            f"{protocol!r} is not a protocol of this config; protocols: {', '.join(protocol_names)}",
        )
    elif protocol == "learning-curve":
        bad(
            "robustness.protocol",
            "learning-curve splits shrink the training part; perturb the test scans of official, cv or paired",
        )
    runners = section.get("runners")
    if runners is not None:
        if not isinstance(runners, list) or not all(isinstance(r, str) for r in runners):
            bad("robustness.runners", f"{runners!r} is not a list of row names")
        elif rows:
            for index, row in enumerate(runners):
                if row not in rows:
                    bad(
                        f"robustness.runners[{index}]",
                        f"{row!r} is not a runner of this config{_close(row, rows)}; runners: {', '.join(rows)}",
                    )
    items = section.get("perturbations", [])
    if not isinstance(items, list) or (not items and section):
        bad(
            "robustness.perturbations",
            f"{items!r} is not a non-empty list of {{name, levels, seed}}; e.g. [{{name: noise, levels: [20]}}]",
        )
        return
    seen: set[tuple] = set()
    for index, item in enumerate(items):
        _check_perturbation(f"robustness.perturbations[{index}]", item, seen, bad)


def _check_perturbation(key: str, item: Any, seen: set[tuple], bad: Bad) -> None:
    from cirrbench.benchmark.data.perturbations import KINDS, level_problem

    if not isinstance(item, dict):
        bad(key, f"{item!r} is not a mapping like {{name: noise, levels: [20]}}")
        return
    _unknown_keys(item, "robustness.perturbations[]", key, bad)
    name = item.get("name")
    if name not in KINDS:
        bad(f"{key}.name", f"unknown perturbation {name!r}{_close(str(name), KINDS)}; allowed: {', '.join(KINDS)}")
        return
    if "seed" in item and not is_int(item["seed"]):
        bad(f"{key}.seed", f"{item['seed']!r} is not an integer")
    levels = item.get("levels")
    if not isinstance(levels, list) or not levels:
        bad(f"{key}.levels", f"{levels!r} is not a non-empty list of levels in {KINDS[name].range_text()}")
        return
    for position, level in enumerate(levels):
        problem = level_problem(name, level)
        if problem is not None:
            bad(f"{key}.levels[{position}]", f"{problem} (the levels of {name})")
        elif (name, float(level)) in seen:
            bad(f"{key}.levels[{position}]", f"{name} at {level!r} is listed twice")
        else:
            seen.add((name, float(level)))


def _perturbation_reference() -> list[str]:
    """The kinds of ``robustness.perturbations``, each with what it changes, its levels and its docstring."""
    from cirrbench.benchmark.data.perturbations import KINDS

    lines = [
        "",
        "## Perturbations",
        "",
        "The kinds `robustness.perturbations[].name` accepts; a level of 0 (where the unit allows it) changes nothing.",
        "",
        "| perturbation | changes | levels | what it does |",
        "|---|---|---|---|",
    ]
    for kind in KINDS.values():
        doc = " ".join((kind.apply.__doc__ or "").split())
        lines.append(f"| `{kind.name}` | {kind.changes} | {kind.range_text()} | {doc} |")
    return lines


def config_reference() -> str:
    """``docs/config.md``: every key, then every runner's parameters (generated; do not edit)."""
    import typing

    from cirrbench.benchmark.runners.params import allowed_text, describe_type, field_default, param_doc
    from cirrbench.benchmark.runners.registry import available_runners

    lines = [
        "# Config reference",
        "",
        "Generated from the schema (`benchmark/common/config_keys.py`) and the runners' declared parameters by",
        "`cirrbench config-reference --out docs/config.md`; a test fails when this file is out of date.",
        "Every key is checked when a config is read: a mistake stops the run before any job, with one",
        "line per problem naming the key, the value and what is allowed (exit code 2).",
        "",
        "## Keys",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k.path}` | {k.kind.text} | {k.default_text} | {k.meaning} |" for k in KEYS]
    from cirrbench.benchmark.protocols.registry import available_protocols

    lines += [
        "",
        "## Protocol options",
        "",
        "| protocol | option | allowed | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, protocol in available_protocols().items():
        if not protocol.options:
            lines.append(f"| `{name}` | (none) | | | |")
        for option, spec in protocol.options.items():
            lines.append(f"| `{name}` | `{option}` | {spec.allowed} | {spec.default} | {spec.meaning} |")
    from cirrbench.benchmark.reporting.metric_registry import available_metrics

    lines += ["", "## Metrics", "", "| metric | meaning | better | range | labels |", "|---|---|---|---|---|"]
    for name, metric in available_metrics().items():
        bounds = (
            "depends on the classes" if callable(metric.bounds) else f"{metric.bounds[0]:g} to {metric.bounds[1]:g}"
        )
        lines.append(
            f"| `{name}` | {metric.display} | {'higher' if metric.higher_is_better else 'lower'} | {bounds} | {'ordered classes only' if metric.ordinal_only else 'any'} |"
        )
    lines += _perturbation_reference()
    lines += ["", "## Runners and their parameters", ""]
    for name, cls in available_runners().items():
        if not cls.__module__.startswith("cirrbench."):
            continue
        lines += [
            f"### `{name}`",
            "",
            f"{cls.shown_as()} ({cls.family}; inputs: {cls.inputs}). {cls.description}".rstrip(),
            "",
        ]
        if cls.variants:
            lines += [
                "Variants: "
                + ", ".join(
                    f"`{v}` ({', '.join(f'{k}={val!r}' for k, val in cls.variants[v].items())})" for v in cls.variants
                )
                + ".",
                "",
            ]
        fields = dataclasses.fields(cls.Params)
        if not fields:
            lines += ["No parameters.", ""]
            continue
        hints = typing.get_type_hints(cls.Params)
        lines += ["| parameter | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for f in fields:
            default = field_default(f)
            lines.append(
                f"| `{f.name}` | {describe_type(hints.get(f.name, str))} | `{default!r}` | {allowed_text(f)} | {param_doc(f)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def declared_pair_problems(raw: Any, rows: dict[str, set[str]]) -> list[str]:
    """Problems of a ``compare:`` value; ``rows``: row name (alias or runner) -> variants it runs."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [
            f"compare: a list of pairs, e.g. [[radiomics-xgboost, msa], [radiomics-xgboost, cnn-vgg19]], got {raw!r}"
        ]
    problems = []
    for index, item in enumerate(raw):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            problems.append(
                f"compare[{index}]: a pair of row names such as [radiomics-xgboost, msa] (optionally msa:no-attention), got {item!r}"
            )
            continue
        for side in item:
            row, _, variant = side.partition(":")
            if row not in rows:
                problems.append(f"compare[{index}]: {row!r} is not a runner of this config; runners: {', '.join(rows)}")
            elif variant and variant not in rows[row]:
                problems.append(
                    f"compare[{index}]: runner {row!r} does not run variant {variant!r} in this config; it runs: {', '.join(sorted(rows[row]))}"
                )
        if item[0] == item[1]:
            problems.append(f"compare[{index}]: a method compared with itself ({item[0]!r})")
    return problems

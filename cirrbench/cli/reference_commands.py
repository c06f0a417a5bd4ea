"""``cirrbench runners`` and ``config-reference``: what can be configured, from the code itself."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cirrbench.cli.options import add_plugin_option, load_cli_plugins
from cirrbench.cli.registry import command

__all__: list[str] = []  # everything here registers itself


def _runners_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "name",
        nargs="?",
        default=None,
        help="one runner: its parameters with type, default, allowed values and meaning",
    )
    add_plugin_option(p, "first, so its runners are listed (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.add_argument("--long", action="store_true", help="every runner with its parameters' defaults and variants")


@command("runners", _runners_options)
def runners(args: argparse.Namespace) -> int:
    """list registered runners, their parameters and variants

    List every registered runner (built in and from the cirrbench.runners entry point), one line
    each; with NAME, one runner's parameters with their meaning and allowed values; with --long,
    every runner's parameter defaults and variants.
    """
    import dataclasses
    import typing

    load_cli_plugins(args)
    from cirrbench.benchmark.runners.params import allowed_text, describe_type, field_default, param_doc
    from cirrbench.benchmark.runners.registry import available_runners, get_runner

    chosen = {args.name: get_runner(args.name)} if args.name else available_runners()
    described: dict[str, dict[str, Any]] = {}
    for name, cls in chosen.items():
        hints = typing.get_type_hints(cls.Params)
        params = []
        for f in dataclasses.fields(cls.Params):
            default = field_default(f)
            params.append(
                {
                    "name": f.name,
                    "type": describe_type(hints.get(f.name, str)),
                    "default": default,
                    "allowed": allowed_text(f),
                    "meaning": param_doc(f),
                }
            )
        described[name] = {
            "display_name": cls.shown_as(),
            "family": cls.family,
            "inputs": cls.inputs,
            "needs_images": cls.needs_images,
            "description": cls.description,
            "variants": {v: cls.variants.get(v, {}) for v in cls.variant_names()},
            "params": params,
        }
    if args.json:
        print(json.dumps(described, indent=2, default=list))
        return 0
    if not args.name and not args.long:
        _print_runner_table(described)
        return 0
    for name, info in described.items():
        print(f"{name}  ({info['display_name']}; {info['family']}; inputs: {info['inputs']})  {info['description']}")
        for param in info["params"]:
            if args.name:
                allowed = f"  [{param['allowed']}]" if param["allowed"] else ""
                print(f"    {param['name']} = {param['default']!r}  ({param['type']}){allowed}  {param['meaning']}")
            else:
                print(f"    {param['name']} = {param['default']!r}")
        if len(info["variants"]) > 1:
            if args.name:
                for variant, overrides in info["variants"].items():
                    print(
                        f"    variant {variant}: {', '.join(f'{k}={v!r}' for k, v in overrides.items()) or '(the defaults)'}"
                    )
            else:
                print(f"    variants: {', '.join(info['variants'])}")
    return 0


def _print_runner_table(described: dict[str, dict]) -> None:
    """One line per runner (the default listing: a screen, not hundreds of parameter lines)."""
    rows = [
        (name, info["family"], info["inputs"], str(len(info["variants"])), info["display_name"])
        for name, info in described.items()
    ]
    header = ("runner", "family", "inputs", "variants", "shown as")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"{len(rows)} runner(s). Parameters and variants: cirrbench runners NAME (one runner) or --long (all).")


def _config_reference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="file to write (default: print)")


@command("config-reference", _config_reference_options)
def config_reference(args: argparse.Namespace) -> int:
    """write the config reference (every key and runner parameter) as Markdown

    Generate docs/config.md from the config schema and the runners' declared parameters.
    """
    from cirrbench.benchmark.common.atomic import atomic_write_text
    from cirrbench.benchmark.execution.config_schema import config_reference as reference_text

    text = reference_text()
    if args.out is None:
        print(text, end="")
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0

"""Options several commands share, and what they turn into (cohort path, label options, run options)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cirrbench.cli.registry import UsageError

__all__ = [
    "add_cohort_options",
    "add_label_options",
    "add_plugin_option",
    "cohort_path",
    "label_options",
    "load_cli_plugins",
    "load_cohort_of",
    "run_options_from_args",
    "run_parent",
]

COHORT_HELP = "CirrMRI600+ root folder, manifest or feature-table .csv (default: $CIRRBENCH_DATA)"


def add_cohort_options(parser: argparse.ArgumentParser) -> None:
    """PATH (else $CIRRBENCH_DATA), ``--healthy`` and the label options: a data command's cohort."""
    parser.add_argument("path", type=Path, nargs="?", default=None, help=COHORT_HELP)
    parser.add_argument(
        "--healthy", action="store_true", help="include the healthy volunteers (a fourth class, 'healthy')"
    )
    add_label_options(parser)


def add_label_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--labels",
        default=None,
        metavar="A,B,C",
        help="class names in order, for manifest and feature-table cohorts (compared case-insensitively; required for numeric labels)",
    )
    parser.add_argument(
        "--ordinal",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the declared classes are ordered (default: ordinal for mild/moderate/severe, else nominal)",
    )


def add_plugin_option(parser: argparse.ArgumentParser, effect: str) -> None:
    """``--plugin PATH_OR_MODULE`` (repeatable); ``effect`` ends its help."""
    parser.add_argument(
        "--plugin", action="append", metavar="PATH_OR_MODULE", help=f"import a .py file or module {effect}"
    )


NO_COHORT = "give the cohort: PATH (a CirrMRI600+ folder, a manifest or a feature-table CSV), or set $CIRRBENCH_DATA"


def cohort_path(given: Path | None, missing: str = NO_COHORT) -> Path:
    """The cohort a command reads: the given path, else $CIRRBENCH_DATA; neither is a usage error
    saying ``missing``."""
    path = given or (Path(os.environ["CIRRBENCH_DATA"]) if os.environ.get("CIRRBENCH_DATA") else None)
    if path is None:
        raise UsageError(missing)
    return Path(path)


def label_options(args: argparse.Namespace) -> dict:
    """``--labels`` and ``--ordinal`` as keyword arguments of ``load_cohort``."""
    options = {}
    if getattr(args, "labels", None):
        options["labels"] = [name.strip() for name in args.labels.split(",")]
    if getattr(args, "ordinal", None) is not None:
        options["ordinal"] = args.ordinal
    return options


def load_cohort_of(args: argparse.Namespace, path: Path | None = None):
    """The cohort a data command names (PATH or ``path``, ``--healthy``, the label options)."""
    from cirrbench.benchmark.data.loading import load_cohort

    return load_cohort(
        cohort_path(path or getattr(args, "path", None)),
        include_healthy=getattr(args, "healthy", False),
        **label_options(args),
    )


def run_parent() -> argparse.ArgumentParser:
    """Options shared by ``run`` and ``reproduce``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    parent.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cohort: CirrMRI600+ root, manifest or feature-table .csv; overrides the config and $CIRRBENCH_DATA",
    )
    parent.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="jobs run in parallel (default: every core on a CPU, 1 on a GPU); results identical to serial",
    )
    parent.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1, mps (default: the config's)")
    parent.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run jobs and feature extraction on this Dask scheduler (e.g. tcp://host:8786); the results folder must be shared with the workers",
    )
    parent.add_argument(
        "--force",
        action="store_true",
        help="rerun selected jobs even when finished (old results are replaced only once the new ones are complete)",
    )
    parent.add_argument(
        "--skip-check",
        action="append",
        metavar="CHECK",
        help="proceed without this validation check (repeatable; 'all' skips every check)",
    )
    parent.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set metrics.bootstrap=500 --set runners.msa.params.epochs=2 (repeatable; value read as YAML)",
    )
    parent.add_argument(
        "--dry-run",
        action="store_true",
        help="print the job grid (jobs per runner, already done, to run) and exit; nothing is run or written",
    )
    add_plugin_option(parent, "whose decorated runners then register (repeatable; worker processes import it too)")
    add_label_options(parent)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parent


def load_cli_plugins(args: argparse.Namespace) -> tuple[str, ...]:
    """``--plugin`` values, imported now (file paths made absolute for the worker processes)."""
    from cirrbench.benchmark.execution.experiment import ConfigError
    from cirrbench.benchmark.runners.plugins import PluginError, load_plugin

    specs = []
    for item in getattr(args, "plugin", None) or ():
        spec = str(Path(item).resolve()) if item.endswith(".py") else item
        try:
            load_plugin(spec)
        except PluginError as exc:
            raise ConfigError(f"--plugin: {exc}") from None
        specs.append(spec)
    return tuple(specs)


def run_options_from_args(args: argparse.Namespace, jobs: int | None = None):
    """The run options of ``run`` and ``reproduce`` from their shared command-line options
    (``jobs`` None: ``--jobs``, or 0 = decide from the device later)."""
    from cirrbench.benchmark.execution.orchestrator import RunOptions

    labels = label_options(args)
    return RunOptions(
        out=args.out,
        data=args.data,
        jobs=jobs if jobs is not None else (args.jobs or 0),
        force=args.force,
        only=getattr(args, "only", None),
        skip_checks=tuple(args.skip_check or ()),
        device=args.device,
        progress=not args.quiet,
        dask=args.dask,
        labels=tuple(labels["labels"]) if "labels" in labels else None,
        ordinal=labels.get("ordinal"),
        plugins=load_cli_plugins(args),
    )

"""The ``cirrbench`` command line. Every command has ``--help``.

Each command is one handler function in one module of this package, registered with
:func:`~cirrbench.cli.registry.command` (its help is its docstring); shared options live
in :mod:`~cirrbench.cli.options`.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from cirrbench.benchmark import __version__
from cirrbench.benchmark.common.kernels import MODES
from cirrbench.benchmark.common.stopping import Terminated, stop_signals
from cirrbench.cli.options import load_cli_plugins, run_options_from_args
from cirrbench.cli.registry import UsageError, commands, groups

__all__ = ["build_parser", "load_cli_plugins", "main", "run_options_from_args", "UsageError"]

#: The modules whose handlers register commands, in the order ``cirrbench --help`` lists them.
COMMAND_MODULES = (
    "data_commands",
    "feature_commands",
    "experiment_commands",
    "score_command",
    "reference_commands",
    "perf_commands",
    "new_commands",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_module}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every registered command (groups such as ``data`` get a parser of their own)."""
    parser = argparse.ArgumentParser(
        prog="cirrbench",
        description="Benchmark liver-cirrhosis staging on MRI: radiomics vs deep learning on identical patient-grouped splits.",
    )
    parser.add_argument("--version", action="version", version=f"cirrbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    grouped: dict[str, argparse._SubParsersAction] = {}
    for command in commands():
        *group_words, word = command.words
        where = top
        if group_words:
            (name,) = group_words
            if name not in grouped:
                declared = groups()[name]
                group_parser = top.add_parser(name, help=declared.help, description=declared.description)
                grouped[name] = group_parser.add_subparsers(dest=f"{name}_command", metavar=f"{name.upper()}_COMMAND")
            where = grouped[name]
        parents = [make() for make in command.parents]
        p = where.add_parser(word, help=command.help, description=command.description, parents=parents)
        command.options(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cirrbench ARGV``.

    Args:
        argv: the words after ``cirrbench`` (default: the process's arguments).

    Returns:
        The exit code: 0 done, 1 a job, the cohort or a write (full disk) failed, 2 nothing was run (bad input),
        130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    """
    # importing the cirrbench package pinned the deep jobs' float kernels unless this says fast
    mode = os.environ.get("CIRRBENCH_REPRODUCIBLE", "bitwise")
    if mode not in MODES:
        print(f"error: CIRRBENCH_REPRODUCIBLE={mode!r}: use one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("radiomics").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # joblib's reusable loky pool replaces a worker that idled out or whose memory grew (phantom generation) and
    # warns about it the next time the pool is used; the work is resubmitted, nothing is lost.
    warnings.filterwarnings(
        "ignore", message="A worker stopped while some jobs were given to the executor", category=UserWarning
    )
    func = getattr(args, "func", None)
    if func is None:
        target = getattr(args, "command", None)
        parser.parse_args([target, "--help"] if target else ["--help"])
        return 2
    try:
        with stop_signals():
            return int(func(args) or 0)
    except Terminated:
        print("terminated (SIGTERM); finished jobs are kept, rerun to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted; finished jobs are kept, rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report_error(exc)


def _report_error(exc: Exception) -> int:
    """One line per problem on stderr; the exit code says whether anything ran (see --help of run)."""
    from cirrbench.benchmark.data.problems import CohortError
    from cirrbench.benchmark.execution.experiment import ConfigError
    from cirrbench.benchmark.execution.job_execution import WorkerLostError
    from cirrbench.benchmark.execution.lock import ResultsLocked

    if isinstance(exc, ConfigError):
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was run", file=sys.stderr)
        return 2
    if isinstance(exc, CohortError):
        print(str(exc), file=sys.stderr)
        return 1
    if isinstance(exc, WorkerLostError):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if (
        isinstance(exc, OSError)
        and not isinstance(exc, (FileNotFoundError, FileExistsError))
        and exc.filename is not None
    ):
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        advice = (
            "free some space or use another --out, then rerun: finished jobs are kept and the rerun resumes"
            if full
            else "check free disk space and write permission"
        )
        print(f"error: {exc.filename}: {exc.strerror or exc} ({advice})", file=sys.stderr)
        return 1 if full else 2  # a full disk can stop a run after its first jobs
    if isinstance(exc, (FileNotFoundError, FileExistsError, ValueError, KeyError, ResultsLocked, UsageError, OSError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {text}", file=sys.stderr)
        return 2
    raise exc

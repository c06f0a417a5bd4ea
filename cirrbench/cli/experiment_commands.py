"""``cirrbench run``, ``reproduce``, ``report``, ``prune``: experiments and their results folders."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cirrbench.cli.options import load_cli_plugins, run_options_from_args, run_parent
from cirrbench.cli.registry import UsageError, command

__all__: list[str] = []  # everything here registers itself


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML file or shipped config name")
    p.add_argument(
        "--only",
        metavar="GLOB",
        default=None,
        help="run only jobs whose label runner:variant:input:split:seed matches, e.g. 'majority:*:T1W:*'",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="run the jobs and write the manifest, but no report (shards of one run on several machines, each with --only; then `cirrbench report OUT` once)",
    )


@command("run", _run_options, parents=(run_parent,))
def run(args: argparse.Namespace) -> int:
    """run an experiment config: every runner x variant x input x split x seed

    Run the job grid of an experiment config (a YAML file, or the name of a shipped one: tiny,
    cpu, paper). The whole config, the cohort and the job grid are checked before the first job.
    Finished jobs are reused; failed jobs are recorded in <out>/failures and retried next time.
    Exit codes: 0 done, 1 a job failed, the cohort failed validation or the disk is full, 2 nothing
    was run (config, flag or input error; folder in use), 130 Ctrl-C, 143 SIGTERM (finished jobs
    are kept in every case; a rerun resumes).
    """
    from cirrbench.benchmark.execution.experiment import load_experiment
    from cirrbench.benchmark.execution.job_execution import default_jobs
    from cirrbench.benchmark.execution.orchestrator import dry_run, run_experiment

    load_cli_plugins(args)  # before the config is read: its runners may come from a plugin
    experiment = load_experiment(args.config, tuple(args.set or ()))
    runners = [r.name for r in experiment.runners]
    options = run_options_from_args(args, jobs=args.jobs or default_jobs(args.device or experiment.device, runners))
    options = dataclasses.replace(options, report=not args.no_report)
    if args.dry_run:
        print(dry_run(experiment, options))
        return 0
    summary, report = run_experiment(experiment, options)
    if args.no_report:
        print(f"report: not built (--no-report); `cirrbench report {args.out}` builds it")
    if report is not None:
        print()
        print(report.main_markdown())
        print(
            f"tables: {args.out / 'tables'}   figures: {args.out / 'figures'}   manifest: {args.out / 'manifest.json'}"
        )
    return 0 if summary.ok else 1


def _reproduce_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="cpu",
        help="cpu (default; fits a 2-core CPU), paper (seed-paper settings, paired and official splits, for a GPU), paper-cv (the same runners on the 3x5 CV grid, for GPU workers), tiny, or a YAML file",
    )
    p.add_argument(
        "--check",
        type=Path,
        metavar="RESULTS",
        default=None,
        help="rerun RESULTS' own config (from its manifest) into --out (default RESULTS-check) and compare every table cell with RESULTS: equal, within the seed spread, or outside (exit 1)",
    )


@command("reproduce", _reproduce_options, parents=(run_parent,))
def reproduce(args: argparse.Namespace) -> int:
    """what ./run_all.sh runs: cohort, validation, experiments, every table and figure

    Regenerate every table and figure. Without --data (or $CIRRBENCH_DATA) the synthetic phantom
    is generated once into the cache and used.
    """
    from cirrbench.benchmark.data.problems import CohortError
    from cirrbench.benchmark.execution.reproduce import ReproduceOptions
    from cirrbench.benchmark.execution.reproduce import reproduce as regenerate

    options = ReproduceOptions(
        profile=args.profile,
        run=run_options_from_args(args),
        overrides=tuple(args.set or ()),
        dry_run=args.dry_run,
        check=getattr(args, "check", None),
    )
    try:
        return regenerate(options)
    except CohortError as exc:
        print(str(exc))
        print(
            "The cohort failed validation: fix the problems above, or pass --skip-check CHECK to proceed without a check."
        )
        return 1


def _results_folder(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", type=Path, help="results folder written by `cirrbench run` or ./run_all.sh")


def _report_options(p: argparse.ArgumentParser) -> None:
    _results_folder(p)
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes that render the figures (default: every core); the files are the same for any number",
    )


@command("report", _report_options)
def report(args: argparse.Namespace) -> int:
    """rebuild every table and figure from prediction files alone

    Rebuild tables, figures and metric files of a results folder from its prediction files.
    """
    from cirrbench.benchmark.execution.job_execution import default_jobs
    from cirrbench.benchmark.reporting.report import build_report

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: give 1 or more processes")
    built = build_report(args.results, jobs=args.jobs or default_jobs("cpu"))
    print(built.main_markdown())
    print(f"{len(built.files)} files written under {args.results}")
    return 0


def _prune_options(p: argparse.ArgumentParser) -> None:
    _results_folder(p)
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")


@command("prune", _prune_options)
def prune(args: argparse.Namespace) -> int:
    """delete job folders that the results folder's current experiment no longer uses

    Delete predictions/<job> folders not listed in the results folder's manifest.json (left by
    earlier configs). Reports already ignore them; this frees the disk.
    """
    from cirrbench.benchmark.execution.prune import prune as prune_folder

    result = prune_folder(args.results, dry_run=args.dry_run)
    for path in result.removed:
        print(("would delete " if args.dry_run else "deleted ") + str(path))
    verb = "would free" if args.dry_run else "freed"
    print(
        f"{len(result.removed)} stale job folder(s), {verb} {result.bytes_freed / 1e6:.1f} MB; {result.kept} current job folder(s) kept"
    )
    return 0


def _compare_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("reference", type=Path, help="the results folder compared against")
    p.add_argument("new", type=Path, help="the results folder compared")
    p.add_argument("--out", type=Path, default=None, help="write every cell's comparison to this CSV")


@command("compare", _compare_options)
def compare(args: argparse.Namespace) -> int:
    """what changed between two results folders, table cell by table cell

    Compare every CSV table cell of NEW with REFERENCE: equal, within the training-seed spread that
    REFERENCE's seeds tables give (main tables of runs with seeds > 1), or outside; exit 1 when a
    cell lies outside, or was added or removed.
    """
    from cirrbench.benchmark.reporting.compare_runs import compare_runs

    for folder in (args.reference, args.new):
        if not (folder / "tables").is_dir():
            print(f"error: {folder}: no tables/ folder; give results folders written by a run")
            return 2
    comparison = compare_runs(args.reference, args.new)
    print(comparison.summary())
    if args.out is not None:
        print(f"every cell: {comparison.write(args.out)}")
    return 1 if comparison.outside else 0

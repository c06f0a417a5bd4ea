"""What ``./run_all.sh`` runs: a profile's experiment, every table and figure, and where they are.

The shell script only prepares the environment; everything a user sees comes from here, so the
end-to-end test exercises exactly the code path of ``run_all.sh``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cirrbench.benchmark.execution.jobs import default_jobs
from cirrbench.benchmark.execution.experiment import load_experiment
from cirrbench.benchmark.data.montage import montage
from cirrbench.benchmark.data.problems import CohortError
from cirrbench.benchmark.reporting.report import MANIFEST
from cirrbench.benchmark.execution.orchestrator import RunOptions, resolve_data, run_experiment


@dataclass(frozen=True)
class ReproduceOptions:
    profile: str = "cpu"
    data: Path | None = None
    out: Path = Path("results")
    jobs: int | None = None  # None: every core on a CPU, 1 on a GPU
    skip_checks: tuple[str, ...] = ()
    force: bool = False
    progress: bool = True
    device: str | None = None
    dask: str | None = None
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE
    dry_run: bool = False
    labels: tuple[str, ...] | None = None
    ordinal: bool | None = None
    plugins: tuple[str, ...] = ()


def reproduce(options: ReproduceOptions) -> int:
    started = time.time()
    experiment = load_experiment(options.profile, options.overrides)
    jobs = options.jobs or default_jobs(options.device or experiment.device)
    run_options = RunOptions(out=options.out, data=options.data, jobs=jobs, force=options.force, skip_checks=options.skip_checks, device=options.device, progress=options.progress, dask=options.dask, labels=options.labels, ordinal=options.ordinal, plugins=options.plugins)
    if options.dry_run:
        from cirrbench.benchmark.execution.orchestrator import dry_run

        print(dry_run(experiment, run_options))
        return 0
    data, is_phantom = resolve_data(experiment, run_options)
    if is_phantom:
        print(f"No --data given (nor $CIRRBENCH_DATA): using the embedded SYNTHETIC PHANTOM cohort ({data}).")
        print("Its numbers check the machinery; they are not clinical evidence.\n")
    print(f"profile: {experiment.name} ({experiment.source}); {jobs} parallel job(s)")
    summary, report = run_experiment(experiment, run_options)
    if report is None:
        print("no finished job: nothing to report")
        return 1
    from cirrbench.benchmark.data.cohort import load_cohort

    figure = montage(load_cohort(data), options.out / "figures" / "cohort_montage.png", title=("SYNTHETIC PHANTOM - " if is_phantom else "") + "largest liver slice per stage") if not str(data).endswith(".csv") else None
    print()
    print(report.main_markdown())
    out = options.out
    print("Where everything is:")
    print(f"  tables (md, tex, csv):  {out / 'tables'}")
    print(f"  figures (png, pdf):     {out / 'figures'}")
    print(f"  metrics per split:      {out / 'metrics'}")
    print(f"  predictions per job:    {out / 'predictions'}")
    print(f"  split files:            {out / 'splits'}")
    print(f"  provenance:             {out / MANIFEST}")
    if figure is not None:
        print(f"  cohort montage:         {figure}")
    print(f"done in {time.time() - started:.0f} s; {summary.format().splitlines()[0]}")
    return 0 if summary.ok else 1


def main_from_args(args) -> int:
    from cirrbench.benchmark.cli import _load_cli_plugins

    plugins = _load_cli_plugins(args)
    options = ReproduceOptions(
        profile=args.profile,
        data=args.data,
        out=args.out,
        jobs=args.jobs,
        skip_checks=tuple(args.skip_check or ()),
        force=args.force,
        progress=not args.quiet,
        device=args.device,
        dask=args.dask,
        overrides=tuple(args.set or ()),
        dry_run=args.dry_run,
        labels=tuple(args.labels.split(",")) if args.labels else None,
        ordinal=args.ordinal,
        plugins=plugins,
    )
    try:
        return reproduce(options)
    except CohortError as exc:
        print(str(exc))
        print("The cohort failed validation: fix the problems above, or pass --skip-check CHECK to proceed without a check.")
        return 1

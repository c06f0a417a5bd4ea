"""What ``./run_all.sh`` runs: a profile's experiment, every table and figure, and where they are.

The shell script only prepares the environment; everything a user sees comes from here, so the
end-to-end test exercises exactly the code path of ``run_all.sh``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from cirrbench.benchmark.data.montage import montage
from cirrbench.benchmark.execution.experiment import (
    ConfigError,
    Experiment,
    apply_overrides,
    load_experiment,
    parse_experiment,
)
from cirrbench.benchmark.execution.job_execution import default_jobs
from cirrbench.benchmark.execution.orchestrator import RunOptions, resolve_data, run_experiment
from cirrbench.benchmark.reporting.compare_runs import compare_runs
from cirrbench.benchmark.reporting.report import MANIFEST

__all__ = ["reproduce", "ReproduceOptions"]


@dataclass(frozen=True)
class ReproduceOptions:
    """A profile and how to run it (``run.jobs`` 0: every core on a CPU, one job on a GPU)."""

    profile: str = "cpu"
    run: RunOptions = field(default_factory=lambda: RunOptions(jobs=0))
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE
    dry_run: bool = False
    check: Path | None = None  # a results folder: rerun its config into another folder and compare


def _check_setup(options: ReproduceOptions, reference: Path) -> tuple[Experiment, RunOptions]:
    """The reference folder's own config (from its manifest) and a run folder beside it."""
    manifest_path = reference / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"{manifest_path}: no manifest; --check takes a results folder written by a run")
    manifest = json.loads(manifest_path.read_text())
    raw = manifest["experiment"]["config"]
    if options.overrides:
        raw = apply_overrides(raw, options.overrides, str(manifest_path))
    experiment = parse_experiment(raw, str(manifest_path))
    out = Path(options.run.out)
    if out == RunOptions().out or out.resolve() == reference.resolve():  # --out not given, or the reference itself
        out = reference.with_name(reference.name + "-check")
    data = options.run.data
    if data is None and not manifest["cohort"].get("phantom"):
        data = Path(manifest["cohort"]["source"])
    return experiment, dataclasses.replace(options.run, out=out, data=data)


def reproduce(options: ReproduceOptions) -> int:
    started = time.time()
    if options.check is not None:
        experiment, run = _check_setup(options, Path(options.check))
        options = dataclasses.replace(options, run=run)
        print(f"--check: rerunning {options.check}'s config into {run.out}, then comparing every table cell")
    else:
        experiment = load_experiment(options.profile, options.overrides)
    run_options = dataclasses.replace(
        options.run,
        jobs=options.run.jobs
        or default_jobs(options.run.device or experiment.device, [r.name for r in experiment.runners]),
    )
    if options.dry_run:
        from cirrbench.benchmark.execution.orchestrator import dry_run

        print(dry_run(experiment, run_options))
        return 0
    data, is_phantom = resolve_data(experiment, run_options)
    if is_phantom:
        print(f"No --data given (nor $CIRRBENCH_DATA): using the embedded SYNTHETIC PHANTOM cohort ({data}).")
        print("Its numbers check the machinery; they are not clinical evidence.\n")
    print(f"profile: {experiment.name} ({experiment.source}); {run_options.jobs} parallel job(s)")
    summary, report = run_experiment(experiment, run_options)
    if report is None:
        print("no finished job: nothing to report")
        return 1
    from cirrbench.benchmark.data.loading import load_cohort

    figure = (
        montage(
            load_cohort(data),
            run_options.out / "figures" / "cohort_montage.png",
            title=("SYNTHETIC PHANTOM - " if is_phantom else "") + "largest liver slice per stage",
        )
        if not str(data).endswith(".csv")
        else None
    )
    print()
    print(report.main_markdown())
    out = run_options.out
    print("Where everything is:")
    print(f"  start here:             {out / 'REPORT.md'}  (or {out / 'report.html'}, every figure embedded)")
    print(f"  tables (md, tex, csv):  {out / 'tables'}")
    print(f"  figures (png, pdf):     {out / 'figures'}")
    print(f"  metrics per split:      {out / 'metrics'}")
    print(f"  predictions per job:    {out / 'predictions'}  (index.csv: which job each folder holds)")
    print(f"  split files:            {out / 'splits'}")
    print(f"  provenance:             {out / MANIFEST}")
    if figure is not None:
        print(f"  cohort montage:         {figure}")
    print(f"done in {time.time() - started:.0f} s; {summary.format().splitlines()[0]}")
    if options.check is not None:
        comparison = compare_runs(Path(options.check), out)
        print()
        print(comparison.summary())
        print(f"every cell: {comparison.write(out / 'check.csv')}")
        if comparison.outside:
            print(f"{len(comparison.outside)} cell(s) differ beyond the seed spread: not reproduced")
            return 1
    return 0 if summary.ok else 1

"""``cirrbench run CONFIG``: cohort -> validation -> split files -> job grid -> predictions -> report."""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .cohort import Cohort
from .execute import RunSummary, run_jobs
from .experiment import Experiment, build_jobs
from .paths import cache_dir
from .phantom import NOTICE, PHANTOM_VERSION, PhantomConfig, write_phantom
from .provenance import git_commit, machine, package_versions
from .report import Report, ReportSettings, build_report
from .runner import get_runner
from .splits import make_splits, read_splits, write_splits
from .store import ResultsStore
from .validate import ensure_valid

log = logging.getLogger("cirrbench")
DATA_ENV = "CIRRBENCH_DATA"


def phantom_root(patients: int, seed: int, scale: float = 1.0, jobs: int = 1, progress: bool = True) -> Path:
    """The cached phantom cohort for these settings, generated once (atomically) and reused."""
    name = f"phantom-v{PHANTOM_VERSION}-n{patients}-s{seed}" + (f"-x{scale:g}" if scale != 1.0 else "")
    root = cache_dir("phantoms") / name
    if (root / "PHANTOM.json").is_file():
        return root
    staging = root.with_name(root.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    write_phantom(staging, PhantomConfig(patients=patients, seed=seed, scale=scale, jobs=jobs), progress=progress)
    if (root / "PHANTOM.json").is_file():  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    return root


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("results")
    data: Path | None = None
    jobs: int = 1
    force: bool = False
    only: str | None = None
    skip_checks: tuple[str, ...] = ()
    device: str | None = None
    progress: bool = True
    dask: str | None = None  # scheduler address: run jobs and feature extraction on that cluster


def resolve_data(experiment: Experiment, options: RunOptions) -> tuple[Path, bool]:
    """(cohort path, is_phantom): --data, then $CIRRBENCH_DATA, then the config's root, else its phantom."""
    explicit = options.data or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None) or experiment.data.get("root")
    if explicit:
        path = Path(explicit).expanduser()
        return path, (path / "PHANTOM.json").is_file()
    phantom = experiment.data.get("phantom") or {}
    root = phantom_root(int(phantom.get("patients", 120)), int(phantom.get("seed", 0)), float(phantom.get("scale", 1.0)), options.jobs, options.progress)
    return root, True


def run_experiment(experiment: Experiment, options: RunOptions) -> tuple[RunSummary, Report | None]:
    started = time.time()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    data, is_phantom = resolve_data(experiment, options)
    if is_phantom:
        print(f"cohort: synthetic phantom at {data}\n  {NOTICE}")
    else:
        print(f"cohort: {data}")
    cohort: Cohort = ensure_valid(data, skip=options.skip_checks, include_healthy=bool(experiment.data.get("healthy", False)), jobs=options.jobs, progress=options.progress)
    fingerprint = cohort.fingerprint()

    split_sets = {}
    split_hashes = {}
    for protocol in experiment.protocols:
        options_ = dict(protocol.options)
        if protocol.name == "cv":
            options_.setdefault("seed", experiment.seed)
        written = write_splits(make_splits(cohort, protocol.name, **options_), out / "splits")
        split_sets[protocol.name] = read_splits(written, cohort)  # every runner sees the files' splits
        split_hashes[protocol.name] = {s.split_id: s.content_hash() for s in split_sets[protocol.name]}

    jobs = build_jobs(experiment, split_sets, fingerprint, options.only)
    print(f"{len(jobs)} job(s): {len(experiment.runners)} runner(s) x variants x {len(experiment.sequences)} input(s) x splits x {experiment.n_seeds} seed(s)")
    from .executors import make_executor

    executor = make_executor(options.jobs, options.dask or experiment.raw.get("dask"))
    try:
        summary = run_jobs(jobs, cohort, split_sets, out, n_jobs=options.jobs, force=options.force, device=options.device or experiment.device, progress=options.progress, executor=executor)
    finally:
        executor.close()
    print(summary.format())

    all_jobs = build_jobs(experiment, split_sets, fingerprint) if options.only else jobs
    store = ResultsStore(out)
    durations = {job.key: store.job_record(job.key).get("duration_s") for job in all_jobs if store.is_done(job.key)}
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "experiment": {"name": experiment.name, "source": experiment.source, "config": experiment.raw},
        "cohort": {"source": str(data), "phantom": is_phantom, "fingerprint": fingerprint, "scans": len(cohort), "patients": len(cohort.patients), "labels": cohort.labels.to_dict()},
        "splits": split_hashes,
        "jobs": [{"key": j.key, "label": j.label, "duration_s": durations.get(j.key), "done": j.key in durations} for j in all_jobs],
        "report": {
            "metric": experiment.main_metric,
            "reference": experiment.reference_runner,
            "bootstrap": experiment.bootstrap,
            "seed": experiment.seed,
            "reported": list(experiment.reported),
            "table_metrics": list(experiment.table_metrics),
            "compare": [list(pair) for pair in experiment.compare],
            "families": {(spec.alias or spec.name): get_runner(spec.name).family for spec in experiment.runners},
            "display_names": {(spec.alias or spec.name): (spec.alias or get_runner(spec.name).shown_as()) for spec in experiment.runners},
        },
        "versions": package_versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "run_seconds": round(time.time() - started, 1),
    }
    ResultsStore(out).write_manifest(manifest)

    report = None
    if any(entry["done"] for entry in manifest["jobs"]):
        report = build_report(out, ReportSettings.from_manifest(out))
    return summary, report

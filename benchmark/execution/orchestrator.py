"""``cirrbench run CONFIG``: cohort -> validation -> split files -> job grid -> predictions -> report."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cirrbench.benchmark.common.config_keys import default
from cirrbench.benchmark.common.kernels import KernelError, check_process, kernel_report, pin_kernels
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.common.provenance import git_commit, machine, package_versions
from cirrbench.benchmark.common.results_store import ResultsStore
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.data.perturbed_scans import erasing_problems
from cirrbench.benchmark.data.phantom import NOTICE, PHANTOM_VERSION, PhantomConfig, write_phantom
from cirrbench.benchmark.data.validate import ensure_valid
from cirrbench.benchmark.execution.experiment import ConfigError, Experiment
from cirrbench.benchmark.execution.job_execution import RunSummary, run_jobs
from cirrbench.benchmark.execution.job_grid import Job, build_jobs
from cirrbench.benchmark.execution.lock import ResultsLock
from cirrbench.benchmark.protocols.base import read_splits, write_splits
from cirrbench.benchmark.protocols.registry import get_protocol, make_splits
from cirrbench.benchmark.runners.registry import get_runner

if TYPE_CHECKING:
    from cirrbench.benchmark.reporting.report import Report

__all__ = [
    "DATA_ENV",
    "dry_run",
    "phantom_root",
    "phantom_settings",
    "Plan",
    "plan_experiment",
    "preflight",
    "resolve_data",
    "run_experiment",
    "RunOptions",
]

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
    labels: tuple[str, ...] | None = None  # declared class names (manifest and feature-table cohorts)
    ordinal: bool | None = None
    plugins: tuple[str, ...] = ()  # --plugin: files or modules every worker imports (besides the config's plugins:)
    report: bool = True  # False (--no-report): jobs only; `cirrbench report OUT` builds the report later


def resolve_data(experiment: Experiment, options: RunOptions) -> tuple[Path, bool]:
    """(cohort path, is_phantom): --data, then $CIRRBENCH_DATA, then the config's root, else its phantom."""
    explicit = (
        options.data
        or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None)
        or experiment.data.get("root")
    )
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            source = (
                "--data"
                if options.data
                else (f"${DATA_ENV}" if os.environ.get(DATA_ENV) else f"{experiment.source}: data.root")
            )
            raise FileNotFoundError(
                f"{path}: no such cohort ({source}); give a CirrMRI600+ folder, a manifest or a feature-table CSV"
            )
        return path, (path / "PHANTOM.json").is_file()
    patients, seed, scale = phantom_settings(experiment)
    return phantom_root(patients, seed, scale, options.jobs, options.progress), True


def phantom_settings(experiment: Experiment) -> tuple[int, int, float]:
    """(patients, seed, scale) of the phantom a config without ``data.root`` runs on."""
    phantom = experiment.data.get("phantom") or {}
    return (
        int(phantom.get("patients", default("data.phantom.patients"))),
        int(phantom.get("seed", default("data.phantom.seed"))),
        float(phantom.get("scale", default("data.phantom.scale"))),
    )


@dataclass
class Plan:
    """Everything decided before the first job: the cohort, split files, the job grid."""

    data: Path
    is_phantom: bool
    cohort: Cohort
    split_sets: dict
    split_hashes: dict
    jobs: list[Job]
    all_jobs: list[Job]
    fingerprint: str  # the cohort's, in every job key


def plan_experiment(experiment: Experiment, options: RunOptions) -> Plan:
    """Read and validate the cohort, make the splits, build the job grid and check everything a
    run could only discover later: every mistake stops here, before any job or file is written."""
    data, is_phantom = resolve_data(experiment, options)
    if is_phantom:
        print(f"cohort: synthetic phantom at {data}\n  {NOTICE}")
    else:
        print(f"cohort: {data}")
    labels = options.labels if options.labels is not None else experiment.data.get("labels")
    ordinal = options.ordinal if options.ordinal is not None else experiment.data.get("ordinal")
    manifest_options = {
        k: v
        for k, v in (("labels", [str(x) for x in labels] if labels is not None else None), ("ordinal", ordinal))
        if v is not None
    }
    if manifest_options and Path(data).is_dir():
        raise ConfigError(
            f"{experiment.source}: data.labels / --labels and data.ordinal / --ordinal are for manifest and feature-table cohorts; {data} is a CirrMRI600+ folder with fixed stages"
        )
    cohort: Cohort = ensure_valid(
        data,
        skip=options.skip_checks,
        include_healthy=bool(experiment.data.get("healthy", default("data.healthy"))),
        jobs=options.jobs,
        progress=options.progress,
        manifest_options=manifest_options or None,
    )
    fingerprint = cohort.fingerprint()
    split_sets, split_hashes = {}, {}
    for protocol in experiment.protocols:
        options_ = dict(protocol.options)
        if get_protocol(protocol.name).seeded:
            options_.setdefault("seed", experiment.seed)
        made = make_splits(cohort, protocol.name, **options_)
        split_sets[protocol.name] = made
        split_hashes[protocol.name] = {s.split_id: s.content_hash() for s in made}
    all_jobs = build_jobs(experiment, split_sets, fingerprint)
    jobs = build_jobs(experiment, split_sets, fingerprint, options.only) if options.only else all_jobs
    preflight(experiment, options, cohort, split_sets, all_jobs, jobs)
    return Plan(data, is_phantom, cohort, split_sets, split_hashes, jobs, all_jobs, fingerprint)


def preflight(
    experiment: Experiment, options: RunOptions, cohort: Cohort, split_sets: dict, all_jobs: list[Job], jobs: list[Job]
) -> None:
    """The mistakes that would otherwise surface job by job, after hours: all at once, now."""
    problems: list[str] = []
    source = experiment.source
    in_process = options.jobs == 1 and not (options.dask or experiment.raw.get("dask"))
    if in_process and any(job.kernels == "bitwise" for job in jobs):
        try:
            check_process("bitwise")  # jobs would run here, with the kernels this process's torch chose
        except KernelError as error:
            problems.append(f"{source}: {error}")
    if cohort.features is not None:
        needing = sorted({spec.alias or spec.name for spec in experiment.runners if get_runner(spec.name).needs_images})
        if needing:
            problems.append(
                f"{source}: runners: {', '.join(needing)} need images, and {cohort.source} is a feature table (no images); remove them, or run them on the CirrMRI600+ folder or a manifest"
            )
    for spec in experiment.runners:
        cls = get_runner(spec.name)
        for variant in spec.variants:
            for problem in cls.check_cohort(cls.make_params(spec.params, variant), cohort):
                line = (
                    f"{source}: runners: {spec.alias or spec.name}"
                    + (f" (variant {variant})" if variant != "default" else "")
                    + f": {problem}"
                )
                if line not in problems:
                    problems.append(line)
    problems += _robustness_problems(experiment, cohort, all_jobs)
    have = set(cohort.sequences)
    for input_ in experiment.inputs:
        needed = {"T1W", "T2W"} if input_ == "both" else {input_}
        if not needed <= have:
            problems.append(
                f"{source}: inputs: {input_!r} but the cohort {cohort.source} has only {', '.join(sorted(have))} scans; remove it from inputs:"
            )
    for spec in experiment.runners:
        row = spec.alias or spec.name
        if not any(j.display == row for j in all_jobs):
            problems.append(
                f"{source}: runners: {row!r} gets no job (its protocols/inputs and the cohort leave nothing to run); check its inputs: and protocols:"
            )
    if not all_jobs:
        problems.append(
            f"{source}: the job grid is empty: no runner x input x split combination exists for this cohort"
        )
    elif options.only and not jobs:
        problems.append(
            f"--only {options.only!r} matches no job; labels look like {all_jobs[0].label} (runner:variant:input:split:seed)"
        )
    device = options.device or experiment.device
    if device.startswith("cuda") or device == "mps":
        import torch

        available = torch.cuda.is_available() if device.startswith("cuda") else torch.backends.mps.is_available()
        if not available:
            problems.append(
                f"--device / device: {device!r} but this machine has no {'CUDA GPU' if device.startswith('cuda') else 'MPS device'} (torch {torch.__version__}); use cpu or auto"
            )
        elif device.startswith("cuda:") and int(device.split(":")[1]) >= torch.cuda.device_count():
            problems.append(f"--device / device: {device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    for protocol, split_set in split_sets.items():
        for split in split_set:
            for input_ in {j.input for j in all_jobs if j.protocol == protocol and j.split_id == split.split_id}:
                wanted = None if input_ == "both" else {input_}
                classes = {
                    r.label
                    for r in cohort.records
                    if split.roles.get(r.patient_id) == "train" and (wanted is None or r.sequence in wanted)
                }
                if len(classes) < 2:
                    problems.append(
                        f"split {split.split_id} ({protocol}), input {input_}: the training part has {len(classes)} class(es); no method can learn from it (too few patients per class for this protocol?)"
                    )
    if problems:
        raise ConfigError(problems)


def _robustness_problems(experiment: Experiment, cohort: Cohort, all_jobs: list[Job]) -> list[str]:
    """The robustness section against the cohort and the grid: images to perturb, runners that
    read them, and no erosion that would leave a scan without its liver mask."""
    spec, source = experiment.robustness, experiment.source
    if spec is None:
        return []
    if cohort.features is not None:
        return [
            f"{source}: robustness: {cohort.source} is a feature table; perturbations need the images (remove robustness:)"
        ]
    problems = []
    for row in spec.runners or ():
        entries = [s for s in experiment.runners if (s.alias or s.name) == row]
        if entries and not get_runner(entries[0].name).sees_images():
            problems.append(
                f"{source}: robustness.runners: {row!r} reads no images, so perturbed scans cannot change its predictions; remove it"
            )
    if not problems and not any(j.robustness for j in all_jobs):
        problems.append(
            f"{source}: robustness: no runner of protocol {spec.protocol!r} that reads images is listed; add one to robustness.runners or run one under that protocol"
        )
    if any(j.perturbations for j in all_jobs):  # every scan: a split's test scans are another's training scans
        problems += [f"{source}: {line}" for line in erasing_problems(list(cohort.records), spec.keyed())]
    return problems


def dry_run(experiment: Experiment, options: RunOptions) -> str:
    """The job grid, per runner: how many jobs, how many already done; nothing is run or written."""
    plan = plan_experiment(experiment, options)
    store = ResultsStore(options.out)
    counts: dict[str, list[int]] = {}
    for job in plan.jobs:
        entry = counts.setdefault(job.display, [0, 0])
        entry[0] += 1
        entry[1] += store.is_done(job.key) and not options.force
    from cirrbench.benchmark.execution.cost import estimate_hours, find_throughput
    from cirrbench.benchmark.execution.job_execution import job_data

    throughput = find_throughput(Path(options.out) / "perf" / "training.json")
    todo = [job for job in plan.jobs if options.force or not store.is_done(job.key)]

    def parts(job: Job) -> tuple:
        data = job_data(job, plan.cohort, plan.split_sets)
        return data.train, data.valid, data.test

    hours = estimate_hours(todo, parts, throughput) if throughput is not None else {}
    width = max(len(name) for name in counts)
    lines = [f"{'runner':{width}s}  jobs  done  to run" + ("  est. hours" if hours else "")]
    lines += [
        f"{name:{width}s}  {total:4d}  {done:4d}  {total - done:6d}"
        + (f"  {hours[name]:10.1f}" if name in hours else "")
        for name, (total, done) in counts.items()
    ]
    total, done = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    lines.append(
        f"{'total':{width}s}  {total:4d}  {done:4d}  {total - done:6d}"
        + (f"  {sum(hours.values()):10.1f}" if hours else "")
    )
    if hours and throughput is not None:
        lines.append(
            f"est. hours: deep jobs still to run, at {throughput.describe()}, scaled by pixels per slice; an upper "
            "bound on the work (every epoch, no early stop; 45 liver slices per scan assumed); other backbones differ "
            "from the measured one: run `cirrbench perf training --device cuda` on the machine that will train"
        )
    if note := _cohort_change_note(store.read_manifest(), plan.cohort, plan.fingerprint):
        lines.append(note)
    lines.append(
        f"dry run: nothing was run or written ({options.out}); splits: {', '.join(f'{p} {len(s)}' for p, s in plan.split_sets.items())}"
    )
    return "\n".join(lines)


def run_experiment(experiment: Experiment, options: RunOptions) -> tuple[RunSummary, Report | None]:
    """Plan (every check first), run the jobs, write the manifest, report. One run per results
    folder at a time (:class:`cirrbench.benchmark.execution.lock.ResultsLock`)."""
    started = time.time()
    pin_kernels(experiment.reproducible)  # before any worker process starts (validation's too): they inherit it
    plan = plan_experiment(experiment, options)  # every check first: a mistake writes nothing
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with ResultsLock(out):
        return _run_locked(experiment, options, out, plan, started)


def _run_locked(
    experiment: Experiment, options: RunOptions, out: Path, plan: Plan, started: float
) -> tuple[RunSummary, Report | None]:
    cohort = plan.cohort
    split_sets = {
        name: read_splits(write_splits(made, out / "splits"), cohort) for name, made in plan.split_sets.items()
    }  # every runner sees the files' splits
    fingerprint = plan.fingerprint
    all_jobs = build_jobs(experiment, split_sets, fingerprint)
    jobs = build_jobs(experiment, split_sets, fingerprint, options.only) if options.only else all_jobs
    print(
        f"{len(jobs)} job(s): {len(experiment.runners)} runner(s) x variants x {len(experiment.inputs)} input(s) x splits x {_seed_range(experiment)} seed(s)"
    )
    store = ResultsStore(out)
    previous = store.read_manifest()  # the folder's last run (the lock keeps others out until this one ends)
    if note := _cohort_change_note(previous, cohort, fingerprint):
        print(note)
    from cirrbench.benchmark.execution.executors import make_executor

    executor = make_executor(options.jobs, options.dask or experiment.raw.get("dask"))
    try:
        plugins = tuple(dict.fromkeys(experiment.plugins + options.plugins))
        summary = run_jobs(
            jobs,
            cohort,
            split_sets,
            out,
            n_jobs=options.jobs,
            force=options.force,
            device=options.device or experiment.device,
            progress=options.progress,
            executor=executor,
            plugins=plugins,
        )
    finally:
        executor.close()
    print(summary.format())

    manifest = _manifest(experiment, options, plan, store, all_jobs, fingerprint, started)
    if previous is None or _unchanged(previous) != _unchanged(manifest):
        store.write_manifest(manifest)  # else kept: the same run, so the report's provenance stays true
    store.write_index([entry["key"] for entry in manifest["jobs"] if entry["done"]])

    report = None
    if options.report and any(entry["done"] for entry in manifest["jobs"]):
        # imported here: the report's plotting and statistics libraries are a second of every
        # start-up, and workers and --no-report runs never draw
        from cirrbench.benchmark.reporting.report import ReportSettings, build_report

        report = build_report(out, ReportSettings.from_manifest(out), reuse=not options.force, jobs=options.jobs)
        if report.reused:
            print(
                f"report: up to date, nothing it reads changed ({len(report.files)} files kept; "
                f"`cirrbench report {out}` rebuilds it)"
            )
    return summary, report


def _cohort_change_note(previous: dict | None, cohort: Cohort, fingerprint: str) -> str | None:
    """Why none of the folder's finished jobs is reused, when the cohort is the reason: every job's
    key holds the cohort's fingerprint, so a changed cohort reruns them all, which without a word
    looks like a lost cache (for a GPU profile, hours)."""
    before = (previous or {}).get("cohort", {})
    finished = sum(1 for job in (previous or {}).get("jobs", []) if job.get("done"))
    if not finished or before.get("fingerprint") in (None, fingerprint):
        return None
    if before.get("index_fingerprint") == cohort.index_fingerprint():
        return (
            f"note: the {finished} finished job(s) in this folder were run on the same scans, labels and splits, but "
            "the scan files have since been rewritten, regenerated or copied (their sizes or modification times "
            "differ; the cohort's fingerprint includes them instead of reading every image), so they run again. "
            "A copy made with cp -p or rsync -a keeps the times, and the jobs."
        )
    return (
        f"note: the cohort changed since this folder's last run (a label, split, scan or file; fingerprint "
        f"{before['fingerprint']} -> {fingerprint}), so none of its {finished} finished job(s) is reused: the "
        "jobs run on the cohort as it is now."
    )


def _unchanged(manifest: dict) -> str:
    """A manifest without its times: two runs that changed nothing have the same."""
    return json.dumps(
        {k: v for k, v in manifest.items() if k not in ("created", "run_seconds")}, sort_keys=True, default=str
    )


def _manifest(
    experiment: Experiment,
    options: RunOptions,
    plan: Plan,
    store: ResultsStore,
    all_jobs: list[Job],
    fingerprint: str,
    started: float,
) -> dict:
    """What made this results folder: config, cohort, splits, jobs, how to report, versions, machine."""
    durations = {job.key: store.job_record(job.key).get("duration_s") for job in all_jobs if store.is_done(job.key)}
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "experiment": {
            "name": experiment.name,
            "source": experiment.source,
            "config": experiment.raw,
            "plugins": list(dict.fromkeys(experiment.plugins + options.plugins)),
        },
        "cohort": {
            "source": str(plan.data),
            "phantom": plan.is_phantom,
            "fingerprint": fingerprint,
            "index_fingerprint": plan.cohort.index_fingerprint(),
            "scans": len(plan.cohort),
            "patients": len(plan.cohort.patients),
            "labels": plan.cohort.labels.to_dict(),
        },
        "splits": plan.split_hashes,
        "jobs": [
            {"key": j.key, "label": j.label, "duration_s": durations.get(j.key), "done": j.key in durations}
            for j in all_jobs
        ],
        "report": {
            "metric": experiment.main_metric,
            "reference": experiment.reference_runner,
            "bootstrap": experiment.bootstrap,
            "seed": experiment.seed,
            "reported": list(experiment.reported),
            "table_metrics": list(experiment.table_metrics),
            "secondary_metrics": list(experiment.secondary_metrics),
            "compare": [list(pair) for pair in experiment.compare],
            "figure_formats": list(experiment.figure_formats),
            "figure_dpi": experiment.figure_dpi,
            "families": {(spec.alias or spec.name): get_runner(spec.name).family for spec in experiment.runners},
            "display_names": {
                (spec.alias or spec.name): (
                    spec.alias or get_runner(spec.name).shown_as(get_runner(spec.name).make_params(spec.params))
                )
                for spec in experiment.runners
            },
        },
        "versions": package_versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "kernels": kernel_report(experiment.reproducible, options.device or experiment.device),
        "run_seconds": round(time.time() - started, 1),
    }


def _seed_range(experiment: Experiment) -> str:
    """``3`` or ``1-3``: the training seeds per split over the config's runners."""
    counts = sorted({spec.seeds or experiment.n_seeds for spec in experiment.runners})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"

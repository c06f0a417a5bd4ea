"""Running jobs: cached by key, written atomically, failures recorded and never cached.

Where each file goes is :mod:`cirrbench.benchmark.common.results_store`'s business; this module decides which jobs run,
hands each runner its data (test labels hidden), checks what it returns and records the outcome.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.decision import decide, row_keys
from cirrbench.benchmark.common.kernels import check_process, configure_torch, kernel_report
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.common.provenance import package_versions
from cirrbench.benchmark.common.results_store import OUTPUTS, PERTURBED_PREDICTIONS, PREDICTIONS, ResultsStore
from cirrbench.benchmark.common.stopping import STOP_REQUESTED, stop_signals
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.data.perturbed_scans import perturbed_record
from cirrbench.benchmark.execution.experiment import BOTH
from cirrbench.benchmark.execution.job_grid import Job
from cirrbench.benchmark.protocols.base import SplitSet
from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
from cirrbench.benchmark.runners.registry import get_runner

__all__ = [
    "default_jobs",
    "run_device",
    "is_done",
    "job_data",
    "job_dir",
    "JobData",
    "load_predictions",
    "prepare_runners",
    "run_job",
    "run_jobs",
    "RunSummary",
    "WorkerLostError",
]

log = logging.getLogger("cirrbench")


@dataclass
class JobData:
    train: ScanSet
    valid: ScanSet
    test: ScanSet  # with labels; hidden before the runner sees it


class WorkerLostError(RuntimeError):
    """A local worker process died mid-job (SIGKILL, out of memory); finished jobs are on disk."""


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # label -> last line of the error
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def format(self) -> str:
        lines = [f"jobs: {len(self.ran)} ran, {len(self.skipped)} already done, {len(self.failed)} failed"]
        for label, error in self.failed.items():
            lines.append(f"  FAILED {label}: {error}")
        if self.failed:
            lines.append("  tracebacks: <results>/failures/<key>.json; failed jobs are retried on the next run")
        return "\n".join(lines)


def job_dir(out: Path, job: Job) -> Path:
    return ResultsStore(out).job_dir(job.key)


def is_done(out: Path, job: Job) -> bool:
    return ResultsStore(out).is_done(job.key)


def job_data(job: Job, cohort: Cohort, split_sets: dict[str, SplitSet]) -> JobData:
    split = split_sets[job.protocol].by_id()[job.split_id]
    wanted = None if job.input == BOTH else {job.input}
    parts: dict[str, list] = {"train": [], "valid": [], "test": []}
    for record in cohort.records:
        if wanted is not None and record.sequence not in wanted:
            continue
        role = split.roles.get(record.patient_id)
        if role in parts:
            parts[role].append(record)

    def features(records: list) -> pd.DataFrame | None:
        return cohort.features.loc[[r.scan_id for r in records]] if cohort.features is not None else None

    sets = {role: ScanSet(tuple(records), cohort.labels, features=features(records)) for role, records in parts.items()}
    return JobData(sets["train"], sets["valid"], sets["test"])


def _patient_counts(data: JobData, uses_validation: str) -> dict[str, int]:
    """Patients per part, and ``n_fit``: those the runner fitted on (train, plus valid for a runner
    that trains on it), the Nadeau-Bengio ratio's denominator."""
    counts = {
        f"n_{role}": len({r.patient_id for r in part})
        for role, part in (("train", data.train), ("valid", data.valid), ("test", data.test))
    }
    counts["n_fit"] = counts["n_train"] + (counts["n_valid"] if uses_validation == "training" else 0)
    return counts


def _model_choice_frame(
    job: Job, cls: type[Runner], runner: Runner, data: JobData, predictions: Predictions
) -> pd.DataFrame | None:
    """Held-out predictions for choosing among methods without test data: the runner's own
    out-of-fold predictions when it trained on the validation part, else its predictions of the
    validation part (after the test predictions, so these never change)."""
    labelled = ScanSet(data.train.records + data.valid.records, data.train.labels)
    if cls.uses_validation == "training":
        if predictions.held_out is None:
            return None
        unknown = set(predictions.held_out.index) - set(labelled.scan_ids)
        if unknown:
            raise ValueError(f"held-out predictions for scans the runner did not learn from: {sorted(unknown)[:5]}")
        scans = ScanSet(tuple(r for r in labelled if r.scan_id in set(predictions.held_out.index)), labelled.labels)
        held = type(predictions)(predictions.held_out)
        frame, source = _predictions_frame(job, scans, held), "inner CV, out of fold"
    elif len(data.valid):
        valid = data.valid.hide_labels()
        valid_predictions = runner.predict(valid)
        valid_predictions.validate(valid)
        frame, source = _predictions_frame(job, data.valid, valid_predictions), "validation part"
    else:
        return None
    frame["choice_source"] = source
    return frame


def _predictions_frame(job: Job, scans: ScanSet, predictions) -> pd.DataFrame:
    """One row per scan of ``scans`` (with its true label, which the runner never saw)."""
    labels = scans.labels
    probs = predictions.scan_probabilities.loc[scans.scan_ids]
    frame = pd.DataFrame(
        {
            "scan_id": [r.scan_id for r in scans],
            "patient_id": [r.patient_id for r in scans],
            "sequence": [r.sequence for r in scans],
            "true_label": [r.label for r in scans],
        }
    )
    for name in labels.names:
        frame[f"prob_{name}"] = probs[name].to_numpy(dtype=float)
    frame["pred_label"] = decide(probs.to_numpy(dtype=float), row_keys(frame))
    frame["runner"] = job.display
    frame["variant"] = job.variant
    frame["input"] = job.input
    frame["protocol"] = job.protocol
    frame["split_id"] = job.split_id
    frame["seed_index"] = job.seed_index
    frame["seed"] = job.seed
    return frame


def _perturbed_frame(job: Job, runner: Runner, test: ScanSet) -> pd.DataFrame:
    """The fitted runner's predictions of each perturbed copy of the test scans (labels hidden),
    one block per perturbation and level, with the clean file's columns plus ``perturbation`` and
    ``level``. The copies are made by the harness, the same for every runner."""
    frames = []
    for perturbation in job.perturbations:
        perturbed = ScanSet(tuple(perturbed_record(r, perturbation) for r in test.records), test.labels)
        hidden = perturbed.hide_labels()
        predictions = runner.predict(hidden)
        predictions.validate(hidden)
        frame = _predictions_frame(job, perturbed, predictions)
        frame.insert(0, "level", perturbation.level)
        frame.insert(0, "perturbation", perturbation.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def default_jobs(device: str, runners: Iterable[str] | None = None) -> int:
    """Parallel jobs when the user gives none: every usable core on a CPU; one on a GPU, where
    parallel trainings would share (and exhaust) its memory. ``runners``: the run's runner names,
    when known (:func:`run_device`)."""
    if (run_device(device, runners) if runners is not None else _resolve_device(device)) != "cpu":
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def run_device(device: str, runners: Iterable[str]) -> str:
    """The device a run of ``runners`` computes on: "cpu" when none of them uses a device (no
    need to resolve ``auto``, an import of torch), else ``device`` resolved."""
    return _resolve_device(device) if any(get_runner(name).uses_device for name in runners) else "cpu"


def _device_for(cls: type[Runner], device: str) -> str:
    """The device a runner's context names: "cpu" for one that computes on no device, which
    spares resolving ``auto`` (an import of torch)."""
    return _resolve_device(device) if cls.uses_device else "cpu"


def _prepared_runner(
    job: Job, store: ResultsStore, device: str, show_progress: bool, runner_module: str | None, plugins: tuple[str, ...]
) -> tuple[type[Runner], Runner, RunContext]:
    """The job's runner class, a fresh instance with its parameters, and its context, in a process
    whose plugins are imported, float kernels checked and global seeds set."""
    if plugins:
        from cirrbench.benchmark.runners.plugins import load_plugins

        load_plugins(plugins)
    cls = get_runner(job.runner, runner_module)  # imports torch (deep runners) with this process's pins
    if job.kernels:
        check_process(job.kernels)  # a worker started without the pins (a remote Dask worker) fails here
    params = cls.make_params(job.params, "default")  # job.params already holds the variant's values
    context = RunContext(
        seed=job.seed,
        device=_device_for(cls, device),
        cache_dir=cache_dir("runners", job.runner),
        logger=logging.getLogger(f"cirrbench.runner.{job.runner}"),
        show_progress=show_progress,
        work_dir=store.work_dir(job.key),
        perturbations=job.perturbations if cls.uses_perturbations(params) else (),
    )
    if job.kernels:
        configure_torch(job.kernels, context.device)
    np.random.seed(job.seed % (2**32))  # for third-party code that uses the global state
    return cls, cls(params), context


def run_job(
    job: Job,
    data: JobData,
    out: Path,
    device: str = "cpu",
    show_progress: bool = False,
    runner_module: str | None = None,
    replace: bool = False,
    plugins: tuple[str, ...] = (),
) -> tuple[str, float, str | None]:
    """Fit, predict, check, write. Returns (label, seconds, error or None); never raises.

    The fitted runner also predicts the validation part (labels hidden, after the test
    predictions): the harness scores it to choose a family's best method without looking at test.
    ``replace`` swaps a finished folder for the new one once the new one is complete (``--force``).
    ``plugins`` are imported first (a fresh worker process has not imported them).
    """
    started = time.time()
    store = ResultsStore(out)
    try:
        cls, runner, context = _prepared_runner(job, store, device, show_progress, runner_module, plugins)
        with warnings.catch_warnings(record=True) as caught:  # library warnings go to the job's log, not the console
            warnings.simplefilter("always")
            runner.fit(data.train, data.valid, context)
            test = data.test.hide_labels()
            predictions = runner.predict(test)
            predictions.validate(test)
            frame = _predictions_frame(job, data.test, predictions)
            files = {"predictions.csv": frame.to_csv(index=False)}
            choice = _model_choice_frame(job, cls, runner, data, predictions)
            if choice is not None:
                files["model_choice.csv"] = choice.to_csv(index=False)
            if job.robustness:
                files[PERTURBED_PREDICTIONS] = _perturbed_frame(job, runner, data.test).to_csv(index=False)
        if caught:
            files["warnings.log"] = _warnings_log(caught)
        duration = time.time() - started
        if predictions.slice_probabilities is not None:
            files["slices.csv"] = predictions.slice_probabilities.to_csv(index=False)
        for name, extra in predictions.extras.items():
            files[f"extra_{name}.csv"] = extra.to_csv(index=False)
        binary = {"arrays.npz": ResultsStore.arrays_bytes(predictions.arrays)} if predictions.arrays else {}
        binary.update({f"{OUTPUTS}/{name}": data for name, data in predictions.files.items()})
        record = {
            **job.to_dict(),
            **_patient_counts(data, cls.uses_validation),
            "labels": data.test.labels.to_dict(),
            "status": "ok",
            "started": started,
            "duration_s": round(duration, 3),
            "versions": package_versions(),
            "device": context.device,
            **({"kernels": kernel_report(job.kernels, context.device)} if job.kernels else {}),
        }
        files["job.json"] = json.dumps(record, indent=2, default=str)
        store.write_job(job.key, files, binary, replace=replace)
        store.clear_failure(job.key)
        store.clear_work(job.key)  # done: nothing left to resume
        return job.label, duration, None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # recorded, never cached, does not stop the other jobs
        if isinstance(exc, KeyboardInterrupt) and STOP_REQUESTED.is_set():
            raise  # Ctrl-C stops the run; a runner's own KeyboardInterrupt is only its job's failure
        duration = time.time() - started
        payload = {
            **job.to_dict(),
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "duration_s": round(duration, 3),
        }
        store.write_failure(job.key, payload)
        return job.label, duration, f"{type(exc).__name__}: {exc}"


def _warnings_log(caught: list) -> str:
    """Each distinct warning once, with how often it occurred."""
    counts: dict[str, int] = {}
    for w in caught:
        line = f"{w.category.__name__}: {str(w.message).strip()} ({Path(w.filename).name}:{w.lineno})"
        counts[line] = counts.get(line, 0) + 1
    return "".join(f"{n} x {line}\n" for line, n in counts.items())


def prepare_runners(jobs: list[Job], cohort: Cohort, threads: int, device: str, progress: bool, executor=None) -> None:
    """Call each runner's label-free ``prepare`` once per distinct parameter set, on every scan."""
    seen: set[str] = set()
    scans = ScanSet(cohort.records, cohort.labels, features=cohort.features).hide_labels()
    for job in jobs:
        marker = json.dumps([job.runner, job.params], sort_keys=True, default=str)
        if marker in seen:
            continue
        seen.add(marker)
        cls = get_runner(job.runner)
        context = RunContext(
            seed=0,
            device=_device_for(cls, device),
            cache_dir=cache_dir("runners", job.runner),
            threads=threads,
            show_progress=progress,
            executor=executor,
        )
        cls.prepare(scans, cls.make_params(job.params), context)


def run_jobs(
    jobs: list[Job],
    cohort: Cohort,
    split_sets: dict[str, SplitSet],
    out: Path,
    n_jobs: int = 1,
    force: bool = False,
    device: str = "auto",
    progress: bool = True,
    executor=None,
    plugins: tuple[str, ...] = (),
) -> RunSummary:
    """Run every job not yet done (all selected ones with ``force``): locally with joblib, or on
    the given executor (e.g. :class:`cirrbench.benchmark.execution.executors.DaskExecutor`)."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError
    from tqdm.auto import tqdm

    from cirrbench.benchmark.execution.executors import LocalExecutor

    out = Path(out)
    store = ResultsStore(out)
    store.clean_partials()
    summary = RunSummary()
    todo = []
    for job in jobs:
        if store.is_done(job.key) and not force:
            summary.skipped.append(job.label)
        else:
            todo.append(job)  # with --force a finished folder is replaced only once its successor is complete
    executor = executor or LocalExecutor(n_jobs)
    if not executor.distributed:
        # Resolved here, once: each local worker would otherwise import torch to resolve "auto".
        # A cluster's workers resolve it on their own machines.
        device = run_device(device, {job.runner for job in todo})
    prepare_runners(todo, cohort, n_jobs, device, progress, executor)
    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress or not todo)
    tasks = [
        (
            job,
            job_data(job, cohort, split_sets),
            out,
            device,
            progress and executor.workers == 1,
            get_runner(job.runner).__module__,
            force,
            plugins,
        )
        for job in todo
    ]
    with stop_signals():
        try:
            for label, seconds, error in executor.map_unordered(run_job, tasks):
                summary.durations[label] = seconds
                if error is None:
                    summary.ran.append(label)
                else:
                    summary.failed[label] = error
                    log.error("job %s failed: %s", label, error)
                bar.update()
        except TerminatedWorkerError as exc:
            raise WorkerLostError(
                f"a worker process died while running jobs (killed by the operating system, often for lack of memory); "
                f"the {len(summary.ran)} job(s) finished in this run are kept in {out / PREDICTIONS}. Rerun with fewer --jobs (e.g. --jobs 1) to resume"
            ) from exc
        finally:
            bar.close()
    return summary


def load_predictions(out: Path) -> tuple[pd.DataFrame, list[dict]]:
    """Every finished job's test predictions, concatenated, and the job records."""
    return ResultsStore(out).load_predictions()

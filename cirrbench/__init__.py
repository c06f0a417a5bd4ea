"""cirrbench: does deep learning beat radiomics at staging liver cirrhosis on MRI?

The Python API. Everything the command line does is a call here::

    import cirrbench

    cohort = cirrbench.load_cohort("/data/CirrMRI600")         # or a manifest / feature-table CSV
    report = cirrbench.validate_cohort(cohort.source)            # every problem, one line each
    experiment = cirrbench.load_experiment("tiny")               # a shipped profile, a YAML file, or a dict
    summary, report = cirrbench.run(experiment, out="results")   # jobs, then every table and figure
    print(report.verdict[0])

A new method is one class: subclass :class:`Runner`, decorate it with :func:`register_runner`,
and check it with :func:`check_runner`; :func:`load_plugin` makes a local file's runners
available without packaging them. The folders ``benchmark/``, ``baselines/`` and ``models/`` of
the repository are ``cirrbench.benchmark``, ``cirrbench.baselines`` and ``cirrbench.models``.
"""

from __future__ import annotations

import os
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("cirrbench")
except PackageNotFoundError:  # a source tree without installation
    __version__ = "0+unknown"

from cirrbench.benchmark.common.kernels import pin_kernels

# Before anything imports torch: deep jobs run on pinned float kernels (reproducible: bitwise, the
# default), so they give the same bytes on any AVX2 CPU. CIRRBENCH_REPRODUCIBLE=fast leaves the
# environment alone; a process that imported torch before cirrbench is refused a bitwise run.
if os.environ.get("CIRRBENCH_REPRODUCIBLE", "bitwise") != "fast":
    pin_kernels("bitwise")

#: Where each class and function of the API lives. They are imported on first use (PEP 562), not
#: here: every process imports this package, the command line and each worker included, and their
#: libraries (pandas, scikit-learn, SciPy, matplotlib) took a second of each one's start.
_LAZY = {
    "Cohort": "cirrbench.benchmark.data.cohort",
    "ScanRecord": "cirrbench.benchmark.data.cohort",
    "LabelSet": "cirrbench.benchmark.data.labels",
    "ConfigError": "cirrbench.benchmark.execution.experiment",
    "Experiment": "cirrbench.benchmark.execution.experiment",
    "RunOptions": "cirrbench.benchmark.execution.orchestrator",
    "check_runner": "cirrbench.benchmark.runners.check",
    "Predictions": "cirrbench.benchmark.runners.contract",
    "RunContext": "cirrbench.benchmark.runners.contract",
    "Runner": "cirrbench.benchmark.runners.contract",
    "ScanSet": "cirrbench.benchmark.runners.contract",
    "load_plugin": "cirrbench.benchmark.runners.plugins",
    "available_runners": "cirrbench.benchmark.runners.registry",
    "get_runner": "cirrbench.benchmark.runners.registry",
    "register_runner": "cirrbench.benchmark.runners.registry",
    "Report": "cirrbench.benchmark.reporting.report",
}

if TYPE_CHECKING:
    from cirrbench.benchmark.data.cohort import Cohort, ScanRecord
    from cirrbench.benchmark.data.labels import LabelSet
    from cirrbench.benchmark.execution.experiment import ConfigError, Experiment
    from cirrbench.benchmark.execution.orchestrator import RunOptions
    from cirrbench.benchmark.reporting.report import Report
    from cirrbench.benchmark.runners.check import check_runner
    from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
    from cirrbench.benchmark.runners.plugins import load_plugin
    from cirrbench.benchmark.runners.registry import available_runners, get_runner, register_runner

__all__ = [
    "__version__",
    # the runner contract
    "Runner",
    "Predictions",
    "RunContext",
    "ScanSet",
    "register_runner",
    "get_runner",
    "available_runners",
    "check_runner",
    "load_plugin",
    "pin_kernels",
    # cohorts
    "Cohort",
    "ScanRecord",
    "LabelSet",
    "load_cohort",
    "validate_cohort",
    # experiments and results
    "Experiment",
    "ConfigError",
    "RunOptions",
    "Report",
    "load_experiment",
    "run",
    "report",
    "score_predictions",
]


def load_cohort(
    path: str | Path, labels: list[str] | None = None, ordinal: bool | None = None, healthy: bool = False
) -> Cohort:
    """Index a cohort without reading the images.

    Args:
        path: a CirrMRI600+ folder, a manifest CSV or a feature-table CSV.
        labels: class names in order (manifest and feature-table cohorts; required for numeric labels).
        ordinal: whether the classes are ordered.
        healthy: include the healthy volunteers of a CirrMRI600+ folder as a fourth class.

    Returns:
        The cohort: its scan records, label set and, for a feature table, the features.
    """
    from cirrbench.benchmark.data.loading import load_cohort as _load

    options = {k: v for k, v in (("labels", labels), ("ordinal", ordinal)) if v is not None}
    return _load(path, include_healthy=healthy, **options)


def validate_cohort(path: str | Path, skip: tuple[str, ...] = (), jobs: int = 1, **options: Any):
    """Read every file and check everything (``cirrbench data validate``).

    Args:
        path: the cohort (as :func:`load_cohort`).
        skip: names of checks not to run (``cirrbench data validate --list-checks``).
        jobs: processes reading files in parallel.
        options: ``labels``/``ordinal`` for manifest and feature-table cohorts.

    Returns:
        A validation report: ``.ok``, ``.problems`` (each names the file, the check and the fix),
        ``.format()``.
    """
    from cirrbench.benchmark.data.validate import validate

    return validate(path, skip=skip, jobs=jobs, progress=False, manifest_options=options or None)


def load_experiment(config: str | Path | dict, overrides: tuple[str, ...] = ()) -> Experiment:
    """An experiment, checked as a whole (every problem in one :class:`ConfigError`).

    Args:
        config: a YAML file, the name of a shipped profile (``tiny``, ``cpu``, ``paper``), or the
            config as a dict (the same keys as the YAML; see docs/config.md).
        overrides: ``KEY=VALUE`` strings, as ``--set`` on the command line.

    Returns:
        The experiment: runners, protocols, inputs, seeds, metrics, declared comparisons.
    """
    from cirrbench.benchmark.execution.experiment import apply_overrides, parse_experiment
    from cirrbench.benchmark.execution.experiment import load_experiment as _load

    if isinstance(config, dict):
        raw = apply_overrides(config, overrides, "<dict>") if overrides else config
        return parse_experiment(raw, "<dict>")
    return _load(config, overrides)


def run(
    experiment: Experiment,
    out: str | Path = "results",
    data: str | Path | None = None,
    jobs: int | None = None,
    progress: bool = False,
    **options: Any,
):
    """Run an experiment's job grid and build every table, figure and the report page.

    Args:
        experiment: from :func:`load_experiment`.
        out: the results folder (finished jobs in it are reused).
        data: the cohort; default: the experiment's ``data:``, ``$CIRRBENCH_DATA``, else its phantom.
        jobs: parallel processes (default: every core on a CPU, one on a GPU).
        progress: show progress bars.
        options: further :class:`RunOptions` fields (``force``, ``only``, ``device``, ``dask``, ...).

    Returns:
        ``(summary, report)``: which jobs ran, were reused or failed; the report (None when no
        job finished), whose ``verdict`` holds the verdict in words.
    """
    from cirrbench.benchmark.execution.job_execution import default_jobs
    from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

    count = jobs or default_jobs(options.get("device") or experiment.device, [r.name for r in experiment.runners])
    return run_experiment(
        experiment,
        RunOptions(out=Path(out), data=Path(data) if data else None, jobs=count, progress=progress, **options),
    )


def report(results: str | Path) -> Report:
    """Rebuild every table, figure and the page of a results folder from its prediction files.

    Args:
        results: a results folder written by :func:`run` or ``cirrbench run``.

    Returns:
        The report: tables, files written, the summary frame and the verdict in words.
    """
    from cirrbench.benchmark.reporting.report import build_report

    return build_report(results)


def score_predictions(
    predictions: str | Path,
    cohort: str | Path | Cohort,
    level: str = "patient",
    compare: str | Path | None = None,
    split: str = "test",
    n_boot: int = 2000,
    seed: int = 0,
    names: tuple[str, ...] = (),
):
    """Score a prediction file as the report scores the suite's own (``cirrbench score``).

    Args:
        predictions: CSV with ``scan_id`` and one probability column per class.
        cohort: the labelled cohort (a path or a :class:`Cohort`).
        level: ``patient`` (mean of a patient's scans) or ``scan``.
        compare: a second prediction file on the same scans, for the paired test.
        split: the cohort's official split the file must cover (``any``: no completeness check).
        n_boot: bootstrap resamples; seed: their seed.
        names: what to call the file and the ``compare`` file in ``.text`` (default: the job label
            of the suite's own files, else the path).

    Returns:
        A result with ``.table`` (metric, value, low, high, and the comparison's columns) and ``.text``.
    """
    from cirrbench.benchmark.data.cohort import Cohort
    from cirrbench.benchmark.reporting.score import score_file

    loaded = cohort if isinstance(cohort, Cohort) else load_cohort(cohort)
    return score_file(
        predictions, loaded, level=level, compare=compare, split=split, n_boot=n_boot, seed=seed, names=names
    )


def __getattr__(name: str) -> Any:
    """An API name of :data:`_LAZY`, imported on first use and kept."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cirrbench' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

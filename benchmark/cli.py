"""The ``cirrbench`` command line. Every subcommand has ``--help``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from cirrbench.benchmark import __version__

__all__ = ["build_parser", "load_cli_plugins", "main", "run_options_from_args", "UsageError"]


def _add_cohort_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        nargs="?",
        default=None,
        help="CirrMRI600+ root folder, manifest or feature-table .csv (default: $CIRRBENCH_DATA)",
    )
    parser.add_argument(
        "--healthy", action="store_true", help="include the healthy volunteers (a fourth class, 'healthy')"
    )
    _add_label_options(parser)


def _add_label_options(parser: argparse.ArgumentParser) -> None:
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


def _cohort_path(args: argparse.Namespace) -> Path:
    """The cohort a data command reads: PATH, else $CIRRBENCH_DATA."""
    import os

    path = args.path or (Path(os.environ["CIRRBENCH_DATA"]) if os.environ.get("CIRRBENCH_DATA") else None)
    if path is None:
        raise UsageError(
            "give the cohort: PATH (a CirrMRI600+ folder, a manifest or a feature-table CSV), or set $CIRRBENCH_DATA"
        )
    return Path(path)


def _label_options(args: argparse.Namespace) -> dict:
    options = {}
    if getattr(args, "labels", None):
        options["labels"] = [name.strip() for name in args.labels.split(",")]
    if getattr(args, "ordinal", None) is not None:
        options["ordinal"] = args.ordinal
    return options


def _load(args: argparse.Namespace):
    from cirrbench.benchmark.data.cohort import load_cohort

    return load_cohort(_cohort_path(args), include_healthy=getattr(args, "healthy", False), **_label_options(args))


class UsageError(ValueError):
    """A command line that cannot be run as given (exit 2)."""


def _run_parent() -> argparse.ArgumentParser:
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
    parent.add_argument(
        "--plugin",
        action="append",
        metavar="PATH_OR_MODULE",
        help="import a .py file or module whose decorated runners then register (repeatable; worker processes import it too)",
    )
    _add_label_options(parent)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parent


def _cmd_validate(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.problems import CHECKS
    from cirrbench.benchmark.data.validate import validate

    if args.list_checks:
        for name, text in CHECKS.items():
            print(f"{name:20s} {text}")
        return 0
    report = validate(
        _cohort_path(args),
        include_healthy=args.healthy,
        skip=args.skip_check or (),
        jobs=args.jobs,
        use_cache=not args.no_cache,
        progress=not args.quiet,
        manifest_options=_label_options(args) or None,
    )
    print(report.format())
    return 0 if report.ok else 1


def _cmd_info(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.info import count_table, format_info, summary

    cohort = _load(args)
    if args.json:
        payload = summary(cohort)
        payload["counts"] = {f"{seq}/{split}": row.to_dict() for (seq, split), row in count_table(cohort).iterrows()}
        print(json.dumps(payload, indent=2, default=int))
    else:
        print(format_info(cohort))
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.phantom import NOTICE, PhantomConfig, write_phantom

    config = PhantomConfig(
        patients=args.patients, seed=args.seed, healthy=args.healthy_subjects, scale=args.scale, jobs=args.jobs
    )
    out = write_phantom(args.out, config, progress=not args.quiet)
    print(f"wrote a phantom cohort of {args.patients} patients (seed {args.seed}) to {out}")
    print(NOTICE)
    return 0


def _cmd_montage(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.montage import montage

    cohort = _load(args)
    out = montage(cohort, args.out, per_stage=args.per_stage, title=args.title, seed=args.seed)
    print(f"wrote {out}")
    return 0


def _cmd_manifest(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.cohort import write_manifest

    out = write_manifest(_load(args), args.out)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cirrbench",
        description="Benchmark liver-cirrhosis staging on MRI: radiomics vs deep learning on identical patient-grouped splits.",
    )
    parser.add_argument("--version", action="version", version=f"cirrbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    data = commands.add_parser(
        "data", help="cohort tools: validate, info, phantom, montage, manifest", description="Cohort tools."
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")

    p = data_commands.add_parser(
        "validate",
        help="read every file and report every problem (exit 1 if any)",
        description="Read every image, mask and metadata file; print one line per problem naming the file and the fix. Exit 0 when clean, 1 otherwise.",
    )
    p.add_argument(
        "path",
        type=Path,
        nargs="?",
        help="CirrMRI600+ root folder, manifest or feature-table .csv (default: $CIRRBENCH_DATA)",
    )
    p.add_argument("--healthy", action="store_true", help="also check the healthy volunteers")
    _add_label_options(p)
    p.add_argument(
        "--skip-check",
        action="append",
        metavar="CHECK",
        help="do not run this check (repeatable; 'all' skips every check); see --list-checks",
    )
    p.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    p.add_argument("--jobs", type=int, default=1, help="processes reading files in parallel (default 1)")
    p.add_argument(
        "--no-cache", action="store_true", help="re-read files even when unchanged since the last validation"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_validate)

    p = data_commands.add_parser(
        "info", help="counts per sequence x split x stage, pairing, geometry", description="Summarise a cohort."
    )
    _add_cohort_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_info)

    p = data_commands.add_parser(
        "phantom",
        help="write the synthetic phantom cohort in the CirrMRI600+ layout",
        description="Generate a synthetic phantom cohort in exactly the CirrMRI600+ layout. It checks the suite's machinery, never clinical validity.",
    )
    p.add_argument("out", type=Path, help="output folder (must be empty or absent)")
    p.add_argument("--patients", type=int, default=120, help="cirrhosis patients (default 120)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same files")
    p.add_argument(
        "--healthy-subjects", type=int, default=None, help="healthy volunteers (default: about 16%% of patients)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="grid scale; <1 gives smaller volumes with the same field of view (default 1)",
    )
    p.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_phantom)

    p = data_commands.add_parser(
        "montage",
        help="PNG of the largest liver slice per stage and sequence",
        description="Draw a montage of liver slices per stage and sequence.",
    )
    _add_cohort_options(p)
    p.add_argument("--out", type=Path, required=True, help="output image (.png or .pdf)")
    p.add_argument("--per-stage", type=int, default=2, help="patients per stage (default 2)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--seed", type=int, default=0, help="which patients are drawn")
    p.set_defaults(func=_cmd_montage)

    p = data_commands.add_parser(
        "manifest",
        help="export the cohort index as a manifest CSV",
        description="Write the cohort index as a manifest CSV.",
    )
    _add_cohort_options(p)
    p.add_argument("--out", type=Path, required=True, help="output .csv")
    p.set_defaults(func=_cmd_manifest)
    features = commands.add_parser(
        "features",
        help="radiomics features: extract with PyRadiomics, import a PyRadiomics batch CSV",
        description="Radiomics feature tables.",
    )
    feature_commands = features.add_subparsers(dest="features_command", metavar="FEATURES_COMMAND")
    p = feature_commands.add_parser(
        "extract",
        help="PyRadiomics features of every scan (cached, parallel)",
        description="Extract PyRadiomics features of every scan: one row per scan (scan_id, patient_id, sequence, features as PyRadiomics names them). Cached per scan on image, mask, parameters and PyRadiomics version.",
    )
    p.add_argument(
        "--data", type=Path, default=None, help="CirrMRI600+ root or manifest .csv (default: $CIRRBENCH_DATA)"
    )
    _add_label_options(p)
    p.add_argument(
        "--params", default="mri", help="shipped parameter file (default, mri) or a path to your own (default: mri)"
    )
    p.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        metavar=("X", "Y", "Z"),
        default=None,
        help="override resampledPixelSpacing (mm)",
    )
    p.add_argument("--out", type=Path, required=True, help="output CSV")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: every usable core)")
    p.add_argument("--no-cache", action="store_true", help="extract again even when cached")
    p.add_argument("--healthy", action="store_true", help="include the healthy volunteers")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_features_extract)
    p = feature_commands.add_parser(
        "import",
        help="turn PyRadiomics batch output + a metadata CSV into a feature table any radiomics runner can use",
        description="Join PyRadiomics batch output (one row per scan, an Image column or an ID column) to a CirrMRI600+ metadata CSV, giving a feature table usable as --data.",
    )
    p.add_argument("batch", type=Path, help="PyRadiomics batch output CSV")
    p.add_argument(
        "--metadata", type=Path, required=True, help="metadata CSV with Patient ID,Age,Gender,Radiological Evaluation"
    )
    p.add_argument("--out", type=Path, required=True, help="output feature table CSV")
    p.add_argument(
        "--id-column", default=None, help="column with the patient ID (default: taken from the Image file name)"
    )
    p.add_argument(
        "--sequence",
        choices=["T1W", "T2W"],
        default=None,
        help="sequence of every row (default: from the Cirrhosis_T1_3D/T2 folder in the Image path)",
    )
    p.set_defaults(func=_cmd_features_import)

    p = commands.add_parser(
        "run",
        parents=[_run_parent()],
        help="run an experiment config: every runner x variant x input x split x seed",
        description="Run the job grid of an experiment config (a YAML file, or the name of a shipped one: tiny, cpu, paper). The whole config, the cohort and the job grid are checked before the first job. "
        "Finished jobs are reused; failed jobs are recorded in <out>/failures and retried next time. Exit codes: 0 done, 1 a job failed or the cohort failed validation, 2 nothing was run (config, flag or input error; folder in use).",
    )
    p.add_argument("config", help="experiment YAML file or shipped config name")
    p.add_argument(
        "--only",
        metavar="GLOB",
        default=None,
        help="run only jobs whose label runner:variant:input:split:seed matches, e.g. 'majority:*:T1W:*'",
    )
    p.set_defaults(func=_cmd_run)

    p = commands.add_parser(
        "report",
        help="rebuild every table and figure from prediction files alone",
        description="Rebuild tables, figures and metric files of a results folder from its prediction files.",
    )
    p.add_argument("results", type=Path, help="results folder written by `cirrbench run`")
    p.set_defaults(func=_cmd_report)

    p = commands.add_parser(
        "prune",
        help="delete job folders that the results folder's current experiment no longer uses",
        description="Delete predictions/<job> folders not listed in the results folder's manifest.json (left by earlier configs). Reports already ignore them; this frees the disk.",
    )
    p.add_argument("results", type=Path, help="results folder written by `cirrbench run` or ./run_all.sh")
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.set_defaults(func=_cmd_prune)

    p = commands.add_parser(
        "score",
        help="score a prediction file (any method's) with every metric and its CI; --compare for a paired test",
        description="Score a prediction CSV (scan_id plus one probability column per class, e.g. mild,moderate,severe or prob_mild,...) against a cohort's labels: "
        "every metric with its 95 %% CI from a patient-level bootstrap. With --compare, the paired difference to a second file on the same scans. "
        "Every row is checked first; a bad file is one error naming the line or column (exit 2).",
    )
    p.add_argument("predictions", type=Path, help="prediction CSV")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cohort with the true labels: CirrMRI600+ root, manifest or feature-table .csv (default: $CIRRBENCH_DATA)",
    )
    p.add_argument(
        "--level",
        choices=["patient", "scan"],
        default="patient",
        help="patient: mean of a patient's scan probabilities (default); scan: every scan (CIs still resample patients)",
    )
    p.add_argument(
        "--split",
        default="test",
        help="the cohort's official split the file must cover completely (test, valid, train), or 'any' (default test)",
    )
    p.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="OTHER.csv",
        help="a second prediction file on the same scans: paired difference, CI and p",
    )
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", type=Path, default=None, help="also write score.csv and score.txt into this folder")
    p.set_defaults(func=_cmd_score)

    p = commands.add_parser(
        "runners",
        help="list registered runners, their parameters and variants",
        description="List every registered runner (built in and from the cirrbench.runners entry point), or one with its parameters' meaning and allowed values.",
    )
    p.add_argument(
        "name",
        nargs="?",
        default=None,
        help="one runner: its parameters with type, default, allowed values and meaning",
    )
    p.add_argument(
        "--plugin",
        action="append",
        metavar="PATH_OR_MODULE",
        help="import a .py file or module first, so its runners are listed (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.set_defaults(func=_cmd_runners)

    p = commands.add_parser(
        "config-reference",
        help="write the config reference (every key and runner parameter) as Markdown",
        description="Generate docs/config.md from the config schema and the runners' declared parameters.",
    )
    p.add_argument("--out", type=Path, default=None, help="file to write (default: print)")
    p.set_defaults(func=_cmd_config_reference)

    perf = commands.add_parser(
        "perf",
        help="measure the suite's speed (JSON, and plots, under results/perf/)",
        description="Performance measurements on phantoms; each writes JSON with machine and versions (extraction and scaling also a PNG) under results/perf/",
    )
    perf_commands = perf.add_subparsers(dest="perf_command", metavar="PERF_COMMAND")
    p = perf_commands.add_parser(
        "extraction",
        help="sequential PyRadiomics loop vs parallel extraction vs warm cache",
        description="Time feature extraction: a plain sequential PyRadiomics loop, the suite's parallel extraction with a cold cache, and a warm rerun.",
    )
    p.add_argument("--data", type=Path, default=None, help="cohort (default: the 120-patient phantom in the cache)")
    p.add_argument("--scans", type=int, default=48, help="scans to extract (default 48)")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    p.add_argument("--params", default="mri", help="parameter file (default mri)")
    p.add_argument("--out", type=Path, default=Path("results/perf"), help="output folder (default results/perf)")
    p.set_defaults(func=_cmd_perf_extraction)

    p = perf_commands.add_parser(
        "training",
        help="deep training loop vs a bare torch loop on the same cached slices",
        description="Measure the suite's deep-training overhead and the share of step time spent waiting for data.",
    )
    p.add_argument("--data", type=Path, default=None, help="cohort (default: the 120-patient phantom in the cache)")
    p.add_argument("--scans", type=int, default=60, help="T1W scans (default 60)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per timed run (default 12)")
    p.add_argument(
        "--trials",
        type=int,
        default=9,
        help="alternating suite/bare runs; the overhead is the median paired ratio (default 9)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="device of the input-path probe (augmentation speed-up, data-wait share): cpu or cuda (default cpu)",
    )
    p.add_argument("--size", type=int, default=256, help="input-path probe slice size in pixels (default 256)")
    p.add_argument("--batch", type=int, default=32, help="input-path probe batch size in slices (default 32)")
    p.add_argument("--out", type=Path, default=Path("results/perf"), help="output folder (default results/perf)")
    p.set_defaults(func=_cmd_perf_training)

    p = perf_commands.add_parser(
        "scaling",
        help="time and peak memory of extraction and one deep epoch at ~60, 200, 600 scans",
        description="Cost growth with cohort size (phantoms on small grids); fits the time exponent.",
    )
    p.add_argument("--out", type=Path, default=Path("results/perf"), help="output folder (default results/perf)")
    p.set_defaults(func=_cmd_perf_scaling)

    p = commands.add_parser(
        "reproduce",
        parents=[_run_parent()],
        help="what ./run_all.sh runs: cohort, validation, experiments, every table and figure",
        description="Regenerate every table and figure. Without --data (or $CIRRBENCH_DATA) the synthetic phantom is generated once into the cache and used.",
    )
    p.add_argument(
        "--profile",
        default="cpu",
        help="cpu (default; fits a 2-core CPU), paper (seed-paper settings, paired and official splits, for a GPU), paper-cv (the same runners on the 3x5 CV grid, for GPU workers), tiny, or a YAML file",
    )
    p.set_defaults(func=_cmd_reproduce)
    return parser


def _cmd_features_extract(args: argparse.Namespace) -> int:
    from cirrbench.baselines.features import extract_features, feature_table_frame, load_params
    from cirrbench.benchmark.data.cohort import load_cohort
    from cirrbench.benchmark.execution.jobs import default_jobs

    args.path = args.data
    cohort = load_cohort(_cohort_path(args), include_healthy=args.healthy, **_label_options(args))
    result = extract_features(
        cohort.records,
        load_params(args.params, spacing=args.spacing),
        jobs=args.jobs or default_jobs("cpu"),
        use_cache=not args.no_cache,
        progress=not args.quiet,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    feature_table_frame(cohort.records, result.table).to_csv(args.out, index=False)
    print(
        f"wrote {args.out}: {len(result.table)} scans x {result.table.shape[1]} features ({result.extracted} extracted, {result.cached} from cache)"
    )
    for failure in result.failures:
        print(f"FAILED {failure}")
    return 1 if result.failures else 0


def _cmd_features_import(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.data.feature_table import import_pyradiomics_batch

    out = import_pyradiomics_batch(
        args.batch, args.metadata, args.out, id_column=args.id_column, sequence=args.sequence
    )
    print(f"wrote {out}; use it as --data (or data: root: in a config) with any radiomics runner")
    return 0


def _cmd_perf_extraction(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.execution.orchestrator import phantom_root
    from cirrbench.benchmark.perf import extraction_benchmark

    root = args.data or phantom_root(120, 0, jobs=args.jobs)
    result = extraction_benchmark(root, args.out, scans=args.scans, jobs=args.jobs, params_name=args.params)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_perf_training(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.execution.orchestrator import phantom_root
    from cirrbench.benchmark.perf import InputProbe, training_benchmark

    root = args.data or phantom_root(120, 0, jobs=2)
    probe = InputProbe(device=args.device, size=args.size, batch=args.batch)
    result = training_benchmark(root, args.out, scans=args.scans, epochs=args.epochs, trials=args.trials, probe=probe)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_perf_scaling(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.perf import scaling_benchmark

    print(json.dumps(scaling_benchmark(args.out), indent=2))
    return 0


def run_options_from_args(args: argparse.Namespace, jobs: int | None = None):
    """The run options of ``run`` and ``reproduce`` from their shared command-line options
    (``jobs`` None: ``--jobs``, or 0 = decide from the device later)."""
    from cirrbench.benchmark.execution.orchestrator import RunOptions

    label_options = _label_options(args)
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
        labels=tuple(label_options["labels"]) if "labels" in label_options else None,
        ordinal=label_options.get("ordinal"),
        plugins=load_cli_plugins(args),
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.execution.experiment import load_experiment
    from cirrbench.benchmark.execution.jobs import default_jobs
    from cirrbench.benchmark.execution.orchestrator import run_experiment

    load_cli_plugins(args)  # before the config is read: its runners may come from a plugin
    experiment = load_experiment(args.config, tuple(args.set or ()))
    options = run_options_from_args(args, jobs=args.jobs or default_jobs(args.device or experiment.device))
    if args.dry_run:
        from cirrbench.benchmark.execution.orchestrator import dry_run

        print(dry_run(experiment, options))
        return 0
    summary, report = run_experiment(experiment, options)
    if report is not None:
        print()
        print(report.main_markdown())
        print(
            f"tables: {args.out / 'tables'}   figures: {args.out / 'figures'}   manifest: {args.out / 'manifest.json'}"
        )
    return 0 if summary.ok else 1


def _cmd_prune(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.execution.prune import prune

    result = prune(args.results, dry_run=args.dry_run)
    for path in result.removed:
        print(("would delete " if args.dry_run else "deleted ") + str(path))
    verb = "would free" if args.dry_run else "freed"
    print(
        f"{len(result.removed)} stale job folder(s), {verb} {result.bytes_freed / 1e6:.1f} MB; {result.kept} current job folder(s) kept"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.reporting.report import build_report

    report = build_report(args.results)
    print(report.main_markdown())
    print(f"{len(report.files)} files written under {args.results}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    import os

    from cirrbench.benchmark.data.cohort import load_cohort
    from cirrbench.benchmark.reporting.score import score_file, write_score

    data = args.data or (Path(os.environ["CIRRBENCH_DATA"]) if os.environ.get("CIRRBENCH_DATA") else None)
    if data is None:
        print(
            "error: --data COHORT is required (the cohort whose labels score the predictions), or set $CIRRBENCH_DATA",
            file=sys.stderr,
        )
        return 2
    if args.bootstrap < 1:
        print(f"error: --bootstrap must be at least 1, got {args.bootstrap}", file=sys.stderr)
        return 2
    result = score_file(
        args.predictions,
        load_cohort(data),
        level=args.level,
        compare=args.compare,
        split=args.split,
        n_boot=args.bootstrap,
        seed=args.seed,
    )
    print(result.text)
    if args.out is not None:
        for path in write_score(result, args.out):
            print(f"wrote {path}")
    return 0


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


def _cmd_runners(args: argparse.Namespace) -> int:
    import dataclasses
    import typing

    load_cli_plugins(args)
    from cirrbench.benchmark.runners.params import allowed_text, describe_type, param_doc
    from cirrbench.benchmark.runners.registry import available_runners, get_runner

    chosen = {args.name: get_runner(args.name)} if args.name else available_runners()
    described = {}
    for name, cls in chosen.items():
        hints = typing.get_type_hints(cls.Params)
        params = []
        for f in dataclasses.fields(cls.Params):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
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


def _cmd_config_reference(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.common.atomic import atomic_write_text
    from cirrbench.benchmark.execution.config_schema import config_reference

    text = config_reference()
    if args.out is None:
        print(text, end="")
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from cirrbench.benchmark.execution.reproduce import main_from_args

    return main_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
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
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished jobs are kept, rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report_error(exc)


def _report_error(exc: Exception) -> int:
    """One line per problem on stderr; the exit code says whether anything ran (see --help of run)."""
    from cirrbench.benchmark.data.problems import CohortError
    from cirrbench.benchmark.execution.experiment import ConfigError
    from cirrbench.benchmark.execution.jobs import WorkerLostError
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
        print(
            f"error: {exc.filename}: {exc.strerror or exc} (check free disk space and write permission)",
            file=sys.stderr,
        )
        return 2
    if isinstance(exc, (FileNotFoundError, FileExistsError, ValueError, KeyError, ResultsLocked, UsageError, OSError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {text}", file=sys.stderr)
        return 2
    raise exc


if __name__ == "__main__":
    raise SystemExit(main())

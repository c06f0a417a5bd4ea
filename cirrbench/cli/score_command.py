"""``cirrbench score``: any method's prediction file scored against a cohort's labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cirrbench.cli.options import cohort_path
from cirrbench.cli.registry import UsageError, command

__all__: list[str] = []  # everything here registers itself


def _score_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("predictions", type=Path, help="prediction CSV")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cohort with the true labels: CirrMRI600+ root, manifest or feature-table .csv (default: the run's "
        "cohort for a file inside a results folder, else $CIRRBENCH_DATA)",
    )
    p.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="what to call the file (repeat for the --compare file; default: the job's label for the suite's own "
        "predictions.csv, else the path)",
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


def _run_cohort(predictions: Path) -> Path | None:
    """The cohort of the run whose results folder holds ``predictions`` (the nearest folder above
    it with a manifest.json), so the suite's own files score without --data."""
    from cirrbench.benchmark.common.results_store import MANIFEST

    for folder in Path(predictions).resolve().parents:
        manifest = folder / MANIFEST
        if manifest.is_file():
            try:
                source = json.loads(manifest.read_text())["cohort"]["source"]
            except (OSError, ValueError, KeyError, TypeError):
                return None
            if not Path(source).exists():
                raise UsageError(
                    f"{manifest}: the run's cohort {source} is gone; pass --data COHORT (the cohort with the true labels)"
                )
            print(f"cohort: {source} (the run's, from {manifest})")
            return Path(source)
    return None


@command("score", _score_options)
def score(args: argparse.Namespace) -> int:
    """score a prediction file (any method's) with every metric and its CI; --compare for a paired test

    Score a prediction CSV (scan_id plus one probability column per class, e.g.
    mild,moderate,severe or prob_mild,...) against a cohort's labels: every metric with its 95 %
    CI from a patient-level bootstrap. A file inside a results folder is scored against that
    run's cohort unless --data says otherwise (predictions/index.csv says which job each folder
    holds). With --compare, the paired difference to a second file on
    the same scans. Every row is checked first; a bad file is one error naming the line or column
    (exit 2).
    """
    from cirrbench.benchmark.data.loading import load_cohort
    from cirrbench.benchmark.reporting.score import score_file, write_score

    data = args.data or _run_cohort(args.predictions)
    data = cohort_path(
        data, "--data COHORT is required (the cohort whose labels score the predictions), or set $CIRRBENCH_DATA"
    )
    if args.bootstrap < 1:
        raise UsageError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    if len(args.name) > (2 if args.compare is not None else 1):
        raise UsageError(f"--name names the file (and the --compare file): at most two, got {len(args.name)}")
    result = score_file(
        args.predictions,
        load_cohort(data),
        level=args.level,
        compare=args.compare,
        split=args.split,
        n_boot=args.bootstrap,
        seed=args.seed,
        names=tuple(args.name),
    )
    print(result.text)
    if args.out is not None:
        for path in write_score(result, args.out):
            print(f"wrote {path}")
    return 0

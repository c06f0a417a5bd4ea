"""Radiomics feature tables: extract them with PyRadiomics, or import PyRadiomics batch output."""

from __future__ import annotations

import argparse
from pathlib import Path

from cirrbench.cli.options import add_label_options, load_cohort_of
from cirrbench.cli.registry import command, group

__all__: list[str] = []  # everything here registers itself

group("features", "radiomics features: extract with PyRadiomics, import a PyRadiomics batch CSV", __doc__ or "")


def _extract_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", type=Path, default=None, help="CirrMRI600+ root or manifest .csv (default: $CIRRBENCH_DATA)"
    )
    add_label_options(p)
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


@command("features extract", _extract_options)
def extract(args: argparse.Namespace) -> int:
    """PyRadiomics features of every scan (cached, parallel)

    Extract PyRadiomics features of every scan: one row per scan (scan_id, patient_id, sequence,
    features as PyRadiomics names them). Cached per scan on image, mask, parameters and
    PyRadiomics version.
    """
    from cirrbench.baselines.features import extract_features, feature_table_frame, load_params
    from cirrbench.benchmark.execution.job_execution import default_jobs

    cohort = load_cohort_of(args, args.data)
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


def _import_options(p: argparse.ArgumentParser) -> None:
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


@command("features import", _import_options)
def import_batch(args: argparse.Namespace) -> int:
    """turn PyRadiomics batch output + a metadata CSV into a feature table any radiomics runner can use

    Join PyRadiomics batch output (one row per scan, an Image column or an ID column) to a
    CirrMRI600+ metadata CSV, giving a feature table usable as --data.
    """
    from cirrbench.benchmark.data.sources.feature_table import import_pyradiomics_batch

    out = import_pyradiomics_batch(
        args.batch, args.metadata, args.out, id_column=args.id_column, sequence=args.sequence
    )
    print(f"wrote {out}; use it as --data (or data: root: in a config) with any radiomics runner")
    return 0

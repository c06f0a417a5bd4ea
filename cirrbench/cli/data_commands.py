"""Cohort tools: check, summarise, draw and export a cohort; write the synthetic phantom."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cirrbench.cli.options import (
    COHORT_HELP,
    add_cohort_options,
    add_label_options,
    cohort_path,
    label_options,
    load_cohort_of,
)
from cirrbench.cli.registry import UsageError, command, group

__all__: list[str] = []  # everything here registers itself

group("data", "cohort tools: validate, info, phantom, montage, manifest", __doc__ or "")


def _validate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, nargs="?", help=COHORT_HELP)
    p.add_argument("--healthy", action="store_true", help="also check the healthy volunteers")
    add_label_options(p)
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


@command("data validate", _validate_options)
def validate(args: argparse.Namespace) -> int:
    """read every file and report every problem (exit 1 if any)

    Read every image, mask and metadata file; print one line per problem naming the file and the
    fix. Exit 0 when clean, 1 otherwise.
    """
    from cirrbench.benchmark.data.problems import CHECKS
    from cirrbench.benchmark.data.validate import validate as validate_cohort

    if args.list_checks:
        for name, text in CHECKS.items():
            print(f"{name:20s} {text}")
        return 0
    report = validate_cohort(
        cohort_path(args.path),
        include_healthy=args.healthy,
        skip=args.skip_check or (),
        jobs=args.jobs,
        use_cache=not args.no_cache,
        progress=not args.quiet,
        manifest_options=label_options(args) or None,
    )
    print(report.format())
    return 0 if report.ok else 1


def _info_options(p: argparse.ArgumentParser) -> None:
    add_cohort_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable summary")


@command("data info", _info_options)
def info(args: argparse.Namespace) -> int:
    """counts per sequence x split x stage, pairing, geometry

    Summarise a cohort.
    """
    from cirrbench.benchmark.data.info import count_table, format_info, summary

    cohort = load_cohort_of(args)
    if args.json:
        payload = summary(cohort)
        payload["counts"] = {f"{seq}/{split}": row.to_dict() for (seq, split), row in count_table(cohort).iterrows()}
        print(json.dumps(payload, indent=2, default=int))
    else:
        print(format_info(cohort))
    return 0


def _phantom_options(p: argparse.ArgumentParser) -> None:
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


@command("data phantom", _phantom_options)
def phantom(args: argparse.Namespace) -> int:
    """write the synthetic phantom cohort in the CirrMRI600+ layout

    Generate a synthetic phantom cohort in exactly the CirrMRI600+ layout. It checks the suite's
    machinery, never clinical validity.
    """
    from cirrbench.benchmark.data.phantom import NOTICE, PhantomConfig, write_phantom

    config = PhantomConfig(
        patients=args.patients, seed=args.seed, healthy=args.healthy_subjects, scale=args.scale, jobs=args.jobs
    )
    out = write_phantom(args.out, config, progress=not args.quiet)
    print(f"wrote a phantom cohort of {args.patients} patients (seed {args.seed}) to {out}")
    print(NOTICE)
    return 0


def _montage_options(p: argparse.ArgumentParser) -> None:
    add_cohort_options(p)
    p.add_argument("--out", type=Path, required=True, help="output image (.png or .pdf)")
    p.add_argument("--per-stage", type=int, default=2, help="patients per stage (default 2)")
    p.add_argument("--title", default=None, help="figure title")
    p.add_argument("--seed", type=int, default=0, help="which patients are drawn")


@command("data montage", _montage_options)
def montage(args: argparse.Namespace) -> int:
    """PNG of the largest liver slice per stage and sequence

    Draw a montage of liver slices per stage and sequence.
    """
    from cirrbench.benchmark.data.montage import montage as draw_montage

    out = draw_montage(load_cohort_of(args), args.out, per_stage=args.per_stage, title=args.title, seed=args.seed)
    print(f"wrote {out}")
    return 0


def _manifest_options(p: argparse.ArgumentParser) -> None:
    add_cohort_options(p)
    p.add_argument("--out", type=Path, required=True, help="output .csv")


@command("data manifest", _manifest_options)
def manifest(args: argparse.Namespace) -> int:
    """export the cohort index as a manifest CSV

    Write the cohort index as a manifest CSV.
    """
    from cirrbench.benchmark.data.sources.manifest import write_manifest

    print(f"wrote {write_manifest(load_cohort_of(args), args.out)}")
    return 0


def _import_medmnist_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("npz", type=Path, help="a MedMNIST 3D file, e.g. organmnist3d.npz (from medmnist.com or Zenodo)")
    p.add_argument("out", type=Path, help="the new cohort's folder (must be empty or absent)")
    p.add_argument(
        "--labels",
        default=None,
        metavar="A,B,C",
        help="class names in index order (default class0, class1, ...; MedMNIST's INFO lists each set's names)",
    )
    p.add_argument(
        "--sequence",
        choices=["T1W", "T2W"],
        default="T1W",
        help="the manifest's sequence (a manifest knows T1W and T2W), named by a config's inputs (default T1W)",
    )


@command("data import-medmnist", _import_medmnist_options)
def import_medmnist(args: argparse.Namespace) -> int:
    """import a MedMNIST 3D .npz file as a cohort (NIfTI volumes and a manifest)

    Write every sample of a MedMNIST 3D archive (train_/val_/test_ images and labels) as NIfTI
    with a manifest CSV: the official splits are kept (valid = MedMNIST's val), each sample is its
    own patient and the mask is the volume less its one-voxel border. Then: cirrbench run CONFIG --data OUT/manifest.csv.
    """
    from cirrbench.benchmark.data.medmnist import MedMNISTError
    from cirrbench.benchmark.data.medmnist import import_medmnist as write_cohort

    labels = [name.strip() for name in args.labels.split(",")] if args.labels else None
    try:
        imported = write_cohort(args.npz, args.out, labels, args.sequence)
    except MedMNISTError as error:
        raise UsageError(str(error)) from error
    counts = ", ".join(f"{split} {n}" for split, n in imported.counts.items())
    print(f"wrote {imported.manifest} ({counts}; classes {', '.join(imported.labels)})")
    print(f"next: cirrbench run CONFIG --data {imported.manifest}  (inputs: [{args.sequence}]; protocols: [official])")
    return 0


def _download_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=["cirrmri600"], help="the public cohort to fetch (CirrMRI600+ from OSF)")
    p.add_argument("out", type=Path, help="the cohort's folder (then: --data OUT)")
    p.add_argument(
        "--api", default=None, help="the OSF API to list files from (default https://api.osf.io/v2; a mirror)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command("data download", _download_options)
def download(args: argparse.Namespace) -> int:
    """fetch CirrMRI600+ from OSF with resume, checksums and unpacking

    List every file of the OSF node (cuk24) with its size and SHA-256, fetch each into
    OUT/downloads (an interrupted download resumes), check it, unpack the ZIP archives into OUT
    and copy the metadata beside them. Then: cirrbench data validate OUT; cirrbench run cpu --data OUT.
    The data are CC BY-NC 4.0: cite Jha et al., Scientific Data 12:896 (2025).
    """
    from cirrbench.benchmark.data.download import OSF_API, DownloadError, download_osf

    try:
        written = download_osf(args.out, api=args.api or OSF_API, progress=not args.quiet)
    except DownloadError as error:
        raise UsageError(str(error)) from error
    print(f"wrote {len(written)} file(s) into {args.out}; next: cirrbench data validate {args.out}")
    return 0

"""Cohort validation: read every file and report every problem at once, one line each.

The same checks guard every run (:func:`ensure_valid`); a user can skip named checks, and the
run then says which checks it did not run. File-level results are cached per scan on the files'
size and modification time, so re-validating an unchanged cohort reads nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from joblib import delayed

from cirrbench.benchmark.common.atomic import read_cache_entry, write_cache_entry
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.common.processes import worker_pool
from cirrbench.benchmark.data.cohort import Cohort, ScanRecord
from cirrbench.benchmark.data.layout import PAIRED_CSV, discover
from cirrbench.benchmark.data.loading import load_cohort
from cirrbench.benchmark.data.metadata import read_metadata_csv
from cirrbench.benchmark.data.problems import CHECKS, CohortError, Problem
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri

__all__ = ["check_scan_files", "ensure_valid", "Tolerance", "validate", "ValidationReport", "VALIDATOR_VERSION"]

VALIDATOR_VERSION = "2"  # 2: the not-3d check


@dataclass(frozen=True)
class Tolerance:
    """Geometry tolerances between an image and its mask."""

    spacing_rel: float = 1e-3
    origin_mm: float = 1e-2
    direction: float = 1e-3


@dataclass
class ValidationReport:
    source: str
    n_scans: int
    problems: list[Problem]
    skipped: tuple[str, ...] = ()
    cohort: Cohort | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.skipped:
            lines.append(f"skipped checks (not run): {', '.join(self.skipped)}")
        status = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines.append(f"{self.source}: {self.n_scans} scan(s) checked, {status}")
        return "\n".join(lines)


def _file_stat(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _cache_key(record: ScanRecord, tolerance: Tolerance) -> str:
    image, mask = record.files()
    payload = [VALIDATOR_VERSION, tolerance.__dict__, _file_stat(image), _file_stat(mask)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200]


def _read_voxels(path: Path, problems: list[Problem]) -> np.ndarray | None:
    """Raw voxels through nibabel, which decompresses the whole stream.

    SimpleITK is not used here on purpose: it reads a truncated ``.nii.gz`` without complaint and
    silently replaces NaN and infinite voxels by 0, which would hide exactly what we look for.
    """
    try:
        return np.asanyarray(nib.load(str(path)).dataobj)  # type: ignore[attr-defined]  # a NIfTI image has one
    except Exception as exc:  # nibabel raises EOFError, ImageFileError, zlib.error, ...
        problems.append(
            Problem(
                "unreadable",
                path,
                f"cannot be read as NIfTI ({_reason(exc)})",
                "re-download or re-extract this file; a truncated .nii.gz usually means an interrupted download or unzip",
            )
        )
        return None


def _read_geometry(path: Path, problems: list[Problem]) -> sitk.ImageFileReader | None:
    """Header geometry as ITK (and so PyRadiomics and MONAI's ITK reader) interprets it."""
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        return reader
    except Exception as exc:
        problems.append(
            Problem(
                "unreadable",
                path,
                f"header cannot be read by ITK ({_reason(exc)})",
                "re-download or re-extract this file",
            )
        )
        return None


def check_scan_files(record: ScanRecord, tolerance: Tolerance = Tolerance()) -> list[Problem]:
    """Every file-level check for one image/mask pair."""
    problems: list[Problem] = []
    image_path, mask_path = record.files()
    voxels = _read_voxels(image_path, problems)
    mask_voxels = _read_voxels(mask_path, problems)
    for path, array in ((image_path, voxels), (mask_path, mask_voxels)):
        if array is not None and array.ndim != 3:
            problems.append(
                Problem(
                    "not-3d",
                    path,
                    f"a {array.ndim}D array of shape {tuple(array.shape)}, not a 3D volume",
                    "export the scan as one 3D volume (x, y, slices); split 4D series, stack 2D slices",
                )
            )
    if voxels is not None and voxels.ndim != 3 or mask_voxels is not None and mask_voxels.ndim != 3:
        return problems  # geometry and intensity checks assume 3D volumes
    image = _read_geometry(image_path, problems) if voxels is not None else None
    mask = _read_geometry(mask_path, problems) if mask_voxels is not None else None
    if voxels is not None:
        problems += _intensity_problems(image_path, voxels)
    if mask_voxels is not None:
        problems += _mask_problems(mask_path, mask_voxels)
    if image is not None and mask is not None:
        problems += _geometry_problems(image_path, mask_path, image, mask, tolerance)
    return problems


def _intensity_problems(image_path: Path, voxels: np.ndarray) -> list[Problem]:
    if not np.issubdtype(voxels.dtype, np.floating):
        return []
    bad = int(np.count_nonzero(~np.isfinite(voxels)))
    if not bad:
        return []
    return [
        Problem(
            "non-finite",
            image_path,
            f"{bad} NaN or infinite voxel(s)",
            "fix the conversion that produced this file (NaN usually comes from a division by zero)",
        )
    ]


def _mask_problems(mask_path: Path, mask_voxels: np.ndarray) -> list[Problem]:
    problems = []
    values = np.unique(mask_voxels)
    extra = [v for v in values.tolist() if v not in (0, 1)]
    if extra:
        shown = ", ".join(f"{v:g}" for v in extra[:5])
        problems.append(
            Problem(
                "mask-values",
                mask_path,
                f"values outside {{0, 1}}: {shown}",
                "binarise the mask (liver = 1, background = 0)",
            )
        )
    if not np.any(values != 0):
        problems.append(
            Problem("empty-mask", mask_path, "no liver voxel", "replace it with the scan's liver segmentation")
        )
    return problems


def _geometry_problems(
    image_path: Path, mask_path: Path, image: sitk.ImageFileReader, mask: sitk.ImageFileReader, tolerance: Tolerance
) -> list[Problem]:
    """The mask on the image's grid: size, spacing, origin and direction within the tolerances."""
    if image.GetSize() != mask.GetSize():
        return [
            Problem(
                "size-mismatch",
                mask_path,
                f"size {mask.GetSize()} but the image is {image.GetSize()}",
                "resample the mask onto the image grid",
            )
        ]
    problems = []
    where = f"image {image_path.name} vs mask"
    fix = "copy the image's header geometry to the mask"
    spacing_i, spacing_m = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    if not np.allclose(spacing_i, spacing_m, rtol=tolerance.spacing_rel, atol=0):
        problems.append(
            Problem(
                "spacing-mismatch",
                mask_path,
                f"spacing {tuple(np.round(spacing_m, 4))} but the image has {tuple(np.round(spacing_i, 4))} ({where})",
                fix,
            )
        )
    origin_i, origin_m = np.array(image.GetOrigin()), np.array(mask.GetOrigin())
    if np.max(np.abs(origin_i - origin_m)) > tolerance.origin_mm:
        problems.append(
            Problem(
                "origin-mismatch",
                mask_path,
                f"origin {tuple(np.round(origin_m, 3))} but the image has {tuple(np.round(origin_i, 3))} ({where})",
                fix,
            )
        )
    if np.max(np.abs(np.array(image.GetDirection()) - np.array(mask.GetDirection()))) > tolerance.direction:
        problems.append(Problem("direction-mismatch", mask_path, "direction matrix differs from the image's", fix))
    return problems


def _cache_path(record: ScanRecord, tolerance: Tolerance) -> Path:
    return cache_dir("validation") / f"{_cache_key(record, tolerance)}.json"


def _cached_problems(path: Path) -> list[Problem] | None:
    """The scan's problems as an earlier check of the same files found them, or None."""
    rows = read_cache_entry(path)
    if isinstance(rows, list):
        try:
            return [Problem(r["check"], Path(r["path"]), r["message"], r["fix"]) for r in rows]
        except (KeyError, TypeError, ValueError):
            pass  # an entry of another format: recompute
    return None


def _check_and_cache(record: ScanRecord, tolerance: Tolerance, path: Path | None) -> list[Problem]:
    """A scan the cache does not hold: checked, and its problems stored at ``path`` (None: not stored)."""
    problems = check_scan_files(record, tolerance)
    if path is not None:
        write_cache_entry(
            path, [{"check": p.check, "path": str(p.path), "message": p.message, "fix": p.fix} for p in problems]
        )
    return problems


def _extra_metadata_problems(root: Path) -> list[Problem]:
    """Checks of metadata files the index does not otherwise read (the paired list)."""
    layout = discover(root)
    problems: list[Problem] = []
    paired = layout.metadata_csv(PAIRED_CSV)
    if paired is not None:
        _, found = read_metadata_csv(paired)
        problems.extend(found)
    return problems


def validate(
    path: str | Path,
    include_healthy: bool = False,
    skip: Iterable[str] = (),
    jobs: int = 1,
    tolerance: Tolerance = Tolerance(),
    use_cache: bool = True,
    progress: bool = True,
    manifest_options: dict | None = None,
) -> ValidationReport:
    """Index and check a cohort (CirrMRI600+ folder or manifest CSV)."""
    from tqdm.auto import tqdm

    skipped = tuple(sorted(set(skip)))
    unknown = [s for s in skipped if s not in CHECKS and s != "all"]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; see `cirrbench data validate --list-checks`")
    if "all" in skipped:
        skipped = tuple(CHECKS)
    path = Path(path).expanduser()
    problems: list[Problem] = []
    try:
        if path.is_file():
            cohort = load_cohort(path, **(manifest_options or {}))
        else:
            cohort = load_cirrmri(path, include_healthy=include_healthy)
            problems.extend(_extra_metadata_problems(path))
        problems = list(cohort.problems) + problems
    except CohortError as exc:
        return ValidationReport(str(path), 0, [p for p in exc.problems if p.check not in skipped], skipped)
    file_checks = set(CHECKS) - set(skipped)
    if file_checks & {
        "unreadable",
        "not-3d",
        "non-finite",
        "size-mismatch",
        "spacing-mismatch",
        "origin-mismatch",
        "direction-mismatch",
        "mask-values",
        "empty-mask",
    }:
        with_files = [r for r in cohort.records if r.image is not None and r.mask is not None]
        # Cached scans are read here: a rerun on unchanged files starts no worker process.
        paths = [_cache_path(r, tolerance) if use_cache else None for r in with_files]
        found = [_cached_problems(path) if path is not None else None for path in paths]
        todo = [i for i, rows in enumerate(found) if rows is None]
        tasks = (delayed(_check_and_cache)(with_files[i], tolerance, paths[i]) for i in todo)
        bar = tqdm(total=len(todo), desc="validating scans", unit="scan", disable=not progress or not todo)
        for i, rows in zip(todo, worker_pool(min(jobs, max(1, len(todo))), "generator")(tasks)):
            found[i] = rows
            bar.update()
        bar.close()
        problems.extend(p for rows in found for p in rows or ())
    problems = [p for p in problems if p.check not in skipped]
    return ValidationReport(str(path), len(cohort), problems, skipped, cohort)


def ensure_valid(path: str | Path, skip: Iterable[str] = (), **options) -> Cohort:
    """The guard in front of every run: the cohort, or :class:`CohortError` with the full report."""
    report = validate(path, skip=skip, **options)
    if not report.ok or report.cohort is None:
        raise CohortError(report.problems, f"{report.source} failed validation; fix these or pass --skip-check")
    if report.skipped:
        import logging

        logging.getLogger("cirrbench").warning("validation: skipped checks (not run): %s", ", ".join(report.skipped))
    return report.cohort

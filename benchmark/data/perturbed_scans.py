"""Perturbed copies of scans, written once to the cache and shared by every runner.

A perturbed scan is a pair of NIfTI files under ``<cache>/perturbed/``, keyed by the source
files' content, the perturbation (name, level, seed) and the scan id; the random kinds draw from
a generator seeded by the same, so two runners, two jobs or two machines get the same voxels.
Files a perturbation does not change are not copied: the record keeps the original path, so the
runners' own caches (features, slices, embeddings), which key by content, are shared too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cirrbench.benchmark.common.atomic import read_cache_entry, write_cache_entry
from cirrbench.benchmark.common.hashing import memo_digest
from cirrbench.benchmark.common.paths import cache_dir
from cirrbench.benchmark.data.cohort import ScanRecord
from cirrbench.benchmark.data.imageio import read_image
from cirrbench.benchmark.data.perturbations import Perturbation, inscribed_radius_mm, perturb_arrays

__all__ = ["PERTURBED_VERSION", "erasing_problems", "perturbed_record", "scan_generator"]

#: Bump when a perturbation's code changes what it writes: cached files of the old code are then not reused.
PERTURBED_VERSION = "1"


def scan_generator(perturbation: Perturbation, scan_id: str) -> np.random.Generator:
    """The random stream of one scan under one perturbation: independent of the runner and of order."""
    text = json.dumps([perturbation.as_list(), scan_id])
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def _write(array: np.ndarray, like: sitk.Image, path: Path, dtype) -> None:
    """Write ``array`` with ``like``'s geometry to ``path`` atomically (the temporary name keeps the
    .nii.gz suffix SimpleITK picks its writer by)."""
    image = sitk.GetImageFromArray(array.astype(dtype))
    image.CopyInformation(like)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        sitk.WriteImage(image, str(tmp), useCompression=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def perturbed_record(record: ScanRecord, perturbation: Perturbation) -> ScanRecord:
    """``record`` with its image and/or mask replaced by the perturbed files (made on first use)."""
    image_path, mask_path = record.files()
    if perturbation.is_identity:
        return record
    key = hashlib.sha256(
        json.dumps(
            [PERTURBED_VERSION, memo_digest(image_path), memo_digest(mask_path), perturbation.as_list(), record.scan_id]
        ).encode()
    ).hexdigest()
    folder = cache_dir("perturbed", key[:2])
    changes = perturbation.kind.changes
    new_image = folder / f"{key}-image.nii.gz" if "image" in changes else image_path
    new_mask = folder / f"{key}-mask.nii.gz" if "mask" in changes else mask_path
    if not (Path(new_image).is_file() and Path(new_mask).is_file()):
        image, mask = read_image(image_path), read_image(mask_path)
        spacing = tuple(float(s) for s in reversed(image.GetSpacing()))
        arrays = perturb_arrays(
            sitk.GetArrayFromImage(image),
            sitk.GetArrayFromImage(mask),
            spacing,  # type: ignore[arg-type]
            perturbation,
            scan_generator(perturbation, record.scan_id),
        )
        if "image" in changes:
            _write(arrays[0], image, Path(new_image), np.float32)
        if "mask" in changes:
            _write(arrays[1], mask, Path(new_mask), np.uint8)
    return replace(record, image=Path(new_image), mask=Path(new_mask))


def _inscribed_radius(mask_path: Path) -> float:
    """The mask's inscribed radius in mm, cached by the file's content."""
    cache = cache_dir("perturbed", "radius") / f"{memo_digest(mask_path)}.json"
    cached = read_cache_entry(cache)
    if isinstance(cached, dict) and "radius" in cached:
        return float(cached["radius"])
    mask = read_image(mask_path)
    radius = inscribed_radius_mm(sitk.GetArrayFromImage(mask), tuple(float(s) for s in reversed(mask.GetSpacing())))  # type: ignore[arg-type]
    write_cache_entry(cache, {"radius": radius})
    return radius


def erasing_problems(records: list[ScanRecord], perturbations: list[tuple[str, Perturbation]]) -> list[str]:
    """One line per (config key, erosion) that would leave some scan without a liver mask, naming
    the scan and the largest level that scan allows; checked before any job runs."""
    problems: list[str] = []
    erosions = [(key, p) for key, p in perturbations if p.name == "mask-erode" and not p.is_identity]
    if not erosions or not records:
        return problems
    radii = {r.scan_id: _inscribed_radius(r.files()[1]) for r in records}
    thinnest = min(radii, key=lambda s: radii[s])
    for key, p in erosions:
        if p.level >= radii[thinnest]:
            problems.append(
                f"{key}: mask-erode by {p.level:g} mm erases the liver mask of scan {thinnest} "
                f"(its thickest part is {radii[thinnest]:.1f} mm from the boundary); use a level below that"
            )
    return problems

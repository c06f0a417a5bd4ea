"""A MedMNIST 3D ``.npz`` file as a cohort: one NIfTI volume per sample and a manifest CSV.

MedMNIST (Yang et al., Sci Data 2023) ships each 3D data set as one NumPy archive with the keys
``train_images``, ``train_labels``, ``val_images``, ``val_labels``, ``test_images`` and
``test_labels`` (images ``(N, D, H, W)`` uint8, labels ``(N, 1)``). Importing one gives a real,
public, labelled cohort the whole suite runs on in minutes: the official splits are kept as the
manifest's ``split`` column (the ``official`` protocol uses them), each sample is its own patient
(MedMNIST gives no patient grouping), and the mask is the volume less its one-voxel border
(MedMNIST has no segmentation), so radiomics features describe nearly the full cube.

The archive is read with ``allow_pickle=False``: a file from the internet stays data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.data.layout import SEQUENCES

__all__ = ["MEDMNIST_SPLITS", "MedMNISTError", "import_medmnist"]

#: MedMNIST's split names -> the manifest's.
MEDMNIST_SPLITS = {"train": "train", "val": "valid", "test": "test"}


class MedMNISTError(ValueError):
    """A file that is not a MedMNIST 3D archive; the message names the file and the key."""


@dataclass(frozen=True)
class ImportedCohort:
    manifest: Path
    counts: dict[str, int]  # split -> samples
    labels: tuple[str, ...]


def _arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:  # not a zip of .npy files, or object arrays
        raise MedMNISTError(f"{path}: not a NumPy .npz archive of plain arrays ({error})") from error
    for split in MEDMNIST_SPLITS:
        for kind in ("images", "labels"):
            if f"{split}_{kind}" not in arrays:
                raise MedMNISTError(
                    f"{path}: no '{split}_{kind}' array (a MedMNIST file has train/val/test _images and _labels; "
                    f"this one has {', '.join(sorted(arrays)) or 'none'})"
                )
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 4:
            raise MedMNISTError(
                f"{path}: '{split}_images' has shape {images.shape}; a MedMNIST 3D file has (N, D, H, W) volumes "
                "(2D MedMNIST sets are not volumes)"
            )
        if labels.reshape(len(labels), -1).shape != (len(images), 1):
            raise MedMNISTError(
                f"{path}: '{split}_labels' has shape {labels.shape} for {len(images)} images; one label per image "
                "is expected (multi-label sets are not supported)"
            )
        if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
            raise MedMNISTError(f"{path}: '{split}_labels' must hold class indices 0, 1, ... (got {labels.dtype})")
    return arrays


def _inner(shape: tuple[int, ...]) -> np.ndarray:
    """The volume less its one-voxel border: a mask needs background (PyRadiomics refuses a
    mask of one value) and MedMNIST's crops centre the object."""
    mask = np.zeros(shape, np.uint8)
    mask[(slice(1, -1),) * len(shape)] = 1
    return mask


def import_medmnist(
    npz: str | Path, out: str | Path, labels: list[str] | None = None, sequence: str = "T1W"
) -> ImportedCohort:
    """Write every sample of a MedMNIST 3D archive as NIfTI under ``out`` and ``out/manifest.csv``.

    Args:
        npz: the MedMNIST file (e.g. ``organmnist3d.npz``).
        out: the new cohort's folder (created; must be empty or absent).
        labels: class names in index order (default ``class0``, ``class1``, ... zero-padded).
        sequence: the manifest's sequence, T1W or T2W (``inputs:`` of a config names it).

    Returns:
        The manifest's path, samples per split and the class names.
    """
    npz, out = Path(npz), Path(out)
    arrays = _arrays(npz)
    n_classes = 1 + max(int(arrays[f"{split}_labels"].max(initial=0)) for split in MEDMNIST_SPLITS)
    width = len(str(n_classes - 1))
    names = list(labels) if labels else [f"class{k:0{width}d}" for k in range(n_classes)]
    if len(names) < n_classes:
        raise MedMNISTError(f"{npz}: labels run 0..{n_classes - 1}, but {len(names)} names were given: {names}")
    if sequence not in SEQUENCES:
        raise MedMNISTError(f"sequence {sequence!r} is not one a manifest knows ({', '.join(SEQUENCES)})")
    if out.exists() and any(out.iterdir()):
        raise MedMNISTError(f"{out} is not empty; choose a new folder or delete it first")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    rows, counts = [], {}
    for split, ours in MEDMNIST_SPLITS.items():
        images, classes = arrays[f"{split}_images"], arrays[f"{split}_labels"].reshape(-1)
        counts[ours] = len(images)
        for i, (volume, k) in enumerate(zip(images, classes)):
            sample = f"{split}-{i:05d}"
            image, mask = Path("images") / f"{sample}.nii.gz", Path("masks") / f"{sample}.nii.gz"
            sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(volume)), str(out / image), True)
            sitk.WriteImage(sitk.GetImageFromArray(_inner(volume.shape)), str(out / mask), True)
            rows.append(
                {
                    "scan_id": f"{sequence}-{sample}",
                    "patient_id": sample,
                    "sequence": sequence,
                    "label": names[int(k)],
                    "image": image.as_posix(),
                    "mask": mask.as_posix(),
                    "split": ours,
                }
            )
    manifest = atomic_write_text(out / "manifest.csv", pd.DataFrame(rows).to_csv(index=False))
    return ImportedCohort(manifest, counts, tuple(names))

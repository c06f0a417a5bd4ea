"""Reading scans: SimpleITK, as PyRadiomics does, so every part of the suite sees the same voxels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

__all__ = ["liver_slice_index", "read_array", "read_array_radiological", "read_header", "read_image"]


def read_image(path: str | Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def read_array(path: str | Path) -> np.ndarray:
    """Voxel array in (z, y, x) order, as SimpleITK gives it."""
    return sitk.GetArrayFromImage(read_image(path))


def read_array_radiological(path: str | Path) -> np.ndarray:
    """Voxel array (z, y, x) reoriented to LPS: an axial slice ``[k]`` shows anterior at the top
    and the patient's right on the viewer's left (the radiological view), whatever the file's
    direction matrix."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(read_image(path), "LPS"))


def read_header(path: str | Path) -> sitk.ImageFileReader:
    """Header only (size, spacing, origin, direction) without decompressing voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def liver_slice_index(mask: np.ndarray) -> int:
    """The slice (first axis) with the largest liver area."""
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas))

"""Rendering one patient's anatomy as a T1- or T2-weighted scan on a scanner-like grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cirrbench.benchmark.common.package_data import packaged_rows
from cirrbench.benchmark.data.phantom.anatomy import PatientAnatomy
from cirrbench.benchmark.data.phantom.fields import RandomField

__all__ = ["CONTRAST", "Grid", "render", "Scanner"]


def _contrast() -> dict[str, dict[str, float]]:
    """Relative signal per tissue (liver parenchyma = 1) per sequence, from ``contrast.csv``.

    T1: fat bright, fluid dark, nodules bright, septa dark. T2: fluid and spleen bright, nodules
    dark, fibrotic septa bright. ``nodule_sign`` and ``septa_sign`` scale the stage's lesions.
    """
    rows = packaged_rows(__package__, "contrast.csv")
    return {sequence: {row["tissue"]: float(row[sequence]) for row in rows} for sequence in ("T1W", "T2W")}


CONTRAST = _contrast()


@dataclass(frozen=True)
class Grid:
    """A scan's voxel grid: size (x, y, z), spacing in mm, LPS origin, rotation about z (degrees)."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    rotation_deg: float = 0.0

    def points(self, z_offsets: np.ndarray) -> np.ndarray:
        """Patient-frame points (mm) of every voxel, for each sub-slice offset: (S, X*Y*Z, 3)."""
        nx, ny, nz = self.size
        sx, sy, sz = self.spacing
        i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
        x = self.origin[0] + sx * i
        y = self.origin[1] + sy * j
        theta = np.deg2rad(self.rotation_deg)
        xr = np.cos(theta) * x - np.sin(theta) * y
        yr = np.sin(theta) * x + np.cos(theta) * y
        out = []
        for dz in z_offsets:
            z = self.origin[2] + sz * (k + dz)
            out.append(np.stack([xr.ravel(), yr.ravel(), z.ravel()], axis=1).astype(np.float32))
        return np.stack(out)


@dataclass(frozen=True)
class Scanner:
    """A simulated centre's scanner for one sequence: gain, noise and bias-field strength."""

    gain: float
    snr: float
    bias: float


def _ellipse(points: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((points[:, 0] - cx) / rx) ** 2 + ((points[:, 1] - cy) / ry) ** 2 < 1.0


def _liver(anatomy: PatientAnatomy, points: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Normalised distance to the liver surface (< 1 inside) at ``points`` inside the body wall
    (``inner``) and the liver's height range; infinite elsewhere."""
    liver_d = np.full(len(points), np.inf, dtype=np.float32)
    near = inner & (points[:, 2] > -80) & (points[:, 2] < 100)
    liver_d[near] = anatomy.liver_distance(points[near])
    return liver_d


def _inner(anatomy: PatientAnatomy, points: np.ndarray) -> np.ndarray:
    b = anatomy.body_scale
    return _ellipse(points, 0.0, 2.0, 56.0 * b, 43.0 * b)


def _signal(anatomy: PatientAnatomy, sequence: str, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free relative signal and liver indicator at ``points`` (N, 3).

    Organs inside the body wall are evaluated at the inner points only: most of a slice is
    outside it, and an organ is drawn only inside it.
    """
    c = CONTRAST[sequence]
    b = anatomy.body_scale
    signal = np.full(len(points), c["air"], dtype=np.float32)
    body = _ellipse(points, 0.0, 2.0, 64.0 * b, 50.0 * b)
    inner = _inner(anatomy, points)
    signal[body] = c["fat"]
    signal[inner] = c["soft"]
    muscle = inner & ~_ellipse(points, 0.0, 2.0, 52.0 * b, 39.0 * b)
    signal[muscle] = c["muscle"]
    spine = _ellipse(points, 0.0, 37.0 * b, 9.0 * b, 8.0 * b)
    signal[spine] = c["cortex"]
    signal[_ellipse(points, 0.0, 37.0 * b, 7.5 * b, 6.5 * b)] = c["marrow"]
    signal[_ellipse(points, 7.0 * b, 25.0 * b, 5.5 * b, 5.5 * b)] = c["aorta"]
    signal[_ellipse(points, -10.0 * b, 22.0 * b, 6.5 * b, 5.5 * b)] = c["ivc"]
    within = np.flatnonzero(inner)
    signal[within[anatomy.spleen.distance(points[within]) < 1.0]] = c["spleen"]
    signal[within[anatomy.bowel.distance(points[within]) < 1.0]] = c["bowel"]

    liver_d = _liver(anatomy, points, inner)
    liver = liver_d < 1.0
    if anatomy.ascites_mm > 0:
        shell = (liver_d >= 1.0) & (liver_d < 1.0 + anatomy.ascites_mm / 28.0) & inner & ~spine
        signal[shell] = c["fluid"]

    p = points[liver]
    tissue = np.full(len(p), 1.0 - anatomy.liver_shift * (1 if sequence == "T1W" else -0.5), dtype=np.float32)
    tissue *= 1.0 + anatomy.heterogeneity * anatomy.heterogeneity_field(p)
    tissue += c["septa_sign"] * anatomy.septa_contrast * anatomy.septa_weight(p)
    tissue += c["nodule_sign"] * anatomy.nodule_contrast * anatomy.nodule_weight(p)
    vessel = anatomy.vessel_weight(p)
    signal[liver] = tissue * (1.0 - vessel) + c["vessel"] * vessel
    return signal, liver


def render(
    anatomy: PatientAnatomy, sequence: str, grid: Grid, scanner: Scanner, rng: np.random.Generator, sub_slices: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Scanner intensities (float, (x, y, z)) and the liver mask (uint8) of one scan.

    Thick slices average ``sub_slices`` samples across the slice (partial volume); the mask is
    the liver at the slice centre, as a manual delineation would be.
    """
    offsets = np.linspace(-0.33, 0.33, sub_slices) if sub_slices > 1 else np.array([0.0])
    all_points = grid.points(np.concatenate([[0.0], offsets]))
    if sub_slices > 1:
        liver = _liver(anatomy, all_points[0], _inner(anatomy, all_points[0])) < 1.0  # the centre's mask only
        signal = np.mean([_signal(anatomy, sequence, pts)[0] for pts in all_points[1:]], axis=0)
    else:
        signal, liver = _signal(anatomy, sequence, all_points[0])
    bias_field = RandomField.create(rng, wavelength_mm=260.0, n_waves=6)
    bias = np.exp(scanner.bias * bias_field(all_points[0])).astype(np.float32)
    clean = signal * bias * scanner.gain
    sigma = scanner.gain / scanner.snr
    noisy = np.sqrt((clean + rng.normal(0, sigma, clean.shape)) ** 2 + rng.normal(0, sigma, clean.shape) ** 2)
    shape = grid.size
    return noisy.reshape(shape), liver.reshape(shape).astype(np.uint8)

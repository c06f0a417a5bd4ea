"""Test-time perturbations of a scan: a slightly different mask, scanner or slice thickness.

Each kind changes the image, the mask or both, on voxel arrays in (z, y, x) order with the
scan's spacing in mm, so a level in mm means the same on every grid. A level of 0 leaves the
scan as it is (noise is given as an SNR, where no level means "no noise"). Random kinds draw from
a generator the caller seeds per scan (:mod:`cirrbench.benchmark.data.perturbed_scans`), so
every runner sees the same perturbed voxels.

The kinds follow the perturbation studies of radiomics (Zwanenburg et al., Sci Rep 2019:
rotation, noise, contour randomisation, volume growth and shrinkage) and add two an MRI
benchmark needs: a smooth multiplicative bias field and thicker slices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "DEFAULT_STABILITY",
    "KINDS",
    "Perturbation",
    "PerturbationKind",
    "inscribed_radius_mm",
    "level_problem",
    "perturb_arrays",
]

Arrays = tuple[np.ndarray, np.ndarray]  # image (float), mask (bool)
Spacing = tuple[float, float, float]  # mm along (z, y, x)


@dataclass(frozen=True)
class Perturbation:
    """One perturbation at one level; ``seed`` seeds the random kinds (per scan, see perturbed_scans)."""

    name: str
    level: float
    seed: int = 0

    @property
    def label(self) -> str:
        """``noise:20``: the name and level as tables and file columns show them."""
        return f"{self.name}:{self.level:g}"

    @property
    def kind(self) -> PerturbationKind:
        return KINDS[self.name]

    @property
    def is_identity(self) -> bool:
        return self.kind.identity_level is not None and self.level == self.kind.identity_level

    def as_list(self) -> list:
        return [self.name, float(self.level), int(self.seed)]


@dataclass(frozen=True)
class PerturbationKind:
    name: str
    unit: str  # what a level is, for docs and errors
    changes: str  # "mask", "image" or "image+mask"
    low: float  # the smallest level allowed
    high: float  # the largest level allowed
    apply: Callable[[np.ndarray, np.ndarray, Spacing, float, np.random.Generator], Arrays]
    identity_level: float | None = 0.0  # the level that changes nothing (None: every level changes the scan)
    low_open: bool = False  # the smallest level itself is not allowed (an SNR of 0)
    high_open: bool = False
    random: bool = False  # draws from the per-scan generator

    def range_text(self) -> str:
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{self.low:g}, {self.high:g}{right} {self.unit}"


# ---- the kinds --------------------------------------------------------------------------------
def _erode(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Keep the liver voxels more than ``level`` mm from the background."""
    inside = ndimage.distance_transform_edt(mask, sampling=spacing)
    return image, inside > level


def _dilate(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Add the voxels at most ``level`` mm from the liver."""
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return image, outside <= level


CONTOUR_SMOOTHING_MM = 8.0  # correlation length of the boundary's random displacement


def _contour_random(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Move the boundary by a smooth random displacement of SD ``level`` mm: the mask becomes the
    voxels where the signed distance to the boundary plus that field stays positive."""
    signed = ndimage.distance_transform_edt(mask, sampling=spacing) - ndimage.distance_transform_edt(
        ~mask, sampling=spacing
    )
    field = ndimage.gaussian_filter(
        rng.standard_normal(mask.shape), sigma=[CONTOUR_SMOOTHING_MM / s for s in spacing], mode="reflect"
    )
    field /= field.std() or 1.0
    return image, signed + level * field > 0


def _noise(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Add Gaussian noise whose SD is the mean liver intensity divided by ``level`` (the SNR)."""
    signal = float(np.mean(image[mask])) if mask.any() else float(np.mean(np.abs(image)))
    return image + rng.normal(0.0, abs(signal) / level, size=image.shape), mask


def _bias_field(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Multiply by 1 + ``level`` x a random quadratic field over the volume scaled to [-1, 1]: the
    slowly varying coil sensitivity of MRI."""
    axes = [np.linspace(-1.0, 1.0, n) for n in image.shape]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    terms = (z, y, x, z * y, z * x, y * x, z * z, y * y, x * x)
    field = sum(c * t for c, t in zip(rng.standard_normal(len(terms)), terms))
    field = field / (np.abs(field).max() or 1.0)
    return image * (1.0 + level * field), mask


def _resample_z(volume: np.ndarray, factor: float, order: int) -> np.ndarray:
    """``volume`` sampled at ``factor`` times its slice spacing and back onto its own grid."""
    n = volume.shape[0]
    coarse_n = max(2, int(round((n - 1) / factor)) + 1)
    coarse_z = np.linspace(0.0, n - 1, coarse_n)
    grid = np.meshgrid(coarse_z, *[np.arange(s) for s in volume.shape[1:]], indexing="ij")
    coarse = ndimage.map_coordinates(volume, grid, order=order, mode="nearest")
    back_z = np.arange(n) * (coarse_n - 1) / max(n - 1, 1)
    grid = np.meshgrid(back_z, *[np.arange(s) for s in volume.shape[1:]], indexing="ij")
    return ndimage.map_coordinates(coarse, grid, order=order, mode="nearest")


def _thick_slices(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Resample through-plane to ``level`` mm slices and back (linear; the mask at 0.5): the
    detail lost between thick slices. A level at or below the scan's spacing changes nothing."""
    factor = level / spacing[0]
    if factor <= 1.0:
        return image, mask
    return _resample_z(image, factor, 1), _resample_z(mask.astype(float), factor, 1) >= 0.5


def _rotate(image: np.ndarray, mask: np.ndarray, spacing: Spacing, level: float, rng) -> Arrays:
    """Rotate each axial slice by ``level`` degrees about its centre (linear; the mask at 0.5)."""
    turned = ndimage.rotate(image, level, axes=(1, 2), reshape=False, order=1, mode="nearest")
    turned_mask = ndimage.rotate(mask.astype(float), level, axes=(1, 2), reshape=False, order=1) >= 0.5
    return turned, turned_mask


KINDS: dict[str, PerturbationKind] = {
    k.name: k
    for k in (
        PerturbationKind("mask-erode", "mm", "mask", 0.0, 50.0, _erode),
        PerturbationKind("mask-dilate", "mm", "mask", 0.0, 50.0, _dilate),
        PerturbationKind(
            "contour-random", "mm (SD of the boundary's displacement)", "mask", 0.0, 20.0, _contour_random, random=True
        ),
        PerturbationKind(
            "noise", "(SNR in the liver)", "image", 0.0, 1e6, _noise, identity_level=None, low_open=True, random=True
        ),
        PerturbationKind(
            "bias-field", "(largest relative gain change)", "image", 0.0, 1.0, _bias_field, high_open=True, random=True
        ),
        PerturbationKind("thick-slices", "mm (slice thickness)", "image+mask", 0.0, 50.0, _thick_slices),
        PerturbationKind("rotate", "degrees (in-plane)", "image+mask", -45.0, 45.0, _rotate),
    )
}


#: A radiomics feature is robust to the perturbations at ICC(1,1) >= this (Zwanenburg et al. 2019):
#: the stable-features variant's threshold and the report's rule.
ROBUST_ICC = 0.9

#: What a feature's robustness is measured with when the config declares no perturbations: a
#: short chain in the spirit of Zwanenburg et al. (contour randomisation, noise, rotation).
DEFAULT_STABILITY: tuple[Perturbation, ...] = (
    Perturbation("contour-random", 2.0),
    Perturbation("noise", 40.0),
    Perturbation("rotate", 5.0),
)


def level_problem(name: str, level: object) -> str | None:
    """Why ``level`` is no level of perturbation ``name`` (None: it is)."""
    kind = KINDS[name]
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not np.isfinite(level):
        return f"{level!r} is not a number"
    too_low = level < kind.low or (kind.low_open and level == kind.low)
    too_high = level > kind.high or (kind.high_open and level == kind.high)
    if too_low or too_high:
        return f"{level!r} is outside {kind.range_text()}"
    return None


def perturb_arrays(
    image: np.ndarray, mask: np.ndarray, spacing: Spacing, perturbation: Perturbation, rng: np.random.Generator
) -> Arrays:
    """The perturbed image (float) and mask (bool); an emptied mask is an error naming the level."""
    kind = perturbation.kind
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask) > 0
    if perturbation.is_identity:
        return image, mask
    new_image, new_mask = kind.apply(image, mask, spacing, float(perturbation.level), rng)
    if mask.any() and not new_mask.any():
        raise ValueError(f"{perturbation.label} erases the liver mask; use a smaller level")
    return new_image, new_mask


def inscribed_radius_mm(mask: np.ndarray, spacing: Spacing) -> float:
    """The largest distance (mm) from a liver voxel to the background: an erosion by this much or
    more leaves nothing.

    The distance transform runs on the mask's bounding box grown by one voxel where the volume
    allows: every background voxel outside that box is farther from the liver than the box's
    own border (all background), so the values are those of the whole volume, to the bit, at a
    fifth of the time (the run checks every scan before any job).
    """
    mask = np.asarray(mask) > 0
    if not mask.any():
        return 0.0
    box = tuple(slice(max(int(index.min()) - 1, 0), int(index.max()) + 2) for index in np.nonzero(mask))
    return float(ndimage.distance_transform_edt(mask[box], sampling=spacing).max())

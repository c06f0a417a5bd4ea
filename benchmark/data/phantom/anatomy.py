"""One synthetic patient: a latent cirrhosis severity and the anatomy it produces.

Coordinates are millimetres in an LPS patient frame centred on the abdomen (x to the patient's
left, y posterior, z superior). Every stage effect is driven by the latent severity through
``g(s)`` and multiplied by its own per-patient nuisance factor, so no single feature is a perfect
read-out of the stage; the latent severity itself overlaps between stages (moderate overlaps both
neighbours, which is what makes it the hardest stage, as on real data).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cirrbench.benchmark.data.phantom.fields import RandomField

__all__ = [
    "Ellipsoid",
    "HEALTHY_SEVERITY",
    "make_patient",
    "Nodule",
    "PatientAnatomy",
    "severity_drive",
    "STAGE_CENTRES",
    "Tube",
]

STAGE_CENTRES = (0.0, 1.0, 2.0)  # latent severity means for mild, moderate, severe
HEALTHY_SEVERITY = -0.9


def severity_drive(s: float) -> float:
    """Convex map from latent severity to effect size: mild and moderate differ less than moderate and severe."""
    return float(np.clip((s + 0.6) / 2.6, 0.0, 1.25) ** 1.7)


@dataclass(frozen=True)
class Ellipsoid:
    centre: np.ndarray
    radii: np.ndarray

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Normalised radial distance: < 1 inside. Summed one axis after the other, as
        ``.sum(axis=1)`` does over three values (the same bits), without an (N, 3) temporary."""
        x, y, z = ((points[:, i] - self.centre[i]) / self.radii[i] for i in range(3))
        return np.sqrt(x * x + y * y + z * z)


@dataclass(frozen=True)
class Nodule:
    centre: np.ndarray
    radius: float


@dataclass(frozen=True)
class Tube:
    start: np.ndarray
    end: np.ndarray
    radius: float

    def distance(self, points: np.ndarray) -> np.ndarray:
        axis = self.end - self.start
        t = np.clip(((points - self.start) @ axis) / float(axis @ axis), 0.0, 1.0)
        nearest = self.start + t[:, None] * axis
        return np.linalg.norm(points - nearest, axis=1)


@dataclass(frozen=True)
class PatientAnatomy:
    severity: float
    drive: float
    body_scale: float
    lobes: tuple[Ellipsoid, ...]
    spleen: Ellipsoid
    bowel: Ellipsoid
    nodularity_mm: float
    nodularity_field: RandomField
    heterogeneity: float
    heterogeneity_field: RandomField
    septa_width: float
    septa_contrast: float
    septa_field: RandomField
    nodules: tuple[Nodule, ...]
    nodule_contrast: float
    vessels: tuple[Tube, ...]
    ascites_mm: float
    liver_shift: float  # relative change of liver base signal with disease

    # ---- geometry ---------------------------------------------------------------------------
    def liver_distance(self, points: np.ndarray) -> np.ndarray:
        """Normalised distance to the liver surface (< 1 inside), with surface nodularity."""
        d = functools.reduce(np.minimum, (lobe.distance(points) for lobe in self.lobes))
        near = d < 1.35
        if self.nodularity_mm > 0 and near.any():
            bumps = self.nodularity_field(points[near])
            # A rectified field gives bulging nodules rather than symmetric ripples.
            d[near] = d[near] - self.nodularity_mm / 28.0 * (np.abs(bumps) - 0.6)
        return d

    def nodule_weight(self, points: np.ndarray) -> np.ndarray:
        weight = np.zeros(len(points), dtype=np.float32)
        for nodule in self.nodules:
            r = np.linalg.norm(points - nodule.centre, axis=1) / nodule.radius
            weight = np.maximum(weight, np.clip(1.5 - r, 0.0, 1.0) ** 1.5)
        return weight

    def vessel_weight(self, points: np.ndarray) -> np.ndarray:
        weight = np.zeros(len(points), dtype=np.float32)
        for tube in self.vessels:
            r = tube.distance(points) / tube.radius
            weight = np.maximum(weight, np.clip(1.3 - r, 0.0, 1.0))
        return weight

    def septa_weight(self, points: np.ndarray) -> np.ndarray:
        field = self.septa_field(points)
        return np.exp(-((field / max(self.septa_width, 1e-3)) ** 2)).astype(np.float32)


def _sample_inside(rng: np.random.Generator, lobes: tuple[Ellipsoid, ...], n: int, depth: float = 0.8) -> np.ndarray:
    """Uniform points inside the liver's lobes (rejection sampling in the bounding box)."""
    lows = np.min([lobe.centre - lobe.radii for lobe in lobes], axis=0)
    highs = np.max([lobe.centre + lobe.radii for lobe in lobes], axis=0)
    found: list[np.ndarray] = []
    while sum(len(f) for f in found) < n:
        candidates = rng.uniform(lows, highs, size=(max(64, 4 * n), 3))
        d = np.min(np.stack([lobe.distance(candidates) for lobe in lobes]), axis=0)
        found.append(candidates[d < depth])
    return np.concatenate(found)[:n]


def make_patient(rng: np.random.Generator, stage: int | None, severity_sd: float) -> PatientAnatomy:
    """Draw one patient; ``stage`` None makes a healthy volunteer."""
    if stage is None:
        s = HEALTHY_SEVERITY + rng.normal(0, 0.15)
    else:
        s = STAGE_CENTRES[stage] + rng.normal(0, severity_sd)
    g = severity_drive(s)

    def nuisance(sd: float) -> float:
        return float(np.exp(rng.normal(0, sd)))

    body = float(rng.normal(1.0, 0.06))
    # Right-lobe atrophy, caudate and left-lobe hypertrophy; overall shrinkage when severe.
    right = (1.0 - 0.16 * g * nuisance(0.35)) * nuisance(0.07)
    caudate = (1.0 + 0.45 * g * nuisance(0.35)) * nuisance(0.1)
    left = (1.0 + 0.12 * g * nuisance(0.4)) * nuisance(0.1)
    lobes = (
        Ellipsoid(np.array([-22.0, 4.0, 10.0]) * body, np.array([31.0, 29.0, 44.0]) * body * right),
        Ellipsoid(np.array([14.0, -16.0, 22.0]) * body, np.array([27.0, 13.0, 24.0]) * body * left),
        Ellipsoid(np.array([-4.0, 12.0, 18.0]) * body, np.array([10.0, 9.0, 16.0]) * body * caudate),
    )
    spleen_scale = (1.0 + 0.35 * g * nuisance(0.4)) * nuisance(0.1)
    spleen = Ellipsoid(np.array([42.0, 16.0, 16.0]) * body, np.array([11.0, 10.0, 24.0]) * body * spleen_scale)
    bowel = Ellipsoid(np.array([24.0, -22.0, -22.0]) * body, np.array([22.0, 14.0, 18.0]) * body * nuisance(0.1))

    n_nodules = int(rng.poisson(0.5 + 9.0 * g))
    centres = _sample_inside(rng, lobes, n_nodules) if n_nodules else np.zeros((0, 3))
    nodules = tuple(Nodule(c, float(rng.uniform(2.2, 3.0 + 3.0 * g))) for c in centres)

    vessels = []
    hilum = np.array([-6.0, 8.0, 4.0]) * body
    for end in _sample_inside(rng, lobes, int(rng.integers(3, 6)), depth=0.75):
        vessels.append(Tube(hilum, end, float(rng.uniform(1.8, 3.2)) * body))

    ascites_probability = 1.0 / (1.0 + np.exp(-(s - 1.7) / 0.25))
    ascites = float(rng.uniform(2.0, 4.0 + 8.0 * g)) if rng.random() < ascites_probability else 0.0

    return PatientAnatomy(
        severity=float(s),
        drive=g,
        body_scale=body,
        lobes=lobes,
        spleen=spleen,
        bowel=bowel,
        nodularity_mm=(0.4 + 2.6 * g) * nuisance(0.4),
        nodularity_field=RandomField.create(rng, wavelength_mm=11.0),
        heterogeneity=(0.035 + 0.07 * g) * nuisance(0.35),
        heterogeneity_field=RandomField.create(rng, wavelength_mm=6.0),
        septa_width=(0.03 + 0.14 * g) * nuisance(0.3),
        septa_contrast=(0.05 + 0.3 * g) * nuisance(0.35),
        septa_field=RandomField.create(rng, wavelength_mm=15.0),
        nodules=nodules,
        nodule_contrast=(0.08 + 0.12 * g) * nuisance(0.3),
        vessels=tuple(vessels),
        ascites_mm=ascites,
        liver_shift=0.06 * g * float(rng.normal(1.0, 0.5)),
    )

"""Smooth random fields evaluated at arbitrary points (random Fourier features).

A field is defined in millimetres in the patient frame, not on a grid, so a patient's T1 and T2
scans (different grids, spacings and positions) show the very same anatomy and texture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RandomField"]


@dataclass(frozen=True)
class RandomField:
    """Approximately N(0, 1) stationary field with a characteristic wavelength in mm."""

    wavevectors: np.ndarray  # (K, 3), rad/mm
    phases: np.ndarray  # (K,)

    @classmethod
    def create(
        cls,
        rng: np.random.Generator,
        wavelength_mm: float,
        n_waves: int = 16,
        anisotropy: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> RandomField:
        directions = rng.normal(size=(n_waves, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        magnitudes = 2 * np.pi / wavelength_mm * rng.uniform(0.7, 1.3, size=(n_waves, 1))
        wavevectors = directions * magnitudes * np.asarray(anisotropy)[None, :]
        return cls(wavevectors.astype(np.float32), rng.uniform(0, 2 * np.pi, size=n_waves).astype(np.float32))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """``points`` is (N, 3) in mm; returns (N,) float32."""
        phase = points.astype(np.float32) @ self.wavevectors.T + self.phases[None, :]
        return np.cos(phase).sum(axis=1) * np.float32(np.sqrt(2.0 / len(self.phases)))

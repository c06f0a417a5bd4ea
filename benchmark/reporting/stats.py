"""Uncertainty and comparisons: corrected resampled t, exact McNemar, Holm (the patient bootstrap
lives in :mod:`benchmark.resampling`; :mod:`benchmark.evaluation` decides which applies).

- One test set (official, paired, a single file split): 95 % CI from a seeded patient-level
  bootstrap (percentile), paired comparison by the exact McNemar test on patient correctness.
- Repeated cross-validation: the folds' estimates are not independent (training sets overlap), so
  the plain t interval is too narrow; the Nadeau-Bengio correction inflates the variance by
  ``1/J + n_test/n_train`` (Nadeau & Bengio 2003; Bouckaert & Frank 2004), both for the CI of one
  method and for the paired difference of two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["corrected_paired_t", "corrected_t_ci", "Estimate", "holm", "mcnemar_exact"]


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    method: str  # bootstrap | corrected-t | none

    def format(self, digits: int = 3, percent: bool = False) -> str:
        scale, fmt = (100.0, "{:.1f}") if percent else (1.0, f"{{:.{digits}f}}")
        if not np.isfinite(self.value):
            return "n/a"
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return fmt.format(self.value * scale)
        return f"{fmt.format(self.value * scale)} [{fmt.format(self.low * scale)}, {fmt.format(self.high * scale)}]"


def corrected_t_ci(
    values: np.ndarray, test_fraction: float, alpha: float = 0.05, bounds: tuple[float, float] | None = None
) -> Estimate:
    """Nadeau-Bengio corrected resampled-t CI of the mean over J resamples.

    ``test_fraction`` is n_test / n_train of one resample (e.g. 1/4 for 5-fold CV). ``bounds``
    clips the interval to the metric's range (a t interval knows nothing about it).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    j = len(values)
    mean = float(values.mean()) if j else float("nan")
    if j < 2:
        return Estimate(mean, float("nan"), float("nan"), "corrected-t")
    variance = (1.0 / j + test_fraction) * values.var(ddof=1)
    half = stats.t.ppf(1 - alpha / 2, j - 1) * np.sqrt(variance)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(mean, float(low), float(high), "corrected-t")


def corrected_paired_t(a: np.ndarray, b: np.ndarray, test_fraction: float) -> tuple[float, float]:
    """(mean difference a - b, two-sided p) of the corrected resampled t-test over paired resamples."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diff = diff[np.isfinite(diff)]
    j = len(diff)
    if j < 2:
        return float("nan"), float("nan")
    mean = float(diff.mean())
    variance = (1.0 / j + test_fraction) * diff.var(ddof=1)
    if variance == 0:
        return mean, 0.0 if mean != 0 else 1.0
    t = mean / np.sqrt(variance)
    return mean, float(2 * stats.t.sf(abs(t), j - 1))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """Exact McNemar test on paired correctness: (a right b wrong, a wrong b right, two-sided p)."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(stats.binomtest(only_a, n, 0.5).pvalue)
    return only_a, only_b, p


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), NaN kept in place."""
    p = np.asarray(p_values, dtype=float)
    finite = np.where(np.isfinite(p))[0]
    adjusted = np.full_like(p, np.nan)
    if len(finite) == 0:
        return adjusted.tolist()
    order = finite[np.argsort(p[finite])]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()

"""Uncertainty and comparisons: corrected resampled t, exact McNemar, Holm (the patient bootstrap
lives in :mod:`cirrbench.benchmark.reporting.resampling`; :mod:`cirrbench.benchmark.reporting.evaluation` decides which applies).

- One test set (official, paired, a single file split): 95 % CI from a seeded patient-level
  bootstrap stratified by stage (bias-corrected percentile), paired comparison by the exact
  McNemar test on patient correctness with the interval that inverts it.
- Repeated cross-validation: the folds' estimates are not independent (training sets overlap), so
  the plain t interval is too narrow; the Nadeau-Bengio correction inflates the variance by
  ``1/J + n_test/n_train`` (Nadeau & Bengio 2003; Bouckaert & Frank 2004), both for the CI of one
  method and for the paired difference of two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "bias_corrected_interval",
    "bias_corrected_p",
    "corrected_paired_t",
    "corrected_t_ci",
    "detectable_difference_bootstrap",
    "detectable_difference_t",
    "Estimate",
    "holm",
    "mcnemar_exact",
    "mcnemar_interval",
]

log = logging.getLogger(__name__)


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


def corrected_paired_t(
    a: np.ndarray, b: np.ndarray, test_fraction: float, name: str = "a paired comparison"
) -> tuple[float, float]:
    """(mean difference a - b, two-sided p) of the corrected resampled t-test over paired resamples.

    Identical differences in every split leave no variance to test against: p is NaN, with a
    warning that names the comparison (a p of 1e-31 from rounding noise would read as a finding).
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diff = diff[np.isfinite(diff)]
    j = len(diff)
    if j < 2:
        return float("nan"), float("nan")
    mean = float(diff.mean())
    spread = float(diff.max() - diff.min())
    if spread <= 1e-12 * max(1.0, abs(mean)):
        log.warning(
            "%s: the difference is %+.4g in every one of %d splits, so the corrected t-test has no "
            "variance to test against; its p is left undefined (NaN)",
            name,
            mean,
            j,
        )
        return mean, float("nan")
    variance = (1.0 / j + test_fraction) * diff.var(ddof=1)
    t = mean / np.sqrt(variance)
    return mean, float(2 * stats.t.sf(abs(t), j - 1))


def detectable_difference_t(diff: np.ndarray, test_fraction: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest difference the corrected resampled t-test over these splits detects with
    ``power`` at ``alpha`` (two-sided), from the observed variance of the per-split differences."""
    diff = np.asarray(diff, dtype=float)
    diff = diff[np.isfinite(diff)]
    j = len(diff)
    if j < 2:
        return float("nan")
    se = np.sqrt((1.0 / j + test_fraction) * diff.var(ddof=1))
    if se <= 1e-12:
        return float("nan")  # no observed variance: what the design could detect is not known
    return float((stats.t.ppf(1 - alpha / 2, j - 1) + stats.t.ppf(power, j - 1)) * se)


def detectable_difference_bootstrap(draws: np.ndarray, power: float = 0.8, alpha: float = 0.05) -> float:
    """The same for one test set: the normal approximation with the paired bootstrap's standard
    error of the difference, (z_{1-alpha/2} + z_{power}) x SE."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2 or draws.std(ddof=1) <= 1e-12:  # no variance (identical predictions, one patient a stage)
        return float("nan")
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * draws.std(ddof=1))


def _bias(point: float, draws: np.ndarray) -> float:
    """z0 of the bias-corrected bootstrap: where the estimate sits among its resampled values
    (ties count half), as a standard normal quantile, clipped to the resolution of the draws."""
    b = len(draws)
    below = (np.sum(draws < point) + 0.5 * np.sum(draws == point)) / b
    return float(stats.norm.ppf(np.clip(below, 0.5 / b, 1 - 0.5 / b)))


def bias_corrected_interval(point: float, draws: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Bias-corrected percentile bootstrap interval (Efron 1987; Efron & Tibshirani 1993, 14.3).

    A biased statistic (ECE on a small test set is larger in nearly every resample) makes the plain
    percentile interval miss its own estimate; the correction shifts the percentiles by how far the
    estimate sits from the draws' median. Where the draws lie almost all on one side of the
    estimate, the interval is extended to reach it, so it always contains the estimate it brackets.
    Unbiased draws (median at the estimate) give the percentile interval.
    """
    draws = np.asarray(draws, dtype=float)
    z0 = _bias(point, draws)
    z = stats.norm.ppf(1 - alpha / 2)
    low_q, high_q = stats.norm.cdf(2 * z0 - z), stats.norm.cdf(2 * z0 + z)
    low, high = np.quantile(draws, [low_q, high_q], method="inverted_cdf")
    return float(min(low, point)), float(max(high, point))


def bias_corrected_p(point: float, draws: np.ndarray) -> float:
    """Two-sided p of "no difference" that agrees with :func:`bias_corrected_interval` of the same
    draws: p < alpha exactly when that interval (before any extension) excludes 0."""
    draws = np.asarray(draws, dtype=float)
    z0 = _bias(point, draws)
    above_zero = 2 * z0 - stats.norm.ppf(np.mean(draws <= 0))  # > z: the interval lies above 0
    below_zero = stats.norm.ppf(np.mean(draws < 0)) - 2 * z0  # > z: the interval lies below 0
    return float(min(1.0, 2 * stats.norm.sf(max(above_zero, below_zero))))


def mcnemar_interval(only_a: int, only_b: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """CI of the accuracy difference (a - b) on ``n`` paired patients that agrees with the exact
    McNemar test: the Clopper-Pearson interval of the share of discordant patients that favour a,
    conditional on the discordant count (the test's own conditioning), mapped to a difference.
    It excludes 0 exactly when the exact test's two-sided p is below ``alpha``."""
    discordant = only_a + only_b
    if discordant == 0 or n == 0:
        return 0.0, 0.0
    ci = stats.binomtest(only_a, discordant, 0.5).proportion_ci(confidence_level=1 - alpha, method="exact")
    scale = discordant / n
    return float((2 * ci.low - 1) * scale), float((2 * ci.high - 1) * scale)


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

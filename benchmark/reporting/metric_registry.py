"""The metric registry: every metric with its names, direction and bounds declared, not guessed.

Built-in metrics (accuracy, balanced accuracy, macro precision / recall / specificity / F1, AUC,
QWK, stage MAE, ECE, Brier) are computed by :func:`cirrbench.benchmark.reporting.metric_values.compute_metrics`
and, for the bootstrap, from sufficient statistics (:mod:`cirrbench.benchmark.reporting.resampling`). A
metric added in one file (a plugin) gives ``compute(y_true, proba, labels) -> float``; the report
computes it per split and, for one test set, per bootstrap resample of patients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cirrbench.benchmark.common.registry import Registry
from cirrbench.benchmark.data.labels import LabelSet

__all__ = [
    "BUILTIN_METRICS",
    "Metric",
    "register_metric",
    "unregister_metric",
    "get_metric",
    "available_metrics",
    "metric_display",
    "metric_short",
    "lower_is_better",
    "direction",
    "favours_first",
    "metric_bounds",
    "supported_metric",
]


@dataclass(frozen=True)
class Metric:
    """A metric as the tables, figures and statistics need it.

    Args:
        name: the name in configs (``f1``); per-class forms are ``<name>_<class>`` when ``per_class``.
        display: the long name ("Macro F1").
        short: the column header ("F1").
        higher_is_better: the direction (marks, "best", the verdict's wording).
        bounds: the range, fixed or from the label set (clips confidence intervals).
        ordinal_only: only for ordered label sets (QWK, MAE).
        per_class: also ``<name>_<class>`` per class.
        compute: ``f(y_true, proba, labels) -> float`` for metrics not built in; None for built-ins.
    """

    name: str
    display: str
    short: str
    higher_is_better: bool = True
    bounds: tuple[float, float] | Callable[[LabelSet], tuple[float, float]] = (0.0, 1.0)
    ordinal_only: bool = False
    per_class: bool = False
    compute: Callable[[np.ndarray, np.ndarray, LabelSet], float] | None = None


_METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Make ``metric`` usable by name in ``metrics: {main, table, secondary}``.

    Args:
        metric: its declaration.

    Returns:
        The metric; a name taken by another declaration is an error.
    """
    return _METRICS.register(metric.name, metric)


def unregister_metric(name: str) -> None:
    """Forget a metric (tests and interactive sessions). Unknown names are ignored."""
    _METRICS.unregister(name)


#: The built-in metrics, declared where the registry lives (their computations are in
#: :mod:`cirrbench.benchmark.reporting.metric_values` and :mod:`cirrbench.benchmark.reporting.resampling`).
BUILTIN_METRICS = (
    Metric("accuracy", "Accuracy", "Accuracy"),
    Metric("balanced_accuracy", "Balanced accuracy", "Bal. accuracy"),
    Metric("precision", "Macro precision", "Precision", per_class=True),
    Metric("recall", "Macro recall (sensitivity)", "Recall", per_class=True),
    Metric("specificity", "Macro specificity", "Specificity", per_class=True),
    Metric("f1", "Macro F1", "F1", per_class=True),
    Metric("auc", "Macro one-vs-rest AUC", "AUC", per_class=True),
    Metric("qwk", "Quadratic weighted kappa", "QWK", bounds=(-1.0, 1.0), ordinal_only=True),
    Metric(
        "mae",
        "Stage MAE (mean absolute error in stages)",
        "MAE",
        higher_is_better=False,
        bounds=lambda labels: (0.0, float(labels.n_classes - 1)),
        ordinal_only=True,
    ),
    Metric("ece", "Expected calibration error", "ECE", higher_is_better=False),
    Metric("brier", "Brier score", "Brier", higher_is_better=False, bounds=(0.0, 2.0)),
)
for _metric in BUILTIN_METRICS:
    register_metric(_metric)


def available_metrics() -> dict[str, Metric]:
    return _METRICS.entries()


def _split(name: str) -> tuple[Metric | None, str]:
    """(the metric, the class name of a per-class form or "")."""
    if name in _METRICS:  # the common case: no copy of the registry (called per table cell)
        return _METRICS.get(name), ""
    for base, metric in _METRICS.entries().items():
        if metric.per_class and name.startswith(base + "_"):
            return metric, name[len(base) + 1 :]
    return None, ""


def get_metric(name: str) -> Metric:
    metric, _ = _split(name)
    if metric is None:
        raise KeyError(f"unknown metric {name!r}; available: {', '.join(available_metrics())}")
    return metric


def supported_metric(name: str, labels: LabelSet) -> bool:
    """Whether ``name`` can be computed for this label set."""
    metric, cls = _split(name)
    if metric is None or (metric.ordinal_only and not labels.ordinal):
        return False
    return not cls or cls in labels.names


def metric_display(name: str) -> str:
    metric, cls = _split(name)
    return name if metric is None else (f"{metric.display} ({cls})" if cls else metric.display)


def metric_short(name: str) -> str:
    metric, cls = _split(name)
    return name if metric is None else (f"{metric.short} {cls}" if cls else metric.short)


def lower_is_better(name: str) -> bool:
    metric, _ = _split(name)
    return metric is not None and not metric.higher_is_better


def direction(name: str) -> int:
    """+1 where a higher value is better, -1 where lower is (MAE, ECE, Brier, plugins declaring so):
    the one source every sentence, marker, colour and "best" choice asks."""
    return -1 if lower_is_better(name) else 1


def favours_first(name: str, difference: float) -> bool:
    """Whether ``difference`` (first minus second, in ``name``) says the first method is better."""
    return bool(np.isfinite(difference)) and direction(name) * difference > 0


def metric_bounds(name: str, labels: LabelSet) -> tuple[float, float]:
    metric, _ = _split(name)
    if metric is None:
        return (-np.inf, np.inf)
    return metric.bounds(labels) if callable(metric.bounds) else metric.bounds

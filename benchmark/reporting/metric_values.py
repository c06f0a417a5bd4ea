"""Metrics computed from prediction files only, from confusion counts and score ranks in numpy.

Every function takes true labels, predicted labels and/or probabilities for one test set and
works for any number of classes; the ordinal ones (quadratic weighted kappa, stage MAE) are only
computed when the label set is ordinal.

Each value is scikit-learn's, to the bit (tests/test_metrics.py holds them equal on random test
sets with ties and absent classes): the formulas are those of ``precision_recall_fscore_support``,
``cohen_kappa_score`` and ``roc_auc_score``, computed once from the counts. A report scores every
job's every split (hundreds of small test sets); scikit-learn validates its arguments on each of
the ten calls per set, and that validation was most of the time (issue 27).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from cirrbench.benchmark.common.decision import decide
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.reporting.metric_registry import available_metrics, supported_metric

__all__ = [
    "binary_auc",
    "compute_metrics",
    "confusion",
    "expected_calibration_error",
    "multiclass_brier",
    "ovr_auc",
    "patient_level",
    "probability_columns",
    "slice_level",
    "specificity_per_class",
]


def specificity_per_class(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """TN / (TN + FP) per class, one-vs-rest (scikit-learn has no direct function for it)."""
    return _specificity(confusion(y_true, y_pred, n_classes))


def _specificity(cm: np.ndarray) -> np.ndarray:
    n_classes = cm.shape[0]
    total = cm.sum()
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        fp = cm[:, k].sum() - cm[k, k]
        tn = total - cm[k, :].sum() - cm[:, k].sum() + cm[k, k]
        out[k] = tn / (tn + fp) if (tn + fp) else np.nan
    return out


def multiclass_brier(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean over samples of the squared distance between the probability vector and the one-hot truth."""
    onehot = np.eye(proba.shape[1])[y_true]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10, predicted: np.ndarray | None = None
) -> float:
    """Top-label ECE with equal-width confidence bins (Guo et al. 2017); ``predicted`` (default:
    :func:`decide` by position) is the label whose correctness the confidence is held against."""
    confidence = proba.max(axis=1)
    predicted = decide(proba) if predicted is None else predicted
    correct = (predicted == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` mask (both classes present):
    scikit-learn's ``roc_auc_score`` step by step (its threshold points, the collinear ones
    dropped, the trapezoid rule), so the value is the same to the bit."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ranked = np.asarray(scores, dtype=float)[order]
    thresholds = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(np.asarray(positive, dtype=np.float64)[order], dtype=np.float64)[thresholds]
    fps = 1 + thresholds.astype(np.float64) - tps
    if fps.shape[0] > 2:
        corners = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[corners], tps[corners]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return float(trapezoid(tps / tps[-1], fps / fps[-1]))


def ovr_auc(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro one-vs-rest AUC and per-class AUCs; NaN where a class is absent from the test set."""
    n_classes = proba.shape[1]
    per_class = np.full(n_classes, np.nan)
    for k in range(n_classes):
        positive = y_true == k
        if positive.any() and (~positive).any():
            per_class[k] = binary_auc(positive, proba[:, k])
    macro = float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan")
    return macro, per_class


def compute_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: LabelSet, keys: Sequence[str] | None = None
) -> dict[str, float]:
    """All scalar metrics for one test set. Keys ``<metric>`` (macro) and ``<metric>_<class>``.

    Macro precision, recall, F1 and specificity average over the classes seen in the truth or the
    predictions, with 0 for an undefined ratio: scikit-learn's
    ``precision_recall_fscore_support(average="macro", zero_division=0)``. Balanced accuracy
    averages recall over the classes in the truth (``balanced_accuracy_score``). A class absent
    from a small test set is expected, not alarming: its per-class values are NaN, so
    scikit-learn's warnings about it are silenced here. ``keys`` identify the rows for the
    tie-breaking draw (:func:`decide`).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        values = _compute_metrics(y_true, proba, labels, keys)
        for metric in available_metrics().values():  # metrics added by plugins
            if metric.compute is not None and supported_metric(metric.name, labels):
                values[metric.name] = float(
                    metric.compute(np.asarray(y_true, dtype=int), np.asarray(proba, dtype=float), labels)
                )
        return values


def _compute_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: LabelSet, keys: Sequence[str] | None
) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    y_pred = decide(proba, keys)
    k = labels.n_classes
    classes = list(range(k))
    cm = confusion(y_true, y_pred, k)
    precision, recall, f1 = _precision_recall_f1(cm)
    specificity = _specificity(cm)
    auc_macro, auc = ovr_auc(y_true, proba)
    present = np.isin(classes, y_true)
    seen = present | np.isin(classes, y_pred)  # scikit-learn's macro average runs over these labels
    out: dict[str, float] = {
        "n": float(len(y_true)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(np.mean(recall[present])) if present.any() else float("nan"),
        "precision": float(np.mean(precision[seen])),
        "recall": float(np.mean(recall[seen])),
        "specificity": float(np.nanmean(specificity[seen])) if np.isfinite(specificity[seen]).any() else float("nan"),
        "f1": float(np.mean(f1[seen])),
        "auc": auc_macro,
        "brier": multiclass_brier(y_true, proba),
        "ece": expected_calibration_error(y_true, proba, predicted=y_pred),
    }
    if labels.ordinal:
        out["qwk"] = _quadratic_kappa(cm) if len(np.unique(np.r_[y_true, y_pred])) > 1 else 0.0
        out["mae"] = float(np.mean(np.abs(y_true - y_pred)))
    for index, name in enumerate(labels.names):
        out[f"precision_{name}"] = float(precision[index]) if present[index] else float("nan")
        out[f"recall_{name}"] = float(recall[index]) if present[index] else float("nan")
        out[f"specificity_{name}"] = float(specificity[index])
        out[f"f1_{name}"] = float(f1[index]) if present[index] else float("nan")
        out[f"auc_{name}"] = float(auc[index])
    return {key: float(value) for key, value in out.items()}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (labels are 0 .. n_classes - 1)."""
    codes = n_classes * np.asarray(y_true, dtype=np.int64) + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(codes, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    numerator, denominator = numerator.astype(np.float64), denominator.astype(np.float64)
    empty = denominator == 0
    denominator[empty] = 1.0
    out = numerator / denominator
    out[empty] = 0.0
    return out


def _precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class, as ``precision_recall_fscore_support(..., zero_division=0)`` computes them."""
    tp = np.diag(cm)
    predicted, true = cm.sum(axis=0), cm.sum(axis=1)
    return _ratio(tp, predicted), _ratio(tp, true), _ratio(2.0 * tp, 1.0 * true + predicted)


def _quadratic_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights, as ``cohen_kappa_score(weights="quadratic")``."""
    counts = cm.astype(np.float64)
    expected = np.outer(counts.sum(axis=0), counts.sum(axis=1)) / counts.sum(axis=0).sum()
    weights = np.zeros(cm.shape, dtype=np.float64) + np.arange(cm.shape[0])
    weights = (weights - weights.T) ** 2
    return float(1 - np.sum(weights * counts) / np.sum(weights * expected))


def probability_columns(frame: pd.DataFrame, labels: LabelSet) -> list[str]:
    return [f"prob_{name}" for name in labels.names]


def patient_level(frame: pd.DataFrame, labels: LabelSet) -> pd.DataFrame:
    """One row per patient: mean of the patient's scan probabilities (T1W and T2W in 'both' jobs)."""
    cols = probability_columns(frame, labels)
    grouped = frame.groupby("patient_id", sort=True)
    out = grouped[cols].mean()
    out["true_label"] = grouped["true_label"].first()
    return out.reset_index()


def slice_level(slices: pd.DataFrame, predictions: pd.DataFrame, labels: LabelSet) -> pd.DataFrame:
    """Slice rows with the true label of their scan (each slice inherits its patient's stage)."""
    truth = predictions.set_index("scan_id")[["patient_id", "true_label"]]
    merged = slices.join(truth, on="scan_id", how="inner")
    merged = merged.rename(columns={name: f"prob_{name}" for name in labels.names})
    return merged

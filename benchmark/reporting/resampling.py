"""Metrics under a patient-level (cluster) bootstrap, computed from per-patient sufficient statistics.

A bootstrap resample of patients is a vector of counts: how often each patient was drawn. Every
metric the tables show is a function of a few sums over rows (the confusion matrix, Brier sums,
calibration-bin sums, pairwise orderings for AUC), and each sum over a resample is the count-
weighted sum of the per-patient sums. So one matrix product per statistic gives the metric for
all resamples at once, and a slice-level resample moves every slice of a drawn patient together.

With all counts equal to one, :meth:`PatientStatistics.metric` equals
:func:`cirrbench.benchmark.reporting.metric_values.compute_metrics` (tested), so point estimates and intervals agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.decision import decide, row_keys
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.reporting.metric_registry import get_metric

__all__ = ["PatientStatistics", "PairedBootstrap", "bootstrap_counts"]

ECE_BINS = 10
_CONFUSION_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "qwk", "mae")
_PER_CLASS = ("precision", "recall", "specificity", "f1", "auc")


def bootstrap_counts(n_clusters: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """(n_boot, n_clusters) draw counts of a seeded bootstrap over clusters (patients).

    With ``strata`` (a stratum per cluster: the patient's true stage), each resample draws as many
    clusters from each stratum as it holds, so every stage of the test set stays in every
    resample with its own count: a macro metric never averages over fewer classes than the
    estimate it brackets (a constant predictor's macro recall is 1/3 in every resample).
    """
    rng = np.random.default_rng(seed)
    strata = np.zeros(n_clusters, dtype=int) if strata is None else np.asarray(strata)
    counts = np.zeros((n_boot, n_clusters))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        drawn = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
        np.add.at(counts, (np.repeat(np.arange(n_boot), len(members)), drawn.ravel()), 1.0)
    return counts


@dataclass
class PatientStatistics:
    """Sufficient statistics of one method's predictions on one test set (one seed), per patient.

    Args:
        cluster: per row, the index of its patient in ``0 .. n_clusters - 1``.
        y: per row, the true class index.
        proba: per row, class probabilities.
        n_clusters: the number of patients (clusters shared with a paired method).
        labels: the label set.
    """

    cluster: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    n_clusters: int
    labels: LabelSet
    keys: Sequence[str] | None = None  # row identities for the tie-breaking draw (decide)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, patients: list[str], labels: LabelSet) -> PatientStatistics:
        """From prediction rows with ``patient_id``, ``true_label`` and ``prob_<class>`` columns."""
        index = {p: i for i, p in enumerate(patients)}
        cluster = frame["patient_id"].astype(str).map(index)
        if cluster.isna().any():
            raise ValueError("prediction rows of a patient outside the resampled patients")
        proba = frame[[f"prob_{n}" for n in labels.names]].to_numpy(dtype=float)
        y = frame["true_label"].to_numpy(dtype=int)
        return cls(cluster.to_numpy(dtype=int), y, proba, len(patients), labels, row_keys(frame))

    @cached_property
    def predicted(self) -> np.ndarray:
        return decide(self.proba, self.keys)

    # ---- per-patient sums -----------------------------------------------------------------------
    def _per_cluster(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (rows x ...) per cluster."""
        out = np.zeros((self.n_clusters, *values.shape[1:]))
        np.add.at(out, self.cluster, values)
        return out

    @cached_property
    def confusion(self) -> np.ndarray:
        k = self.labels.n_classes
        cells = np.zeros((len(self.y), k * k))
        cells[np.arange(len(self.y)), self.y * k + self.predicted] = 1.0
        return self._per_cluster(cells)  # (clusters, k*k), row-major true x predicted

    @cached_property
    def rows(self) -> np.ndarray:
        return self._per_cluster(np.ones(len(self.y)))

    @cached_property
    def brier(self) -> np.ndarray:
        onehot = np.eye(self.labels.n_classes)[self.y]
        return self._per_cluster(np.sum((self.proba - onehot) ** 2, axis=1))

    @cached_property
    def calibration(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cluster and confidence bin: rows, correct rows, summed confidence (top-label ECE)."""
        confidence = self.proba.max(axis=1)
        correct = (self.predicted == self.y).astype(float)
        edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
        bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, ECE_BINS - 1)
        member = np.eye(ECE_BINS)[bins]
        return (
            self._per_cluster(member),
            self._per_cluster(member * correct[:, None]),
            self._per_cluster(member * confidence[:, None]),
        )

    def _pairs(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For class ``k`` one-vs-rest: (positives per cluster, negatives per cluster, M) where
        ``M[p, q]`` counts pairs (positive row of p, negative row of q) ordered correctly (ties 1/2)."""
        score = self.proba[:, k]
        positive = self.y == k
        pos_rows, neg_rows = np.flatnonzero(positive), np.flatnonzero(~positive)
        clusters = np.eye(self.n_clusters)
        pos_onehot, neg_onehot = clusters[self.cluster[pos_rows]], clusters[self.cluster[neg_rows]]
        pairs = np.zeros((self.n_clusters, self.n_clusters))
        for start in range(0, len(pos_rows), 2048):  # chunks keep the pair matrix small on slice level
            chunk = score[pos_rows[start : start + 2048], None]
            order = (chunk > score[None, neg_rows]) + 0.5 * (chunk == score[None, neg_rows])
            pairs += pos_onehot[start : start + 2048].T @ (order @ neg_onehot)
        return self._per_cluster(positive.astype(float)), self._per_cluster((~positive).astype(float)), pairs

    @cached_property
    def auc_pairs(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return [self._pairs(k) for k in range(self.labels.n_classes)]

    # ---- metrics --------------------------------------------------------------------------------
    def metric(self, name: str, counts: np.ndarray) -> np.ndarray:
        """``name`` for every row of ``counts`` (resamples x clusters); NaN where undefined."""
        counts = np.atleast_2d(np.asarray(counts, dtype=float))
        k = self.labels.n_classes
        declared = get_metric(name)
        if declared.compute is not None:  # a plugin metric: computed on each resample's rows
            return self._by_expansion(declared, counts)
        base, _, cls_name = name.partition("_")
        if name == "brier":
            return (counts @ self.brier) / (counts @ self.rows)
        if name == "ece":
            n, correct, confidence = (np.einsum("bc,cm->bm", counts, part) for part in self.calibration)
            total = n.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                gap = np.where(n > 0, np.abs(correct / np.where(n > 0, n, 1) - confidence / np.where(n > 0, n, 1)), 0.0)
            return np.sum(n * gap, axis=1) / total
        if base == "auc":
            per_class = np.stack([self._auc(counts, j) for j in range(k)], axis=1)
            if cls_name:
                return per_class[:, self.labels.index(cls_name)]
            with np.errstate(invalid="ignore"), _quiet_nanmean():
                return np.nanmean(per_class, axis=1)
        cm = (counts @ self.confusion).reshape(-1, k, k)
        return _confusion_metric(name, cm, self.labels)

    def _by_expansion(self, declared, counts: np.ndarray) -> np.ndarray:
        """A metric without a sufficient-statistics form: the drawn patients' rows, repeated."""
        rows = [np.flatnonzero(self.cluster == c) for c in range(self.n_clusters)]
        values = np.empty(len(counts))
        for b, draw in enumerate(counts):
            index = (
                np.concatenate([np.repeat(rows[c], int(n)) for c, n in enumerate(draw) if n])
                if draw.any()
                else np.array([], dtype=int)
            )
            values[b] = declared.compute(self.y[index], self.proba[index], self.labels) if len(index) else np.nan
        return values

    def _auc(self, counts: np.ndarray, k: int) -> np.ndarray:
        positives, negatives, pairs = self.auc_pairs[k]
        n_pos, n_neg = counts @ positives, counts @ negatives
        ordered = np.einsum("bp,pq,bq->b", counts, pairs, counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((n_pos > 0) & (n_neg > 0), ordered / (n_pos * n_neg), np.nan)


class _quiet_nanmean:
    """Silence numpy's 'Mean of empty slice' where every class is undefined (NaN is the answer)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def _confusion_metric(name: str, cm: np.ndarray, labels: LabelSet) -> np.ndarray:
    """A confusion-matrix metric for a stack of matrices (resamples x true x predicted)."""
    k = labels.n_classes
    total = cm.sum(axis=(1, 2))
    tp = np.diagonal(cm, axis1=1, axis2=2)
    true_counts, pred_counts = cm.sum(axis=2), cm.sum(axis=1)
    fp, fn = pred_counts - tp, true_counts - tp
    tn = total[:, None] - tp - fp - fn
    present = true_counts > 0
    seen = present | (pred_counts > 0)  # scikit-learn's macro average: labels in truth or predictions
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / np.where(present, true_counts, 1), np.nan)
        precision = np.where(pred_counts > 0, tp / np.where(pred_counts > 0, pred_counts, 1), 0.0)
        f1_denominator = 2 * tp + fp + fn
        f1 = np.where(f1_denominator > 0, 2 * tp / np.where(f1_denominator > 0, f1_denominator, 1), 0.0)
        specificity = np.where(tn + fp > 0, tn / np.where(tn + fp > 0, tn + fp, 1), np.nan)

    def macro(values: np.ndarray, over: np.ndarray) -> np.ndarray:
        chosen = np.where(over, values, np.nan)
        with _quiet_nanmean():
            return np.nanmean(chosen, axis=1)

    base, _, cls_name = name.partition("_")
    if name == "accuracy":
        return tp.sum(axis=1) / total
    if name == "balanced_accuracy":
        return macro(recall, present)
    if name == "recall":
        return macro(np.nan_to_num(recall), seen)  # zero_division=0 for a predicted-only class
    if name == "precision":
        return macro(precision, seen)
    if name == "f1":
        return macro(f1, seen)
    if name == "specificity":
        return macro(specificity, seen)
    if name == "mae":
        distance = np.abs(np.arange(k)[:, None] - np.arange(k)[None, :])
        return np.sum(cm * distance, axis=(1, 2)) / total
    if name == "qwk":
        weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2.0
        expected = np.einsum("bi,bj->bij", true_counts, pred_counts) / total[:, None, None]
        observed_cost, expected_cost = np.sum(weights * cm, axis=(1, 2)), np.sum(weights * expected, axis=(1, 2))
        used = ((true_counts + pred_counts) > 0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            kappa = 1.0 - observed_cost / expected_cost
        return np.where(used > 1, kappa, 0.0)  # one class in truth and predictions: kappa 0, as compute_metrics
    per_class = {
        "precision": np.where(present, precision, np.nan),
        "recall": recall,
        "specificity": specificity,
        "f1": np.where(present, f1, np.nan),
    }
    if base in per_class and cls_name in labels.names:
        return per_class[base][:, labels.index(cls_name)]
    raise KeyError(
        f"metric {name!r} has no resampling form; available: {', '.join(_CONFUSION_METRICS + ('auc', 'brier', 'ece'))} and per-class precision/recall/specificity/f1/auc_<class>"
    )


class PairedBootstrap:
    """Patient-level bootstrap over one test set, shared by every method scored on it.

    Methods scored with one instance see the same resamples, so the difference of two methods
    is a paired bootstrap. A method trained with several seeds is resampled in two stages (patients,
    then its seeds with replacement; Bouthillier et al., MLSys 2021): each resample averages the
    drawn seeds' metrics on the drawn patients, so the interval carries the training-seed variance
    and three seeds never count as three times the patients. The seed draws depend only on the
    bootstrap's seed and the number of seeds; the two sides of a pair are independent trainings, so
    sharing the draw pattern leaves the difference's distribution as with independent draws.

    Args:
        patients: the test set's patient ids (the clusters).
        labels: the label set.
        n_boot: number of resamples.
        seed: the bootstrap's seed.
        strata: each patient's true stage: resamples keep every stage's count (stratified).
    """

    def __init__(
        self, patients: list[str], labels: LabelSet, n_boot: int, seed: int, strata: dict[str, int] | None = None
    ) -> None:
        self.patients = sorted(map(str, patients))
        self.labels = labels
        by_patient = None if strata is None else np.array([strata[p] for p in self.patients])
        self.counts = bootstrap_counts(len(self.patients), n_boot, seed, by_patient)
        self.ones = np.ones((1, len(self.patients)))
        self.seed = seed
        self._seed_weights: dict[int, np.ndarray] = {}

    def statistics(self, frame: pd.DataFrame) -> list[PatientStatistics]:
        """One :class:`PatientStatistics` per seed of a method's prediction rows."""
        if "seed_index" not in frame:
            return [PatientStatistics.from_frame(frame, self.patients, self.labels)]
        return [
            PatientStatistics.from_frame(part, self.patients, self.labels)
            for _, part in frame.groupby("seed_index", sort=True)
        ]

    def point(self, stats: list[PatientStatistics], metric: str) -> float:
        return float(np.mean([s.metric(metric, self.ones)[0] for s in stats]))

    def seed_weights(self, n_seeds: int) -> np.ndarray:
        """(n_boot, n_seeds) how often each seed is drawn per resample (each row sums to n_seeds)."""
        if n_seeds not in self._seed_weights:
            rng = np.random.default_rng([self.seed, 1, n_seeds])  # a stream of its own: patient draws unchanged
            drawn = rng.integers(0, n_seeds, size=(len(self.counts), n_seeds))
            self._seed_weights[n_seeds] = np.stack([np.bincount(row, minlength=n_seeds) for row in drawn]).astype(float)
        return self._seed_weights[n_seeds]

    def draws(self, stats: list[PatientStatistics], metric: str) -> np.ndarray:
        """The metric per resample: one seed's, or the mean of the seeds drawn for that resample."""
        per_seed = np.stack([s.metric(metric, self.counts) for s in stats], axis=1)  # (n_boot, seeds)
        if len(stats) == 1:
            return per_seed[:, 0]
        weights = self.seed_weights(len(stats))
        return np.sum(np.where(weights > 0, per_seed, 0.0) * weights, axis=1) / len(
            stats
        )  # an undrawn NaN seed is no NaN

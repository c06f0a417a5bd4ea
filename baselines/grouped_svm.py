"""An RBF support-vector machine whose sigmoid calibration folds keep each patient whole.

``CalibratedClassifierCV(cv=3)`` splits rows: a patient's T1W and T2W scans (``both`` input) can sit
on both sides of a calibration fold, so the calibrator learns on scores of patients the SVM was
fitted on. This estimator takes the patients as ``groups`` (routed by the pipeline as
``clf__groups`` and subset with the rows by every inner CV) and calibrates on patient-grouped folds,
as every other inner CV of the radiomics runners does.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.svm import SVC

__all__ = ["GroupedCalibratedSVC"]


class GroupedCalibratedSVC(ClassifierMixin, BaseEstimator):
    """RBF SVC with sigmoid-calibrated probabilities over patient-grouped folds.

    Args:
        C: the SVC's regularisation.
        gamma: the RBF kernel's width.
        folds: calibration folds (fewer where a class has fewer patients).
        random_state: seeds the SVC and the fold assignment.
    """

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", folds: int = 3, random_state: int | None = None):
        self.C = C
        self.gamma = gamma
        self.folds = folds
        self.random_state = random_state

    def calibration_splits(self, X, y, groups=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Patient-grouped, stage-stratified folds (rows alone without ``groups``)."""
        y = np.asarray(y)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        patients_per_class = min(len(np.unique(groups[y == c])) for c in np.unique(y))
        n_splits = int(max(2, min(self.folds, patients_per_class)))
        return list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=self.random_state).split(X, y, groups))

    def fit(self, X, y, groups=None, sample_weight=None):
        splits = self.calibration_splits(X, y, groups)
        svc = SVC(kernel="rbf", C=self.C, gamma=self.gamma, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(svc, method="sigmoid", cv=splits, ensemble=False)
        self.model_.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

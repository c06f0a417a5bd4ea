"""Ordinal classification by the Frank & Hall decomposition (Frank and Hall, ECML 2001).

Stages are ordered: mild < moderate < severe. A nominal classifier treats "mild called severe"
like "mild called moderate"; an ordinal one uses the order. Frank & Hall fits K-1 binary models
of P(y > k) with any probabilistic classifier and combines them into class probabilities:
P(y = 0) = 1 - P(y > 0), P(y = k) = P(y > k-1) - P(y > k), P(y = K-1) = P(y > K-2). The binary
estimates need not be monotone in k; differences are clipped at 0 and renormalised.
scikit-learn has no ordinal meta-estimator, and the ordinal packages on the index (mord) are
unmaintained, so this small, tested wrapper is written here.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["FrankHallClassifier"]


class FrankHallClassifier(ClassifierMixin, BaseEstimator):
    """Ordinal classifier from K-1 binary "above threshold k" models.

    Args:
        estimator: a probabilistic binary classifier (cloned per threshold).

    Classes are taken in their sorted order, which must be the ordinal order (the runner
    encodes stages 0 < 1 < 2).
    """

    def __init__(self, estimator=None) -> None:
        self.estimator = estimator

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("an ordinal model needs at least two classes in the training data")
        base = self.estimator if self.estimator is not None else _default()
        self.estimators_ = []
        for threshold in self.classes_[:-1]:
            target = (y > threshold).astype(int)
            model = clone(base)
            if sample_weight is not None:
                model.fit(X, target, sample_weight=sample_weight)
            else:
                model.fit(X, target)
            self.estimators_.append(model)
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimators_")
        above = np.column_stack(
            [
                m.predict_proba(X)[:, list(m.classes_).index(1)] if 1 in m.classes_ else np.zeros(len(X))
                for m in self.estimators_
            ]
        )
        k = len(self.classes_)
        proba = np.empty((len(above), k))
        proba[:, 0] = 1.0 - above[:, 0]
        for j in range(1, k - 1):
            proba[:, j] = above[:, j - 1] - above[:, j]
        proba[:, k - 1] = above[:, k - 2]
        proba = np.clip(proba, 0.0, None)
        total = proba.sum(axis=1, keepdims=True)
        return np.where(total > 0, proba / np.where(total > 0, total, 1.0), 1.0 / k)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _default():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=5000)

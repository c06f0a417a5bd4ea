"""Reference runners: the 'chance' rows of every table, built on scikit-learn's DummyClassifier."""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.dummy import DummyClassifier

from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
from cirrbench.benchmark.runners.registry import register_runner

__all__ = ["MajorityRunner", "StratifiedRandomRunner"]


class _DummyRunner(Runner):
    strategy: str
    family = "reference"
    uses_device = False

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> _DummyRunner:
        self.labels_ = train.labels
        self.model_ = DummyClassifier(strategy=self.strategy, random_state=context.seed)
        self.model_.fit(np.zeros((len(train), 1)), train.y)
        return self

    def predict(self, test: ScanSet) -> Predictions:
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        probabilities[:, self.model_.classes_] = self.model_.predict_proba(np.zeros((len(test), 1)))
        return Predictions.from_array(test.scan_ids, probabilities, self.labels_)


@register_runner
class MajorityRunner(_DummyRunner):
    """Predicts the training set's most frequent class, with the training class frequencies as probabilities."""

    name = "majority"
    description = "most frequent training class (probabilities = class priors)"
    display_name = "Majority class"
    strategy = "prior"
    inputs = "single+both"


@register_runner
class StratifiedRandomRunner(_DummyRunner):
    """Draws each prediction at random with the training class frequencies (one-hot probabilities).

    Each scan's draw is seeded by the job's seed and the scan id, so a scan's prediction never
    depends on which other scans are predicted with it (the contract's subset check).
    """

    name = "stratified-random"
    description = "random class drawn with the training class frequencies"
    display_name = "Stratified random"
    strategy = "stratified"
    inputs = "single+both"
    version = "2"  # 2: per-scan draws (before: one generator for the whole test set)

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> StratifiedRandomRunner:
        self.labels_ = train.labels
        self.prior_ = train.class_frequencies
        self.seed_ = context.seed
        return self

    def predict(self, test: ScanSet) -> Predictions:
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        for row, scan_id in enumerate(test.scan_ids):
            digest = hashlib.sha256(f"{self.seed_}:{scan_id}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            probabilities[row, rng.choice(self.labels_.n_classes, p=self.prior_)] = 1.0
        return Predictions.from_array(test.scan_ids, probabilities, self.labels_)

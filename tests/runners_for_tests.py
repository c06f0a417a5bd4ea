"""Runners that misbehave on purpose, to test the harness (registered only when imported)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.runner import Predictions, RunContext, Runner, ScanSet, register_runner


@register_runner
class FailingRunner(Runner):
    name = "test-failing"

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> "FailingRunner":
        raise RuntimeError("this runner always fails")

    def predict(self, test: ScanSet) -> Predictions:  # pragma: no cover
        raise AssertionError


@dataclass(frozen=True)
class KillerParams:
    counter: str = ""
    kill_at: int = 3


@register_runner
class KillerRunner(Runner):
    """Predicts uniform probabilities; hard-kills its process on the ``kill_at``-th fit."""

    name = "test-killer"
    Params = KillerParams

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> "KillerRunner":
        counter = Path(self.params.counter)
        count = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        if count == self.params.kill_at:
            os._exit(137)  # like SIGKILL: no cleanup, no exception handling
        self.labels_ = train.labels
        return self

    def predict(self, test: ScanSet) -> Predictions:
        k = self.labels_.n_classes
        return Predictions.from_array(test.scan_ids, np.full((len(test), k), 1.0 / k), self.labels_)

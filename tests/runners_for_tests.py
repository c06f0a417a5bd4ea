"""Runners that misbehave on purpose, to test the harness (registered only when imported)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
from cirrbench.benchmark.runners.registry import register_runner


@register_runner
class FailingRunner(Runner):
    name = "test-failing"
    uses_device = False

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> FailingRunner:
        raise RuntimeError("this runner always fails")

    def predict(self, test: ScanSet) -> Predictions:  # pragma: no cover
        raise AssertionError


@dataclass(frozen=True)
class FaultParams:
    """When the misbehaving runners misbehave (each reads its own)."""

    counter: str = ""  # test-killer: file counting its fits
    kill_at: int = 3  # test-killer: the fit that kills
    seconds: float = 30.0  # test-sleepy: how long fit sleeps


class _UniformRunner(Runner):
    """Predicts uniform probabilities once ``misbehave`` (the subclass's fault) has run in fit."""

    uses_device = False

    def misbehave(self) -> None:
        """The fault a subclass injects into fit."""

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> _UniformRunner:
        self.misbehave()
        self.labels_ = train.labels
        return self

    def predict(self, test: ScanSet) -> Predictions:
        k = self.labels_.n_classes
        return Predictions.from_array(test.scan_ids, np.full((len(test), k), 1.0 / k), self.labels_)


@register_runner
class KillerRunner(_UniformRunner):
    """Hard-kills its process on the ``kill_at``-th fit."""

    name = "test-killer"
    Params = FaultParams

    def misbehave(self) -> None:
        counter = Path(self.params.counter)
        count = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        if count == self.params.kill_at:
            os._exit(137)  # like SIGKILL: no cleanup, no exception handling


@dataclass(frozen=True)
class SliceParams:
    sharpness: float = 2.0
    slices: int = 3


@register_runner
class SliceRunner(Runner):
    """Noisy oracle-free runner with per-slice output and variants, for slice-level and ablation tables.

    It predicts from the training class frequencies and a seeded random perturbation per slice;
    it uses no test label.
    """

    name = "test-slices"
    Params = SliceParams
    variants = {"blunt": {"sharpness": 0.5}, "one-slice": {"slices": 1}}
    inputs = "single+both"

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> SliceRunner:
        self.labels_ = train.labels
        self.log_prior_ = np.log(train.class_frequencies + 1e-3)
        self.seed_ = context.seed
        return self

    def predict(self, test: ScanSet) -> Predictions:
        import pandas as pd

        rng = np.random.default_rng(self.seed_)
        k = self.labels_.n_classes
        rows, scan_probs = [], []
        for record in test:
            logits = self.log_prior_ + self.params.sharpness * rng.normal(size=(self.params.slices, k))
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            for index, row in enumerate(p):
                rows.append([record.scan_id, index, *row])
            scan_probs.append(p.mean(axis=0))
        predictions = Predictions.from_array(test.scan_ids, np.array(scan_probs), self.labels_)
        predictions.slice_probabilities = pd.DataFrame(rows, columns=["scan_id", "slice", *self.labels_.names])
        return predictions


@register_runner
class DeepLikeRunner(SliceRunner):
    """A stand-in of the deep family (slices, variants) for report tests: seconds, not minutes."""

    name = "test-deep"
    family = "deep"
    display_name = "Deep stand-in"


@dataclass(frozen=True)
class SignalParams:
    strength: float = 2.0


@register_runner
class RadiomicsLikeRunner(Runner):
    """A stand-in of the radiomics family: the liver's intensity spread (the phantom's stage signal)
    through a logistic regression. No slices, like the radiomics runners."""

    name = "test-radiomics"
    family = "radiomics"
    reads_images = True
    uses_device = False
    display_name = "Radiomics stand-in"
    Params = SignalParams

    def _features(self, scans: ScanSet) -> np.ndarray:
        from cirrbench.benchmark.data.imageio import read_array

        rows = []
        for r in scans:
            liver = read_array(r.image)[read_array(r.mask) > 0].astype(float)
            liver /= np.median(liver)
            rows.append([liver.std(), np.percentile(liver, 95) - np.percentile(liver, 5), float(r.sequence == "T2W")])
        return np.array(rows)

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> RadiomicsLikeRunner:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.labels_ = train.labels
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.params.strength, max_iter=1000))
        self.model_.fit(self._features(train), train.y)
        return self

    def predict(self, test: ScanSet) -> Predictions:
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        probabilities[:, self.model_.classes_] = self.model_.predict_proba(self._features(test))
        return Predictions.from_array(test.scan_ids, probabilities, self.labels_)


@register_runner
class SleepyRunner(_UniformRunner):
    """Sleeps in fit (a long training job): for kill tests."""

    name = "test-sleepy"
    Params = FaultParams

    def misbehave(self) -> None:
        import time

        time.sleep(self.params.seconds)


@register_runner
class ExitingRunner(Runner):
    """Calls sys.exit in fit, as some library code does: must be that job's failure, not the run's end."""

    name = "test-exits"
    uses_device = False

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> ExitingRunner:
        raise SystemExit(3)

    def predict(self, test: ScanSet) -> Predictions:  # pragma: no cover
        raise AssertionError


@register_runner
class WarningRunner(_UniformRunner):
    """Emits a library-style warning in fit: the warning belongs in the job's log."""

    name = "test-warns"

    def misbehave(self) -> None:
        import warnings

        warnings.warn("a library had something to say", UserWarning, stacklevel=2)

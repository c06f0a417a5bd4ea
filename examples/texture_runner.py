"""The README's example runner (Adding a runner), as a file: run it with examples/texture_runner.yaml."""

# my_package/texture_runner.py
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from cirrbench import Predictions, RunContext, Runner, ScanSet, register_runner
from cirrbench.benchmark.data.imageio import read_array


@dataclass(frozen=True)
class Params:
    C: float = 1.0


@register_runner
class LiverTextureRunner(Runner):
    """Three intensity statistics inside the liver + logistic regression."""

    name = "liver-texture"
    display_name = "Liver texture (radiomics)"  # its row name in tables and figures
    Params = Params
    variants = {"strong-regularisation": {"C": 0.01}}
    inputs = "single+both"  # can take T1W and T2W scans together
    family = "radiomics"  # groups its row with the radiomics rows
    uses_device = False  # scikit-learn on the CPU: the run need not look for a GPU (nor import torch)

    def _features(self, scans: ScanSet) -> np.ndarray:
        rows = []
        for r in scans:
            liver = read_array(r.image)[read_array(r.mask) > 0].astype(float)
            liver /= np.median(liver)
            rows.append([liver.std(), np.percentile(liver, 95) - np.percentile(liver, 5), float(r.sequence == "T2W")])
        return np.array(rows)

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> "LiverTextureRunner":
        self.labels_ = train.labels
        self.model_ = LogisticRegression(C=self.params.C, max_iter=1000, random_state=context.seed)
        self.model_.fit(self._features(train), train.y)
        return self

    def predict(self, test: ScanSet) -> Predictions:
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        probabilities[:, self.model_.classes_] = self.model_.predict_proba(self._features(test))
        return Predictions.from_array(test.scan_ids, probabilities, self.labels_)

"""cirrbench from Python, on the synthetic phantom, in well under a minute on a laptop CPU.

Run it from anywhere:  python examples/quickstart.py [RESULTS_FOLDER]

1. write a small phantom cohort (the CirrMRI600+ layout; never clinical evidence);
2. check it as a user would check the real cohort;
3. register a runner of your own, in this file, and check its contract;
4. run an experiment given as a dict (the same keys as a YAML config) that compares it with a
   radiomics learner on identical patient-grouped splits;
5. read the verdict, and score a prediction file as anyone's would be scored.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import cirrbench
from cirrbench.benchmark.data.imageio import read_array
from cirrbench.benchmark.data.phantom import PhantomConfig, write_phantom


@dataclass(frozen=True)
class SpreadParams:
    C: float = 1.0


@cirrbench.register_runner
class LiverSpreadRunner(cirrbench.Runner):
    """The liver's intensity spread (cirrhotic parenchyma is heterogeneous) into a logistic model."""

    name = "example-liver-spread"
    display_name = "Liver spread (example)"
    family = "radiomics"
    uses_device = False  # scikit-learn on the CPU: the run need not look for a GPU (nor import torch)
    Params = SpreadParams

    def _features(self, scans: cirrbench.ScanSet) -> np.ndarray:
        rows = []
        for r in scans:
            liver = read_array(r.image)[read_array(r.mask) > 0].astype(float)
            liver /= np.median(liver)
            rows.append([liver.std(), np.percentile(liver, 95) - np.percentile(liver, 5)])
        return np.array(rows)

    def fit(
        self, train: cirrbench.ScanSet, valid: cirrbench.ScanSet, context: cirrbench.RunContext
    ) -> LiverSpreadRunner:
        from sklearn.linear_model import LogisticRegression

        self.labels_ = train.labels
        self.model_ = LogisticRegression(C=self.params.C, max_iter=1000).fit(self._features(train), train.y)
        return self

    def predict(self, test: cirrbench.ScanSet) -> cirrbench.Predictions:
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        probabilities[:, self.model_.classes_] = self.model_.predict_proba(self._features(test))
        return cirrbench.Predictions.from_array(test.scan_ids, probabilities, self.labels_)


def main(out: Path) -> None:
    root = write_phantom(
        out / "cohort", PhantomConfig(patients=24, seed=1, scale=0.4, healthy=0, sub_slices=1), progress=False
    )
    cohort = cirrbench.load_cohort(root)
    print(f"cohort: {len(cohort)} scans of {len(cohort.patients)} patients; labels {cohort.labels.names}")
    print(cirrbench.validate_cohort(root).format().splitlines()[-1])

    cirrbench.check_runner(LiverSpreadRunner, cohort)  # the contract the suite checks for every built-in runner
    experiment = cirrbench.load_experiment(
        {
            "name": "quickstart",
            "data": {"root": str(root)},
            "inputs": ["T1W", "T2W"],
            "protocols": [{"name": "cv", "folds": 3, "repeats": 1}],
            "runners": [
                "majority",
                "example-liver-spread",
                {"name": "radiomics-logreg", "params": {"extraction": "default", "tuning_iterations": 0}},
            ],
            "compare": [["radiomics-logreg", "example-liver-spread"]],
            "metrics": {"bootstrap": 200},
        }
    )
    summary, report = cirrbench.run(experiment, out=out / "results", jobs=1)
    assert summary.ok, summary.format()
    print("\n".join(report.verdict[:3]))

    first = next((out / "results" / "predictions").glob("*/predictions.csv"))
    scored = cirrbench.score_predictions(first, cohort, split="any", n_boot=200)
    print(next(line for line in scored.text.splitlines() if "Accuracy" in line))
    print(f"every table, figure and the page: {out / 'results'} (start with REPORT.md)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cirrbench-quickstart-")))

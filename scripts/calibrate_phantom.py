"""How hard is the phantom? Default-feature PyRadiomics + XGBoost under 3x5 patient-grouped CV.

The target from docs/phantom.md (and shared/docs/cirrmri600.md): accuracy between about 0.55 and
0.80 per sequence, recall lowest for moderate, nobody at 100 %. Writes a JSON file with the
numbers, the phantom's provenance and the package versions.

    python scripts/calibrate_phantom.py PHANTOM_ROOT --out results/phantom_calibration.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score
from sklearn.model_selection import StratifiedGroupKFold
from xgboost import XGBClassifier

from cirrbench.baselines.features import extract_features, load_params
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/phantom_calibration.json"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    cohort = load_cirrmri(args.root)
    start = time.perf_counter()
    # The shipped `default` file reproduces RadiomicsFeatureExtractor() exactly (tests/test_baselines.py).
    result = extract_features(cohort.records, load_params("default"), jobs=args.jobs)
    if result.failures:
        raise SystemExit("feature extraction failed: " + "; ".join(str(f) for f in result.failures[:3]))
    extraction_s = time.perf_counter() - start
    features = result.table.loc[[r.scan_id for r in cohort]]

    results = {}
    for sequence in cohort.sequences:
        keep = np.array([r.sequence == sequence for r in cohort])
        X = features[keep].to_numpy()
        y = np.array([r.label for r in cohort])[keep]
        groups = np.array([r.patient_id for r in cohort])[keep]
        accuracies, recalls, matrix = [], [], np.zeros((3, 3), dtype=int)
        for repeat in range(3):
            for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=repeat).split(X, y, groups):
                model = XGBClassifier(
                    n_estimators=200,
                    max_depth=3,
                    learning_rate=0.05,
                    subsample=0.8,
                    colsample_bytree=0.5,
                    n_jobs=args.jobs,
                    random_state=repeat,
                )
                model.fit(X[train], y[train])
                pred = model.predict(X[test])
                accuracies.append(accuracy_score(y[test], pred))
                recalls.append(recall_score(y[test], pred, average=None, labels=[0, 1, 2], zero_division=0))
                matrix += confusion_matrix(y[test], pred, labels=[0, 1, 2])
        results[sequence] = {
            "scans": int(keep.sum()),
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_sd_over_folds": float(np.std(accuracies)),
            "recall_mild_moderate_severe": [float(v) for v in np.mean(recalls, axis=0)],
            "confusion_rows_true_cols_pred": matrix.tolist(),
        }
        print(sequence, json.dumps(results[sequence]))
    payload = {
        "what": "SYNTHETIC PHANTOM calibration: default PyRadiomics features (Original, 107) + XGBoost, 3x5 patient-grouped CV",
        "phantom": json.loads((args.root / "PHANTOM.json").read_text()),
        "results": results,
        "feature_extraction_seconds": round(extraction_s, 1),
        "features_from_cache": result.cached,
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "versions": {p: version(p) for p in ("pyradiomics", "xgboost-cpu", "scikit-learn", "numpy")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The radiomics learners, one runner each: XGBoost (default), logistic regression, SVM (RBF), random forest."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from cirrbench.benchmark.runners.registry import register_runner

from .grouped_svm import GroupedCalibratedSVC
from .ordinal import FrankHallClassifier
from .radiomics_runner import RadiomicsRunner

__all__ = ["LogisticRegressionRunner", "OrdinalRunner", "RandomForestRunner", "SVMRunner", "XGBoostRunner"]


@register_runner
class XGBoostRunner(RadiomicsRunner):
    """Gradient-boosted trees (xgboost-cpu by default; the same API with the GPU build)."""

    name = "radiomics-xgboost"
    description = "PyRadiomics features + XGBoost, tuned by inner patient-grouped CV"
    display_name = "XGBoost (radiomics)"
    search_space = {
        "clf__n_estimators": [100, 200, 400],
        "clf__max_depth": [2, 3, 4],
        "clf__learning_rate": [0.03, 0.1],
        "clf__subsample": [0.7, 1.0],
        "clf__colsample_bytree": [0.3, 0.6],
        "clf__min_child_weight": [1, 3],
    }

    calibrate = True

    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        from xgboost import XGBClassifier

        return XGBClassifier(
            tree_method="hist", n_jobs=max(1, threads), random_state=seed % (2**31), eval_metric="mlogloss", verbosity=0
        )

    def _gain(self, model, names: list[str]) -> dict[str, float]:
        booster = model.named_steps["clf"].get_booster()
        scores = booster.get_score(importance_type="gain")
        return {
            names[int(key[1:])]: float(value)
            for key, value in scores.items()
            if key.startswith("f") and key[1:].isdigit() and int(key[1:]) < len(names)
        }


@register_runner
class LogisticRegressionRunner(RadiomicsRunner):
    name = "radiomics-logreg"
    description = "PyRadiomics features + L2 logistic regression, tuned by inner patient-grouped CV"
    display_name = "Logistic regression (radiomics)"
    search_space = {"clf__C": [0.001, 0.01, 0.1, 1.0, 10.0]}

    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        return LogisticRegression(max_iter=5000, random_state=seed % (2**31))


@register_runner
class SVMRunner(RadiomicsRunner):
    name = "radiomics-svm"
    description = "PyRadiomics features + RBF support-vector machine (sigmoid-calibrated probabilities)"
    display_name = "SVM (radiomics)"
    search_space = {"clf__C": [0.1, 1.0, 10.0, 100.0], "clf__gamma": ["scale", 0.001, 0.01, 0.1]}
    version = "2"  # calibration folds grouped by patient (were plain k-fold over rows)
    groups_to_classifier = True

    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        # SVC(probability=True) is deprecated in scikit-learn 1.9; sigmoid calibration on
        # patient-grouped folds replaces it.
        folds = int(max(2, min(3, min_class_count * (self.params.inner_folds - 1) // max(1, self.params.inner_folds))))
        return GroupedCalibratedSVC(folds=folds, random_state=seed % (2**31))


@register_runner
class RandomForestRunner(RadiomicsRunner):
    name = "radiomics-rf"
    description = "PyRadiomics features + random forest"
    display_name = "Random forest (radiomics)"
    search_space = {
        "clf__n_estimators": [200, 500],
        "clf__max_depth": [None, 4, 8],
        "clf__min_samples_leaf": [1, 3, 5],
        "clf__max_features": ["sqrt", 0.3],
    }

    calibrate = True

    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        return RandomForestClassifier(random_state=seed % (2**31), n_jobs=max(1, threads))

    def _gain(self, model, names: list[str]) -> dict[str, float]:
        importances = model.named_steps["clf"].feature_importances_
        return {n: float(v) for n, v in zip(names, np.asarray(importances))}


@register_runner
class OrdinalRunner(RadiomicsRunner):
    """Frank & Hall ordinal logistic model: uses that mild < moderate < severe."""

    name = "radiomics-ordinal"
    display_name = "Ordinal logistic (radiomics)"
    description = (
        "PyRadiomics features + Frank & Hall ordinal decomposition over L2 logistic regression (ordered stages only)"
    )
    search_space = {"clf__estimator__C": [0.001, 0.01, 0.1, 1.0, 10.0]}

    @classmethod
    def check_cohort(cls, params, cohort) -> list[str]:
        problems = super().check_cohort(params, cohort)
        if not cohort.labels.ordinal:
            problems.append(
                f"needs ordered classes, and this cohort's labels ({', '.join(cohort.labels.names)}) are nominal; declare them ordinal (--ordinal, data: {{ordinal: true}}) if their order means something, or remove this runner"
            )
        return problems

    def fit(self, train, valid, context):
        if not train.labels.ordinal:
            raise ValueError(
                f"radiomics-ordinal needs ordered classes; the labels {', '.join(train.labels.names)} are nominal"
            )
        return super().fit(train, valid, context)

    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        return FrankHallClassifier(LogisticRegression(max_iter=5000, random_state=seed % (2**31)))

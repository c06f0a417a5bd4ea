"""The radiomics runner: PyRadiomics features -> scikit-learn pipeline tuned by inner patient-grouped CV.

Each learner (XGBoost, logistic regression, SVM, random forest) is a small subclass in
``learners.py`` that only says which classifier and which search space. Everything is fitted on
the training part only; the validation part is used for permutation importance, never for fitting.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import RandomizedSearchCV, StratifiedGroupKFold
from sklearn.utils.class_weight import compute_sample_weight

from benchmark.params import param
from benchmark.runner import Predictions, RunContext, Runner, ScanSet

from .features import extract_features, load_params
from .pipeline import build_pipeline, kept_feature_names, select_columns


@dataclass(frozen=True)
class RadiomicsParams:
    extraction: str = param("mri", "PyRadiomics parameter file: a shipped one (default, mri) or a path to your own")
    spacing: tuple[float, float, float] | None = param(None, "overrides the file's resampledPixelSpacing (mm); null: the file's", above=0)
    image_types: tuple[str, ...] = param(("original", "log", "wavelet"), "image types whose features are used", choices=("original", "log", "wavelet"))
    families: tuple[str, ...] = param(("shape", "firstorder", "texture"), "feature families used", choices=("shape", "firstorder", "texture"))
    correlation_threshold: float = param(0.95, "drop one of two features correlated above this |r|", above=0, maximum=1)
    select_k: int | None = param(50, "ANOVA k-best features (null: no selection)", minimum=1)
    clinical: bool = param(False, "append age and sex")
    class_weight: bool = param(True, "balanced sample weights for the stage imbalance")
    tuning_iterations: int = param(8, "random-search budget over the inner CV (0: library defaults, no tuning)", minimum=0)
    inner_folds: int = param(3, "patient-grouped inner CV folds for tuning", minimum=2)
    permutation_repeats: int = param(5, "permutation-importance repeats on the validation part", minimum=0)


#: Ablation variants shared by every radiomics learner.
RADIOMICS_VARIANTS: dict[str, dict[str, Any]] = {
    "original-only": {"image_types": ("original",)},
    "original+log": {"image_types": ("original", "log")},
    "shape-only": {"families": ("shape",)},
    "firstorder-only": {"families": ("firstorder",)},
    "texture-only": {"families": ("texture",)},
    "no-selection": {"select_k": None},
    "clinical": {"clinical": True},
}


class RadiomicsRunner(Runner):
    Params = RadiomicsParams
    variants = RADIOMICS_VARIANTS
    sequences = "single+both"
    family = "radiomics"
    search_space: ClassVar[dict[str, list]] = {}
    smoke_params = {"extraction": "default", "tuning_iterations": 0, "permutation_repeats": 1, "select_k": 10}

    def make_classifier(self, seed: int, threads: int, min_class_count: int):  # pragma: no cover - abstract
        """The classifier; ``min_class_count`` (smallest class in the training part) bounds internal CV."""
        raise NotImplementedError

    # ---- features -------------------------------------------------------------------------
    @classmethod
    def _extraction_params(cls, params: RadiomicsParams) -> dict[str, Any]:
        return load_params(params.extraction, spacing=params.spacing)

    @classmethod
    def prepare(cls, scans: ScanSet, params: RadiomicsParams, context: RunContext) -> None:
        if scans.features is None:
            from benchmark.executors import DaskExecutor

            distributed = context.executor if isinstance(context.executor, DaskExecutor) else None
            result = extract_features(scans.records, cls._extraction_params(params), jobs=max(1, context.threads), progress=context.show_progress, executor=distributed)
            for failure in result.failures:
                context.logger.error("%s", failure)

    def _raw_features(self, scans: ScanSet) -> pd.DataFrame:
        if scans.features is not None:
            return scans.features.loc[scans.scan_ids]
        result = extract_features(scans.records, self._extraction_params(self.params), jobs=1, progress=False)
        if result.failures:
            raise RuntimeError("feature extraction failed for: " + "; ".join(str(f) for f in result.failures[:3]))
        return result.table.loc[scans.scan_ids]

    def _matrix(self, scans: ScanSet) -> pd.DataFrame:
        raw = self._raw_features(scans)
        columns = select_columns(list(raw.columns), self.params.image_types, self.params.families)
        if not columns:
            raise ValueError(f"no feature left for image types {self.params.image_types} and families {self.params.families}; does the extraction parameter file enable them?")
        X = raw[columns].copy()
        if self.params.clinical:
            X["clinical_age"] = [r.age if r.age is not None else np.nan for r in scans]
            X["clinical_sex_male"] = [1.0 if r.sex == "M" else 0.0 if r.sex == "F" else np.nan for r in scans]
        X["input_T2W"] = [1.0 if r.sequence == "T2W" else 0.0 for r in scans]  # constant (dropped) unless both sequences are given
        return X

    # ---- fit / predict ----------------------------------------------------------------------
    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> "RadiomicsRunner":
        self.labels_ = train.labels
        X = self._matrix(train)
        self.columns_ = list(X.columns)
        y = train.y
        self.classes_ = np.unique(y)
        y_encoded = np.searchsorted(self.classes_, y)
        min_count = int(np.bincount(y_encoded).min())
        pipeline = build_pipeline(self.make_classifier(context.seed, context.threads, min_count), self.params.correlation_threshold, self.params.select_k)
        fit_params = {"clf__sample_weight": compute_sample_weight("balanced", y_encoded)} if self.params.class_weight else {}
        space = {k: v for k, v in self.search_space.items()}
        if self.params.select_k is not None:
            space["select__k"] = sorted({min(self.params.select_k, k) for k in (10, 25, self.params.select_k)})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is greater than n_features.*")
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            if self.params.tuning_iterations > 0 and space:
                search = RandomizedSearchCV(
                    pipeline,
                    space,
                    n_iter=self.params.tuning_iterations,
                    scoring="balanced_accuracy",
                    cv=StratifiedGroupKFold(self.params.inner_folds, shuffle=True, random_state=context.seed % (2**31)),
                    random_state=context.seed % (2**31),
                    n_jobs=1,
                    error_score=np.nan,
                )
                search.fit(X.to_numpy(dtype=float), y_encoded, groups=train.groups, **fit_params)
                self.model_ = search.best_estimator_
                self.best_params_ = search.best_params_
            else:
                self.model_ = pipeline.fit(X.to_numpy(dtype=float), y_encoded, **fit_params)
                self.best_params_ = {}
        self.importance_ = self._importance(valid, context)
        return self

    def predict(self, test: ScanSet) -> Predictions:
        X = self._matrix(test).reindex(columns=self.columns_)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            present = self.model_.predict_proba(X.to_numpy(dtype=float))
        probabilities = np.zeros((len(test), self.labels_.n_classes))
        probabilities[:, self.classes_] = present
        predictions = Predictions.from_array(test.scan_ids, probabilities, self.labels_)
        if self.importance_ is not None:
            predictions.extras["feature_importance"] = self.importance_
        return predictions

    # ---- insight ----------------------------------------------------------------------------
    def _gain(self, names: list[str]) -> dict[str, float]:
        return {}

    def _importance(self, valid: ScanSet, context: RunContext) -> pd.DataFrame | None:
        """Permutation importance on the validation part (kept features only) plus learner-specific gain."""
        names = kept_feature_names(self.model_, self.columns_)
        gain = self._gain(names)
        frame = pd.DataFrame({"feature": names})
        frame["gain"] = [gain.get(n, np.nan) for n in names]
        frame["permutation_mean"] = np.nan
        frame["permutation_std"] = np.nan
        if len(valid) >= 4 and len(np.unique(valid.y)) >= 2:
            X = self._matrix(valid).reindex(columns=self.columns_).to_numpy(dtype=float)
            y = valid.y
            rng = np.random.default_rng(context.seed)

            def score(matrix: np.ndarray) -> float:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", category=RuntimeWarning)
                    pred = self.classes_[self.model_.predict_proba(matrix).argmax(axis=1)]
                return float(np.mean(pred == y))

            base = score(X)
            index = {c: i for i, c in enumerate(self.columns_)}
            for row, name in enumerate(names):
                drops = []
                for _ in range(self.params.permutation_repeats):
                    shuffled = X.copy()
                    shuffled[:, index[name]] = rng.permutation(shuffled[:, index[name]])
                    drops.append(base - score(shuffled))
                frame.loc[row, "permutation_mean"] = float(np.mean(drops))
                frame.loc[row, "permutation_std"] = float(np.std(drops))
        return frame

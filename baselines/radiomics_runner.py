"""The radiomics runner: PyRadiomics features -> scikit-learn pipeline tuned by inner patient-grouped CV.

Each learner (XGBoost, logistic regression, SVM, random forest, the ordinal model) is a small
subclass in ``learners.py`` that only says which classifier and which search space.

The same labelled patients as the deep runners: a radiomics runner fits on the training part
plus the validation part (``uses_validation = "training"``); deep runners learn from the training
part and stop early on the validation part. An inner patient-grouped CV over those patients
tunes the pipeline (learner hyper-parameters, the number of ANOVA-selected features including
all, the correlation threshold including none), gives out-of-fold predictions (the harness's
model choice) and permutation importance on its held-out folds, and calibrates learners whose
probabilities are not calibrated already. Test scans are never seen before ``predict``.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_selection import f_classif
from sklearn.model_selection import RandomizedSearchCV, StratifiedGroupKFold
from sklearn.utils.class_weight import compute_sample_weight

from cirrbench.benchmark.data.perturbations import ROBUST_ICC
from cirrbench.benchmark.runners.contract import Predictions, RunContext, Runner, ScanSet
from cirrbench.benchmark.runners.params import param

from .feature_stability import measure_stability
from .features import extract_features, load_params
from .pipeline import build_pipeline, kept_feature_names, select_columns

__all__ = ["HeadParams", "K_CHOICES", "RADIOMICS_VARIANTS", "RadiomicsParams", "RadiomicsRunner", "THRESHOLD_CHOICES"]

#: Feature values per prediction call of the permutation importance (8 bytes each: 32 MB).
PREDICTION_BATCH = 4_000_000
#: What the inner search tries when ``select_k`` / ``correlation_threshold`` are left to it.
K_CHOICES: tuple[int | str, ...] = (10, 25, 50, "all")
THRESHOLD_CHOICES: tuple[float, ...] = (0.9, 0.95, 1.0)  # 1.0: no correlation filter
FIXED_K, FIXED_THRESHOLD = 50, 0.95  # without tuning


@dataclass(frozen=True)
class HeadParams:
    """The classical head on a feature matrix (radiomics features or frozen embeddings): selection,
    tuning by inner patient-grouped CV, class weights and importance."""

    correlation_threshold: float | None = param(
        None,
        "drop one of two features correlated above this |r| (1: keep all; null: tuned over 0.9, 0.95, none)",
        above=0,
        maximum=1,
    )
    select: str = param("anova", "feature selection: ANOVA k-best, or none", choices=("anova", "none"))
    select_k: int | None = param(None, "features ANOVA keeps (null: tuned over 10, 25, 50, all)", minimum=1)
    clinical: bool = param(
        False, "add age and sex; they bypass filtering and selection, so they always reach the classifier"
    )
    harmonise: bool = param(False, "ComBat across sites (the cohort's site column), fitted on the training rows only")
    class_weight: bool = param(True, "balanced sample weights for the stage imbalance")
    tuning_iterations: int = param(
        8, "random-search budget over the inner CV (0: no tuning: library defaults, k 50, |r| 0.95)", minimum=0
    )
    inner_folds: int = param(
        3, "patient-grouped inner CV folds (tuning, out-of-fold predictions, importance, calibration)", minimum=2
    )
    permutation_repeats: int = param(5, "permutation-importance repeats per held-out inner fold (0: none)", minimum=0)
    permutation_features: int = param(
        30,
        "features whose importance is measured by permutation (the highest ANOVA F among those the model kept)",
        minimum=1,
    )


@dataclass(frozen=True)
class RadiomicsParams(HeadParams):
    """What the radiomics runners add to the head: which PyRadiomics features."""

    extraction: str = param("mri", "PyRadiomics parameter file: a shipped one (default, mri) or a path to your own")
    spacing: tuple[float, float, float] | None = param(
        None, "overrides the file's resampledPixelSpacing (mm); null: the file's", above=0
    )
    image_types: tuple[str, ...] = param(
        ("original", "log", "wavelet"), "image types whose features are used", choices=("original", "log", "wavelet")
    )
    families: tuple[str, ...] = param(
        ("shape", "firstorder", "texture"), "feature families used", choices=("shape", "firstorder", "texture")
    )
    stability_icc: float = param(
        0.0,
        "keep only features whose ICC(1,1) across the perturbations (robustness.perturbations) on the training scans is at least this (0: keep all; Zwanenburg et al. 2019: 0.9)",
        minimum=0,
        maximum=1,
    )
    stability_scans: int = param(
        40, "training scans the ICC is measured on (a seeded sample; 0: all of them)", minimum=0
    )


#: Ablation variants shared by every radiomics learner.
RADIOMICS_VARIANTS: dict[str, dict[str, Any]] = {
    "original-only": {"image_types": ("original",)},
    "original+log": {"image_types": ("original", "log")},
    "shape-only": {"families": ("shape",)},
    "firstorder-only": {"families": ("firstorder",)},
    "texture-only": {"families": ("texture",)},
    "no-selection": {"select": "none"},
    "clinical": {"clinical": True},
    "harmonised": {"harmonise": True},
    "stable-features": {"stability_icc": ROBUST_ICC},
}


class RadiomicsRunner(Runner):
    Params: ClassVar[type] = RadiomicsParams
    variants = RADIOMICS_VARIANTS
    inputs = "single+both"
    family = "radiomics"
    uses_validation = "training"
    reads_images = True  # PyRadiomics features of the scans, unless the cohort is a feature table
    uses_device = False  # scikit-learn and XGBoost on the CPU
    search_space: ClassVar[dict[str, list]] = {}
    #: Calibrate probabilities on the inner folds (sigmoid): learners whose scores are not
    #: probabilities by construction (boosted and bagged trees).
    calibrate: ClassVar[bool] = False
    #: Pass the patients to the classifier's fit as ``groups`` (a learner with its own inner CV,
    #: such as the SVM's calibration, keeps patients whole with them).
    groups_to_classifier: ClassVar[bool] = False
    smoke_params = {"extraction": "default", "tuning_iterations": 0, "permutation_repeats": 1, "select_k": 10}

    @abstractmethod
    def make_classifier(self, seed: int, threads: int, min_class_count: int):
        """The classifier; ``min_class_count`` (smallest class in the fitted data) bounds internal CV."""

    @staticmethod
    def _stability_icc(params: HeadParams) -> float:
        """The ICC threshold of feature selection by robustness (0: none; heads on other features have none)."""
        return float(getattr(params, "stability_icc", 0.0))

    @classmethod
    def uses_perturbations(cls, params: HeadParams) -> bool:
        return cls._stability_icc(params) > 0

    @classmethod
    def check_cohort(cls, params: RadiomicsParams, cohort: Any) -> list[str]:
        if cls._stability_icc(params) > 0 and cohort.features is not None:
            return [
                "stability_icc > 0 (variant stable-features) perturbs the training scans; a feature-table cohort has no images"
            ]
        if params.harmonise and all(r.site is None for r in cohort.records):
            return [
                "harmonise: true needs the cohort's sites (a site column in the manifest or feature table, a Site column in the CirrMRI600+ metadata CSVs); this cohort has none"
            ]
        return []

    # ---- features -------------------------------------------------------------------------
    @classmethod
    def _extraction_params(cls, params: RadiomicsParams) -> dict[str, Any]:
        return load_params(params.extraction, spacing=params.spacing)

    @classmethod
    def prepare(cls, scans: ScanSet, params: RadiomicsParams, context: RunContext) -> None:
        if scans.features is None:
            result = extract_features(
                scans.records,
                cls._extraction_params(params),
                jobs=max(1, context.threads),
                progress=context.show_progress,
                executor=context.cluster,
            )
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
        """Radiomics columns, then covariates (age, sex, the input indicator), then the site code."""
        raw = self._raw_features(scans)
        columns = self.radiomics_columns_ if hasattr(self, "radiomics_columns_") else self._feature_columns(raw)
        if not columns:
            raise ValueError(
                f"no feature left for image types {self.params.image_types} and families {self.params.families}; does the extraction parameter file enable them?"
            )
        X = raw.reindex(columns=columns).copy()
        covariates = self.covariates_ if hasattr(self, "covariates_") else self._covariate_names(scans)
        if "clinical_age" in covariates:
            X["clinical_age"] = [r.age if r.age is not None else np.nan for r in scans]
            X["clinical_sex_male"] = [1.0 if r.sex == "M" else 0.0 if r.sex == "F" else np.nan for r in scans]
        if "input_T2W" in covariates:
            X["input_T2W"] = [1.0 if r.sequence == "T2W" else 0.0 for r in scans]
        if self.params.harmonise:
            codes = (
                self.site_codes_
                if hasattr(self, "site_codes_")
                else {s: float(i) for i, s in enumerate(sorted({r.site for r in scans if r.site is not None}))}
            )
            X["site"] = [
                codes.get(r.site, -1.0) for r in scans
            ]  # -1: a site without training scans (left unharmonised, with a warning)
        return X

    def _feature_columns(self, raw: pd.DataFrame) -> list[str]:
        """The feature columns this runner learns from (the chosen image types and families)."""
        return select_columns(list(raw.columns), self.params.image_types, self.params.families)

    def _covariate_names(self, scans: ScanSet) -> list[str]:
        names = ["clinical_age", "clinical_sex_male"] if self.params.clinical else []
        return names + (["input_T2W"] if len(scans.sequences) > 1 else [])

    # ---- fit / predict ----------------------------------------------------------------------
    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> RadiomicsRunner:
        features = None if train.features is None else pd.concat([train.features, valid.features])
        labelled = ScanSet(train.records + valid.records, train.labels, features=features)
        self.labels_ = labelled.labels
        self.covariates_ = self._covariate_names(labelled)
        self.stability_ = self._stable_columns(labelled, context) if self.uses_perturbations(self.params) else None
        if self.params.harmonise:
            self.site_codes_ = {
                s: float(i) for i, s in enumerate(sorted({r.site for r in labelled if r.site is not None}))
            }
        frame = self._matrix(labelled)
        self.columns_ = list(frame.columns)
        self.radiomics_columns_ = [c for c in self.columns_ if c not in self.covariates_ and c != "site"]
        X = frame.to_numpy(dtype=float)
        y = labelled.y
        self.classes_ = np.unique(y)
        y_encoded = np.searchsorted(self.classes_, y)
        min_count = int(np.bincount(y_encoded).min())
        folds = list(
            StratifiedGroupKFold(self._inner_folds(y_encoded), shuffle=True, random_state=context.seed % (2**31)).split(
                X, y_encoded, labelled.groups
            )
        )
        pipeline = build_pipeline(
            self.make_classifier(context.seed, context.threads, min_count),
            n_radiomics=len(self.radiomics_columns_),
            n_covariates=len(self.covariates_),
            harmonise=self.params.harmonise,
            correlation_threshold=self.params.correlation_threshold or FIXED_THRESHOLD,
            select=self.params.select,
            k=self.params.select_k or FIXED_K,
        )
        weights = compute_sample_weight("balanced", y_encoded) if self.params.class_weight else None
        fit_params: dict[str, Any] = {"clf__sample_weight": weights} if weights is not None else {}
        if self.groups_to_classifier:  # subset with the rows by every inner CV (search, folds)
            fit_params["clf__groups"] = np.asarray(labelled.groups)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is greater than n_features.*")
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            self.best_params_ = self._tune(pipeline, X, y_encoded, folds, fit_params, context.seed)
            best = clone(pipeline).set_params(**self.best_params_)
            if self.calibrate:
                # One (pipeline, sigmoid calibrator) pair per inner fold, each calibrator fitted on
                # its fold's held-out patients; predictions average the pairs (no refit needed).
                self.model_ = CalibratedClassifierCV(best, method="sigmoid", cv=folds, ensemble=True).fit(
                    X, y_encoded, **fit_params
                )
                fold_models = [pair.estimator for pair in self.model_.calibrated_classifiers_]
            else:
                fold_models = [
                    clone(best).fit(X[train_rows], y_encoded[train_rows], **self._rows(fit_params, train_rows))
                    for train_rows, _ in folds
                ]
                self.model_ = clone(best).fit(X, y_encoded, **fit_params)
            self.held_out_ = self._held_out(fold_models, folds, X, labelled)
            self.importance_ = self._importance(fold_models, folds, X, y_encoded, context.seed)
        return self

    def _stable_columns(self, labelled: ScanSet, context: RunContext) -> pd.DataFrame:
        """Measure each feature's ICC on a seeded sample of the training scans and keep the robust
        ones (``radiomics_columns_``); returns the per-feature table the report shows."""
        from cirrbench.benchmark.data.perturbations import DEFAULT_STABILITY

        records = list(labelled.records)
        wanted = self.params.stability_scans
        if wanted and len(records) > wanted:
            picked = np.sort(np.random.default_rng([context.seed, 7]).choice(len(records), wanted, replace=False))
            records = [records[i] for i in picked]
        columns = self._feature_columns(self._raw_features(labelled))
        table = measure_stability(
            records,
            columns,
            self._extraction_params(self.params),
            context.perturbations or DEFAULT_STABILITY,
            self.params.stability_icc,
        )
        self.radiomics_columns_ = [c for c, keep in zip(table["feature"], table["robust"]) if keep]
        if not self.radiomics_columns_:
            raise ValueError(
                f"no feature reaches ICC {self.params.stability_icc:g} across the perturbations on {len(records)} training scans; lower stability_icc or the perturbation levels"
            )
        context.logger.info(
            "stable features: %d of %d reach ICC %g",
            len(self.radiomics_columns_),
            len(columns),
            self.params.stability_icc,
        )
        return table

    def _inner_folds(self, y: np.ndarray) -> int:
        """``inner_folds``, or fewer where no stage has that many patients (a small learning-curve
        share): stratified folds need one member of the largest stage per fold."""
        largest = int(np.bincount(y).max())
        if largest < 2:
            raise ValueError(
                f"an inner CV needs at least 2 labelled patients of one stage; the largest stage has {largest}"
            )
        return min(self.params.inner_folds, largest)

    @staticmethod
    def _rows(fit_params: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
        return {name: value[rows] for name, value in fit_params.items()}

    def _tune(
        self, pipeline, X: np.ndarray, y: np.ndarray, folds: list, fit_params: dict[str, Any], seed: int
    ) -> dict[str, Any]:
        """The inner search's best parameters (an empty dict without tuning)."""
        space = dict(self.search_space)
        if self.params.select == "anova" and self.params.select_k is None:
            space["features__radiomics__select__k"] = list(K_CHOICES)
        if self.params.correlation_threshold is None:
            space["features__radiomics__decorrelate__threshold"] = list(THRESHOLD_CHOICES)
        if self.params.tuning_iterations <= 0 or not space:
            return {}
        search = RandomizedSearchCV(
            pipeline,
            space,
            n_iter=self.params.tuning_iterations,
            scoring="balanced_accuracy",
            cv=folds,
            random_state=seed % (2**31),
            n_jobs=1,
            error_score=np.nan,
            refit=False,
        )
        search.fit(X, y, **fit_params)
        return dict(search.best_params_)

    def _fold_proba(self, model, X: np.ndarray) -> np.ndarray:
        """Probabilities over the label set from a model fitted on some of the classes."""
        present = model.predict_proba(X)
        full = np.zeros((len(X), self.labels_.n_classes))
        full[:, self.classes_[np.asarray(model.classes_, dtype=int)]] = present
        return full

    def _permuted_accuracies(
        self, model, held: np.ndarray, truth: np.ndarray, permutations: list[tuple[int, np.ndarray]]
    ) -> tuple[float, list[float]]:
        """The model's accuracy on ``held`` and on each copy of it with one column's rows put in
        another order (``(column, order)``), predicted in batches of about
        :data:`PREDICTION_BATCH` values: a prediction call per copy, each with the pipeline's
        validation and its column transformer's dispatch, was most of a default fit (150 calls
        per inner fold). Rows are predicted independently, so every accuracy is as it was."""
        copies: list[tuple[int, np.ndarray] | None] = [None, *permutations]
        per_batch = max(1, PREDICTION_BATCH // max(1, held.size))
        accuracies = []
        for start in range(0, len(copies), per_batch):
            chunk = copies[start : start + per_batch]
            batch = np.tile(held, (len(chunk), 1))
            for i, change in enumerate(chunk):
                if change is not None:
                    column, order = change
                    batch[i * len(held) : (i + 1) * len(held), column] = held[order, column]
            predicted = self.classes_[self._fold_proba(model, batch).argmax(axis=1)]
            accuracies += [float(np.mean(labels == truth)) for labels in np.split(predicted, len(chunk))]
        return accuracies[0], accuracies[1:]

    def _held_out(self, fold_models: list, folds: list, X: np.ndarray, labelled: ScanSet) -> pd.DataFrame:
        """Out-of-fold probabilities of every labelled scan (the harness's model choice)."""
        proba = np.zeros((len(X), self.labels_.n_classes))
        for model, (_, held) in zip(fold_models, folds):
            proba[held] = self._fold_proba(model, X[held])
        frame = pd.DataFrame(proba, index=labelled.scan_ids, columns=list(self.labels_.names))
        frame.index.name = "scan_id"
        return frame

    def predict(self, test: ScanSet) -> Predictions:
        X = self._matrix(test).reindex(columns=self.columns_)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            probabilities = self._fold_proba(self.model_, X.to_numpy(dtype=float))
        predictions = Predictions.from_array(test.scan_ids, probabilities, self.labels_)
        predictions.held_out = self.held_out_
        if self.importance_ is not None:
            predictions.extras["feature_importance"] = self.importance_
        if self.stability_ is not None:
            predictions.extras["feature_stability"] = self.stability_
        return predictions

    # ---- insight ----------------------------------------------------------------------------
    def _gain(self, model, names: list[str]) -> dict[str, float]:
        """The learner's own importance of the features reaching it (gain, impurity); {} if none."""
        return {}

    def _importance(self, fold_models: list, folds: list, X: np.ndarray, y: np.ndarray, seed: int) -> pd.DataFrame:
        """Permutation importance on each inner fold's held-out patients (models never saw them),
        for the features with the highest ANOVA F among those the fold's model kept; averaged
        over folds. The learner's own importance (``gain``) is averaged over the fold models."""
        rng = np.random.default_rng(seed)
        index = {c: i for i, c in enumerate(self.columns_)}
        drops: dict[str, list[float]] = {}
        gains: dict[str, list[float]] = {}
        kept_any: list[str] = []
        for model, (train_rows, held) in zip(fold_models, folds):
            kept = [n for n in kept_feature_names(model, self.columns_) if n in index]
            kept_any += [n for n in kept if n not in kept_any]
            for name, value in self._gain(model, kept).items():
                gains.setdefault(name, []).append(value)
            if self.params.permutation_repeats <= 0 or len(held) < 4 or len(np.unique(y[held])) < 2:
                continue
            columns = np.array([index[n] for n in kept])
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f_scores, _ = f_classif(np.nan_to_num(X[np.ix_(train_rows, columns)]), y[train_rows])
            ranked = [
                kept[i] for i in np.argsort(-np.nan_to_num(f_scores, nan=-1.0))[: self.params.permutation_features]
            ]
            # the draws of one column shuffle after another, in the order they always came
            shuffled = [name for name in ranked for _ in range(self.params.permutation_repeats)]
            permutations = [(index[name], rng.permutation(len(held))) for name in shuffled]
            base, permuted = self._permuted_accuracies(model, X[held], self.classes_[y[held]], permutations)
            for name, value in zip(shuffled, permuted):
                drops.setdefault(name, []).append(base - value)
        frame = pd.DataFrame({"feature": kept_any})
        frame["gain"] = [float(np.mean(gains[n])) if n in gains else np.nan for n in kept_any]
        frame["permutation_mean"] = [float(np.mean(drops[n])) if n in drops else np.nan for n in kept_any]
        frame["permutation_std"] = [float(np.std(drops[n])) if n in drops else np.nan for n in kept_any]
        return frame

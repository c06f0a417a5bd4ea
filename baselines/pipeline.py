"""scikit-learn building blocks of the radiomics learners: column choice, correlation filter, pipeline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from .harmonisation import ComBatHarmoniser

__all__ = [
    "build_pipeline",
    "CorrelationFilter",
    "FAMILIES",
    "IMAGE_TYPES",
    "kept_feature_names",
    "parse_feature_name",
    "select_columns",
]

#: PyRadiomics feature classes by family.
FAMILIES = {
    "shape": ("shape",),
    "firstorder": ("firstorder",),
    "texture": ("glcm", "glrlm", "glszm", "gldm", "ngtdm"),
}
#: PyRadiomics image-type prefixes (``original_``, ``log-sigma-2-0-mm-3D_``, ``wavelet-LLH_``, ...).
IMAGE_TYPES = {"original": "original", "log": "log-sigma", "wavelet": "wavelet-"}


def parse_feature_name(name: str) -> tuple[str, str, str]:
    """``wavelet-LLH_glcm_Idmn`` -> (image type, feature class, feature)."""
    parts = name.split("_", 2)
    if len(parts) != 3:
        return "", "", name
    return parts[0], parts[1], parts[2]


def select_columns(columns: Sequence[str], image_types: Sequence[str], families: Sequence[str]) -> list[str]:
    """Columns of the wanted image types and feature families, in the given order.

    Shape features do not depend on the image type (PyRadiomics computes them on the mask, for
    Original only), so they are kept whenever the ``shape`` family is wanted.
    """
    for t in image_types:
        if t not in IMAGE_TYPES:
            raise ValueError(f"unknown image type {t!r}; use {', '.join(IMAGE_TYPES)}")
    for f in families:
        if f not in FAMILIES:
            raise ValueError(f"unknown feature family {f!r}; use {', '.join(FAMILIES)}")
    classes = {c for f in families for c in FAMILIES[f]}
    prefixes = tuple(IMAGE_TYPES[t] for t in image_types)
    kept = []
    for name in columns:
        image_type, feature_class, _ = parse_feature_name(name)
        if feature_class not in classes:
            continue
        if feature_class == "shape" or image_type.startswith(prefixes):
            kept.append(name)
    return kept


class CorrelationFilter(TransformerMixin, BaseEstimator):
    """Drop every feature whose absolute Pearson correlation with an earlier kept feature exceeds ``threshold``.

    Fitted on the training part only, like every other step. scikit-learn has no such transformer.
    """

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        if X.shape[1] <= 1 or self.threshold >= 1.0:
            self.keep_ = np.arange(X.shape[1])
            return self
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.corrcoef(X, rowvar=False))
        corr = np.nan_to_num(corr, nan=0.0)
        keep: list[int] = []
        dropped = np.zeros(X.shape[1], dtype=bool)
        for j in range(X.shape[1]):
            if dropped[j]:
                continue
            keep.append(j)
            dropped |= corr[j] > self.threshold
            dropped[j] = True
        self.keep_ = np.array(keep, dtype=int)
        return self

    def transform(self, X):
        check_is_fitted(self, "keep_")
        return np.asarray(X, dtype=float)[:, self.keep_]

    def get_feature_names_out(self, input_features=None):
        names = np.asarray(
            input_features if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)],
            dtype=object,
        )
        return names[self.keep_]


def build_pipeline(
    classifier,
    n_radiomics: int,
    n_covariates: int = 0,
    harmonise: bool = False,
    correlation_threshold: float = 0.95,
    select: str = "anova",
    k: int | str = 50,
    scale: bool = True,
) -> Pipeline:
    """The columns are ``n_radiomics`` radiomics features, then ``n_covariates`` covariates (age,
    sex, the input indicator), then, with ``harmonise``, the site code.

    Radiomics features: [ComBat across sites] -> impute -> drop constant -> drop near-duplicate
    (|r| above ``correlation_threshold``; 1.0 keeps all) -> scale -> [ANOVA k-best]. Covariates
    bypass filtering and selection (impute -> scale), so they always reach the classifier.
    """
    steps = []
    if harmonise:
        steps.append(("harmonise", ComBatHarmoniser()))
    steps += [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("constant", VarianceThreshold(0.0)),
        ("decorrelate", CorrelationFilter(correlation_threshold)),
    ]
    if scale:
        steps.append(("scale", StandardScaler()))
    if select == "anova":
        steps.append(("select", SelectKBest(f_classif, k=k)))
    radiomics_columns = list(range(n_radiomics)) + ([n_radiomics + n_covariates] if harmonise else [])
    parts = [("radiomics", Pipeline(steps), radiomics_columns)]
    if n_covariates:
        covariates = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))] + (
            [("scale", StandardScaler())] if scale else []
        )
        parts.append(("covariates", Pipeline(covariates), list(range(n_radiomics, n_radiomics + n_covariates))))
    features = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("features", features), ("clf", classifier)])


def kept_feature_names(pipeline: Pipeline, names: Sequence[str]) -> list[str]:
    """Names of the features that reach the classifier (scikit-learn's feature-name propagation)."""
    return [str(n) for n in pipeline[:-1].get_feature_names_out(np.asarray(names, dtype=object))]

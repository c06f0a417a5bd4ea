"""Radiomics feature robustness under image perturbations: ICC(1,1) per feature.

Zwanenburg et al. (Sci Rep 2019, "Assessing robustness of radiomic features by image
perturbation") compute, per feature, the intraclass correlation coefficient ICC(1,1) (one-way
random effects, single measurement; Shrout & Fleiss 1979) over the perturbed versions of each
image, and call a feature robust at ICC >= 0.9. Here the "raters" are the clean scan and each
perturbation and level; the subjects are the scans. The ``stable-features`` variant measures it
on (a sample of) its own training scans only, so the selection never sees a test scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cirrbench.benchmark.data.cohort import ScanRecord
from cirrbench.benchmark.data.perturbations import ROBUST_ICC, Perturbation
from cirrbench.benchmark.data.perturbed_scans import perturbed_record

from .features import extract_features

__all__ = ["feature_class", "icc_1_1", "measure_stability"]


def icc_1_1(values: np.ndarray) -> np.ndarray:
    """ICC(1,1) of each feature: ``values`` is (features, subjects, raters); NaN where the feature
    does not vary at all (no between-subject variance to compare with)."""
    values = np.asarray(values, dtype=float)
    _, n, k = values.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 subjects and 2 raters, got {n} and {k}")
    subject_means = values.mean(axis=2, keepdims=True)
    grand = values.mean(axis=(1, 2), keepdims=True)
    between = k * ((subject_means - grand) ** 2).sum(axis=(1, 2)) / (n - 1)
    within = ((values - subject_means) ** 2).sum(axis=(1, 2)) / (n * (k - 1))
    denominator = between + (k - 1) * within
    with np.errstate(invalid="ignore", divide="ignore"):
        icc = (between - within) / denominator
    return np.where(denominator > 0, icc, np.nan)


def feature_class(name: str) -> tuple[str, str]:
    """(image type, feature class) of a PyRadiomics column (``wavelet-LLH_glcm_Contrast`` ->
    ``wavelet-LLH``, ``glcm``); ("", "other") for a name of another shape."""
    parts = name.split("_")
    return (parts[0], parts[1]) if len(parts) >= 3 else ("", "other")


def measure_stability(
    records: Sequence[ScanRecord],
    columns: list[str],
    extraction: dict,
    perturbations: Sequence[Perturbation],
    threshold: float = ROBUST_ICC,
) -> pd.DataFrame:
    """Per feature of ``columns``: image type, class, ICC(1,1) over the clean scans and each
    perturbed copy, and whether it reaches ``threshold``."""
    perturbations = [p for p in perturbations if not p.is_identity]  # a copy of the clean scan would inflate the ICC
    if not perturbations:
        raise ValueError(
            "feature robustness needs at least one perturbation that changes the scans (a level other than 0)"
        )
    versions = [list(records)] + [[perturbed_record(r, p) for r in records] for p in perturbations]
    ids = [r.scan_id for r in records]
    tables = []
    for version in versions:
        result = extract_features(version, extraction, jobs=1, progress=False)
        if result.failures:
            raise RuntimeError(
                "feature extraction failed for a perturbed scan: " + "; ".join(str(f) for f in result.failures[:3])
            )
        tables.append(result.table.loc[ids].reindex(columns=columns))
    values = np.stack([t.to_numpy(dtype=float) for t in tables], axis=-1)  # (scans, features, raters)
    icc = icc_1_1(values.transpose(1, 0, 2))
    kinds = [feature_class(c) for c in columns]
    return pd.DataFrame(
        {
            "feature": columns,
            "image_type": [k[0] for k in kinds],
            "feature_class": [k[1] for k in kinds],
            "icc": icc,
            "robust": np.nan_to_num(icc, nan=-1.0) >= threshold,
            "scans": len(records),
            "raters": values.shape[-1],
        }
    )

"""One way in for every cohort: a CirrMRI600+ folder, a manifest CSV or a feature-table CSV.

Each source lives in ``sources/`` and builds the same plain :class:`Cohort`; this module only
chooses between them, so no source needs another. Validation is a separate step (``validate.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.data.sources.feature_table import load_feature_table
from cirrbench.benchmark.data.sources.manifest import load_manifest

__all__ = ["is_feature_table", "load_cohort"]


def load_cohort(path: str | Path, include_healthy: bool = False, **manifest_options) -> Cohort:
    """A folder is read as a CirrMRI600+ root; a ``.csv`` as a manifest (it has an ``image``
    column) or else as a feature table (see :mod:`cirrbench.benchmark.data.sources.feature_table`)."""
    path = Path(path).expanduser()
    if path.is_dir() and (manifest_options.get("labels") is not None or manifest_options.get("ordinal") is not None):
        raise ValueError(
            f"{path}: a CirrMRI600+ folder has fixed labels (mild, moderate, severe; ordinal); --labels and --ordinal are for manifest and feature-table cohorts"
        )
    if path.is_file() and path.suffix.lower() == ".csv":
        if is_feature_table(path):
            return load_feature_table(path, **manifest_options)
        return load_manifest(path, **manifest_options)
    if path.is_dir():
        return load_cirrmri(path, include_healthy=include_healthy)
    raise FileNotFoundError(f"{path}: neither a CirrMRI600+ folder nor a manifest .csv")


def is_feature_table(path: Path) -> bool:
    """A CSV without an ``image`` column is a feature table, with one it is a manifest."""
    header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    return "image" not in {c.strip() for c in header}

"""From prediction files to rows the statistics use: patient- and slice-level frames, per-split metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.decision import row_keys
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.reporting.metric_registry import available_metrics
from cirrbench.benchmark.reporting.metric_values import compute_metrics, patient_level, probability_columns, slice_level

if TYPE_CHECKING:
    from cirrbench.benchmark.reporting.report_cache import Memo

__all__ = ["GROUP", "JobFrames", "level_frames", "per_split_metrics", "test_fractions"]

GROUP = ["runner", "variant", "input", "protocol"]


@dataclass
class JobFrames:
    """Patient-level (always) and slice-level (where present) prediction rows of every job."""

    patients: pd.DataFrame
    slices: pd.DataFrame


def level_frames(predictions: pd.DataFrame, slices_by_job: dict[str, pd.DataFrame], labels: LabelSet) -> JobFrames:
    """``predictions``: scan rows of every job with a ``job_key`` column; ``slices_by_job``: slice rows by job key."""
    cols = probability_columns(predictions, labels)
    meta = ["runner", "variant", "input", "protocol", "split_id", "seed_index"]
    patient_parts, slice_parts = [], []
    for keys, part in predictions.groupby(meta, sort=True):
        rows = patient_level(part, labels)
        for name, value in zip(meta, keys):
            rows[name] = value
        patient_parts.append(rows)
    for key, slices in slices_by_job.items():
        part = predictions[predictions["job_key"] == key]  # the job's own scan rows carry its labels
        rows = slice_level(slices, part, labels)
        for name in meta:
            rows[name] = part[name].iloc[0]
        slice_parts.append(rows[["patient_id", "scan_id", "slice", *cols, "true_label", *meta]])
    patients = pd.concat(patient_parts, ignore_index=True) if patient_parts else pd.DataFrame()
    slices = pd.concat(slice_parts, ignore_index=True) if slice_parts else pd.DataFrame()
    return JobFrames(patients, slices)


def per_split_metrics(frame: pd.DataFrame, labels: LabelSet, level: str, memo: Memo | None = None) -> pd.DataFrame:
    """Metrics of every (group, split, seed) at one level; with a ``memo``, a group whose rows an
    earlier build scored is not scored again."""
    if frame.empty:
        return pd.DataFrame()
    cols = probability_columns(frame, labels)
    metrics = sorted(available_metrics())  # a plugin metric changes every group's values
    rows = []
    for keys, part in frame.groupby([*GROUP, "split_id", "seed_index"], sort=True):

        def score(part: pd.DataFrame = part) -> dict[str, float]:
            return compute_metrics(part["true_label"].to_numpy(), part[cols].to_numpy(), labels, row_keys(part))

        values = score() if memo is None else memo.value("split_metrics", (level, labels, metrics, part), score)
        rows.append({**dict(zip([*GROUP, "split_id", "seed_index"], keys)), "level": level, **values})
    return pd.DataFrame(rows)


def test_fractions(jobs: list[dict]) -> dict[tuple[str, str], float]:
    """Per (protocol, row name), the mean n_test / n_fit of its jobs: the Nadeau-Bengio
    correction's ratio, with n_fit the patients the runner fitted on (train + valid for runners
    that train on the validation part; job records written before n_fit existed give n_train)."""
    ratios: dict[tuple[str, str], list[float]] = {}
    for job in jobs:
        fitted = job.get("n_fit") or job.get("n_train")
        if fitted:
            ratios.setdefault((job["protocol"], job.get("alias") or job["runner"]), []).append(job["n_test"] / fitted)
    return {key: float(np.mean(values)) for key, values in ratios.items()}

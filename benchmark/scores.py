"""From prediction files to numbers: per-job metrics, summaries with CIs, comparisons to a reference."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .labels import LabelSet
from .metrics import LOWER_IS_BETTER, compute_metrics, metric_bounds, metric_function, patient_level, probability_columns, slice_level
from .stats import Estimate, corrected_paired_t, corrected_t_ci, holm, mcnemar_exact

GROUP = ["runner", "variant", "input", "protocol"]
SINGLE_SPLIT_PROTOCOLS = {"official", "paired"}


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


def per_split_metrics(frame: pd.DataFrame, labels: LabelSet, level: str) -> pd.DataFrame:
    """Metrics of every (group, split, seed) at one level."""
    if frame.empty:
        return pd.DataFrame()
    cols = probability_columns(frame, labels)
    rows = []
    for keys, part in frame.groupby([*GROUP, "split_id", "seed_index"], sort=True):
        values = compute_metrics(part["true_label"].to_numpy(), part[cols].to_numpy(), labels)
        rows.append({**dict(zip([*GROUP, "split_id", "seed_index"], keys)), "level": level, **values})
    return pd.DataFrame(rows)


def _test_fraction(jobs: list[dict], protocol: str) -> float:
    ratios = [j["n_test"] / j["n_train"] for j in jobs if j.get("protocol") == protocol and j.get("n_train")]
    return float(np.mean(ratios)) if ratios else 0.25


def _bootstrap_over_patients(part: pd.DataFrame, labels: LabelSet, metric: str, n_boot: int, seed: int) -> Estimate:
    """Seed-averaged metric with a cluster bootstrap: patients are resampled, with all their rows.

    At patient level a patient is one row; at slice level all of a patient's slices move together,
    so the interval reflects the number of patients, not the (much larger) number of slices.
    """
    cols = probability_columns(part, labels)
    score = metric_function(metric, labels)
    patients = np.array(sorted(part["patient_id"].unique()))
    frames = []
    for _, frame in part.groupby("seed_index", sort=True):
        rows = {p: idx.to_numpy() for p, idx in frame.reset_index(drop=True).groupby("patient_id").groups.items()}
        frames.append((frame["true_label"].to_numpy(), frame[cols].to_numpy(), rows))

    def value(chosen: np.ndarray) -> float:
        results = []
        for y, p, rows in frames:
            index = np.concatenate([rows[c] for c in chosen if c in rows])
            results.append(score(y[index], p[index]))
        return float(np.mean(results))

    point = value(patients)
    rng = np.random.default_rng(seed)
    draws = np.array([value(rng.choice(patients, size=len(patients), replace=True)) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if len(draws) < n_boot // 2:
        return Estimate(point, float("nan"), float("nan"), "bootstrap")
    low, high = np.quantile(draws, [0.025, 0.975])
    return Estimate(point, float(low), float(high), "bootstrap")


def summarise(frame: pd.DataFrame, split_metrics: pd.DataFrame, jobs: list[dict], labels: LabelSet, metric: str, n_boot: int, seed: int, level: str) -> pd.DataFrame:
    """One row per (runner, variant, input, protocol): value, CI, method, number of splits."""
    rows = []
    if split_metrics.empty:
        return pd.DataFrame(columns=[*GROUP, "level", "metric", "value", "low", "high", "ci", "splits"])
    for keys, part in split_metrics.groupby(GROUP, sort=True):
        group = dict(zip(GROUP, keys))
        n_splits = part["split_id"].nunique()
        if n_splits == 1:
            mask = np.logical_and.reduce([frame[k] == v for k, v in group.items()])
            estimate = _bootstrap_over_patients(frame[mask], labels, metric, n_boot, seed)
        else:
            per_split = part.groupby("split_id")[metric].mean()
            estimate = corrected_t_ci(per_split.to_numpy(), _test_fraction(jobs, group["protocol"]), bounds=metric_bounds(metric, labels))
        rows.append({**group, "level": level, "metric": metric, "value": estimate.value, "low": estimate.low, "high": estimate.high, "ci": estimate.method, "splits": n_splits})
    return pd.DataFrame(rows)


def compare_to_reference(frame: pd.DataFrame, split_metrics: pd.DataFrame, jobs: list[dict], reference: str, metric: str, level: str) -> pd.DataFrame:
    """Paired test of each runner/variant against the reference runner, Holm-adjusted per (protocol, level)."""
    rows = []
    if split_metrics.empty or reference not in set(split_metrics["runner"]):
        return pd.DataFrame(columns=[*GROUP, "level", "test", "difference", "p", "p_holm"])
    for keys, part in split_metrics.groupby(GROUP, sort=True):
        group = dict(zip(GROUP, keys))
        if group["runner"] == reference:
            continue
        ref = split_metrics[(split_metrics["runner"] == reference) & (split_metrics["variant"] == "default") & (split_metrics["input"] == group["input"]) & (split_metrics["protocol"] == group["protocol"])]
        if ref.empty:
            continue
        if part["split_id"].nunique() == 1:
            if level != "patient":
                continue  # McNemar needs one paired outcome per patient
            mine = frame[np.logical_and.reduce([frame[k] == v for k, v in group.items()]) & (frame["seed_index"] == 0)]
            theirs = frame[(frame["runner"] == reference) & (frame["variant"] == "default") & (frame["input"] == group["input"]) & (frame["protocol"] == group["protocol"]) & (frame["seed_index"] == 0)]
            merged = mine.merge(theirs, on="patient_id", suffixes=("", "_ref"))
            prob_cols = [c for c in mine.columns if c.startswith("prob_")]
            correct = merged[prob_cols].to_numpy().argmax(axis=1) == merged["true_label"].to_numpy()
            correct_ref = merged[[f"{c}_ref" for c in prob_cols]].to_numpy().argmax(axis=1) == merged["true_label"].to_numpy()
            _, _, p = mcnemar_exact(correct, correct_ref)
            diff = float(part[metric].mean() - ref[metric].mean())
            test = "McNemar exact"
        else:
            a = part.groupby("split_id")[metric].mean()
            b = ref.groupby("split_id")[metric].mean()
            common = a.index.intersection(b.index)
            diff, p = corrected_paired_t(a[common].to_numpy(), b[common].to_numpy(), _test_fraction(jobs, group["protocol"]))
            test = "corrected paired t"
        rows.append({**group, "level": level, "test": test, "difference": diff, "p": p})
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=[*GROUP, "level", "test", "difference", "p", "p_holm"])
    out["p_holm"] = np.nan
    for _, index in out.groupby(["protocol", "level"]).groups.items():
        out.loc[index, "p_holm"] = holm(out.loc[index, "p"].tolist())
    return out


def is_better(metric: str, a: float, b: float) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b

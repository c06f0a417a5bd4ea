"""``cirrbench report``: every table and figure, rebuilt from prediction files alone."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .execute import load_predictions, load_slice_predictions
from .figures import attention_maps, confusion_grid, forest_plot, roc_per_stage, top_features
from .labels import LabelSet
from .scores import compare_to_reference, level_frames, per_split_metrics, summarise
from .tables import INPUT_ORDER, Table, ablation_table, main_table, per_stage_table

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PHANTOM_BANNER = "SYNTHETIC PHANTOM - checks the machinery, not clinical validity"


@dataclass
class ReportSettings:
    metric: str = "accuracy"
    reference: str = "majority"
    bootstrap: int = 2000
    seed: int = 0
    reported: list[dict] = field(default_factory=list)
    families: dict[str, str] = field(default_factory=dict)
    banner: str | None = None
    job_keys: list[str] | None = None  # restrict to these jobs (the current experiment's)

    @classmethod
    def from_manifest(cls, out: Path) -> "ReportSettings":
        path = out / MANIFEST
        if not path.is_file():
            return cls()
        manifest = json.loads(path.read_text())
        report = manifest.get("report", {})
        return cls(
            metric=report.get("metric", "accuracy"),
            reference=report.get("reference", "majority"),
            bootstrap=int(report.get("bootstrap", 2000)),
            seed=int(report.get("seed", 0)),
            reported=list(report.get("reported", [])),
            families=dict(report.get("families", {})),
            banner=PHANTOM_BANNER if manifest.get("cohort", {}).get("phantom") else None,
            job_keys=[j["key"] for j in manifest.get("jobs", [])] or None,
        )


@dataclass
class Report:
    tables: list[Table]
    files: list[Path]
    summary: pd.DataFrame

    def main_markdown(self) -> str:
        mains = [t for t in self.tables if t.name.startswith("main_")]
        return "\n".join(t.to_markdown() for t in mains)


def build_report(out: str | Path, settings: ReportSettings | None = None) -> Report:
    out = Path(out)
    settings = settings or ReportSettings.from_manifest(out)
    predictions, jobs = load_predictions(out)
    if settings.job_keys is not None and not predictions.empty:
        # Only this experiment's jobs: folders of earlier configs (other keys) may share labels.
        keep = set(settings.job_keys)
        jobs = [j for j in jobs if j["key"] in keep]
        predictions = predictions[predictions["job_key"].isin(keep)]
    if predictions.empty:
        raise FileNotFoundError(f"{out}: no finished job with predictions; run `cirrbench run CONFIG --out {out}` first")
    label_dicts = {json.dumps(j["labels"], sort_keys=True) for j in jobs}
    if len(label_dicts) != 1:
        raise ValueError(f"{out}: jobs use different label sets; report them separately")
    labels = LabelSet(tuple(jobs[0]["labels"]["names"]), jobs[0]["labels"]["ordinal"])
    slices = {j["key"]: s for j in jobs if (s := load_slice_predictions(out, j["key"])) is not None}
    frames = level_frames(predictions, slices, labels)

    metric_tables, summaries, comparisons = [], [], []
    for level, frame in (("patient", frames.patients), ("slice", frames.slices)):
        if frame.empty:
            continue
        split_metrics = per_split_metrics(frame, labels, level)
        metric_tables.append(split_metrics)
        summaries.append(summarise(frame, split_metrics, jobs, labels, settings.metric, settings.bootstrap, settings.seed, level))
        comparisons.append(compare_to_reference(frame, split_metrics, jobs, settings.reference, settings.metric, level))
    split_metrics = pd.concat(metric_tables, ignore_index=True)
    summary = pd.concat(summaries, ignore_index=True)
    comparison = pd.concat(comparisons, ignore_index=True)

    files: list[Path] = []
    metrics_dir = out / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in (("per_split", split_metrics), ("summary", summary), ("comparisons", comparison)):
        path = metrics_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        files.append(path)

    families = {**{shown_name(j): "" for j in jobs}, **settings.families}
    tables: list[Table] = []
    order = {"official": 0, "paired": 1, "cv": 2, "file": 3}
    protocols = sorted(set(summary["protocol"]), key=lambda p: (order.get(p, 9), p))
    for protocol in protocols:
        for level in ("patient", "slice"):
            table = main_table(summary, comparison, protocol, level, settings.metric, settings.reference, settings.reported, families, f"main_{protocol}_{level}")
            if table is not None:
                tables.append(table)
        table = per_stage_table(split_metrics, labels, protocol, "patient", f"per_stage_{protocol}")
        if table is not None:
            tables.append(table)
        for runner in sorted(set(summary["runner"])):
            for level in ("patient", "slice"):
                table = ablation_table(summary, runner, protocol, level, settings.metric, f"ablation_{runner}_{protocol}_{level}")
                if table is not None:
                    tables.append(table)
    tables_dir = out / "tables"
    for table in tables:
        if settings.banner:
            table.notes = [f"{settings.banner}.", *[n for n in table.notes if not n.startswith(settings.banner)]]
        files += table.write(tables_dir)

    figures_dir = out / "figures"
    family_rank = {"reference": 0, "radiomics": 1, "deep": 2}
    order = sorted(set(summary["runner"]), key=lambda r: (r != settings.reference, family_rank.get(families.get(r, ""), 3), r))
    for protocol in protocols:
        files += confusion_grid(frames.patients, labels, protocol, "patient", figures_dir / f"confusion_{protocol}", settings.banner, order)
        files += roc_per_stage(frames.patients, labels, protocol, "patient", figures_dir / f"roc_{protocol}", settings.banner)
        files += forest_plot(summary, protocol, "patient", settings.metric, figures_dir / f"forest_{protocol}", settings.reference, settings.banner, order)
    files += _importance_outputs(out, jobs, settings.banner)
    files += _attention_outputs(out, jobs, predictions, labels, settings.banner)
    remove_stale_outputs(out, files)
    return Report(tables, files, summary)


#: What the report owns: every table file, and figures with these name prefixes (the cohort montage
#: and anything a user puts there are left alone).
REPORT_FIGURE_PREFIXES = ("confusion_", "roc_", "forest_", "top_features_", "attention_")


def remove_stale_outputs(out: Path, written: list[Path]) -> list[Path]:
    """Delete report files that this build did not write (left by an earlier config), so tables
    and figures of runners or protocols no longer in the experiment are not mistaken for results."""
    keep = {p.resolve() for p in written}
    candidates = [p for p in (out / "tables").glob("*") if p.suffix in (".md", ".tex", ".csv")]
    candidates += [p for p in (out / "figures").glob("*") if p.suffix in (".png", ".pdf") and p.name.startswith(REPORT_FIGURE_PREFIXES)]
    removed = [p for p in candidates if p.is_file() and p.resolve() not in keep]
    for path in removed:
        path.unlink()
        log.info("removed %s (not part of this report)", path)
    return removed


def shown_name(job: dict) -> str:
    """A job record's row name in tables: its ``as:`` alias, else the runner (as ``Job.display``)."""
    return job.get("alias") or job["runner"]


def _input_rank(sequence: str) -> tuple[int, str]:
    return (INPUT_ORDER.index(sequence) if sequence in INPUT_ORDER else len(INPUT_ORDER), sequence)


def _attention_outputs(out: Path, jobs: list[dict], predictions: pd.DataFrame, labels: LabelSet, banner: str | None) -> list[Path]:
    """A figure of saved attention maps per runner and protocol (default variant, first split per input)."""
    by_group: dict[tuple[str, str], list[dict]] = {}
    seen: set[tuple] = set()
    # A total order (inputs T1W, T2W, both), so the chosen scans never depend on job-folder names.
    for job in sorted(jobs, key=lambda j: (j["protocol"], j["split_id"], _input_rank(j["sequence"]), shown_name(j))):
        path = out / "predictions" / job["key"] / "arrays.npz"
        runner = shown_name(job)
        group = (runner, job["protocol"], job["sequence"])
        if job["variant"] != "default" or not path.is_file() or group in seen:
            continue
        seen.add(group)
        arrays = np.load(path, allow_pickle=False)
        if "attention_scan_ids" not in arrays:
            continue
        truth = predictions[predictions["job_key"] == job["key"]].set_index("scan_id")
        for scan_id, image, heat in zip(arrays["attention_scan_ids"], arrays["attention_images"], arrays["attention_maps"]):
            if scan_id in truth.index:
                by_group.setdefault((runner, job["protocol"]), []).append(
                    {"scan_id": str(scan_id), "input": job["sequence"], "true": int(truth.loc[scan_id, "true_label"]), "pred": int(truth.loc[scan_id, "pred_label"]), "image": image, "map": heat}
                )
    files = []
    for (runner, protocol), entries in sorted(by_group.items()):
        title = f"{runner}: spatial attention on the most attended liver slice ({protocol}, first test split), rows = true stage"
        files += attention_maps(entries, labels, title, out / "figures" / f"attention_{runner}_{protocol}", banner=banner)
    return files


def _importance_outputs(out: Path, jobs: list[dict], banner: str | None) -> list[Path]:
    """Aggregate ``extra_feature_importance.csv`` of default-variant jobs: a table and a figure per runner and protocol."""
    parts = []
    for job in jobs:
        path = out / "predictions" / job["key"] / "extra_feature_importance.csv"
        if job["variant"] != "default" or not path.is_file():
            continue
        frame = pd.read_csv(path)
        frame["runner"], frame["protocol"], frame["input"], frame["split_id"] = shown_name(job), job["protocol"], job["sequence"], job["split_id"]
        parts.append(frame)
    if not parts:
        return []
    allrows = pd.concat(parts, ignore_index=True)
    files = []
    for (runner, protocol), part in allrows.groupby(["runner", "protocol"], sort=True):
        rows = []
        for column, sub in part.groupby("input"):
            # A feature that did not reach the classifier in a split has importance 0 there.
            # NaN where the validation part was too small to permute: kept as NaN, never as 0.
            kept = sub.pivot_table(index="feature", columns="split_id", values="permutation_mean", aggfunc="mean", dropna=False)
            computed = sub.groupby("split_id")["permutation_mean"].apply(lambda v: v.notna().any())
            wide = kept.reindex(columns=sorted(sub["split_id"].unique()))
            for split_id in wide.columns:
                if computed.get(split_id, False):
                    wide[split_id] = wide[split_id].fillna(0.0)
            gains = sub.pivot_table(index="feature", columns="split_id", values="gain", aggfunc="mean", dropna=False).reindex(index=wide.index)
            rows.append(
                pd.DataFrame(
                    {
                        "input": column,
                        "feature": wide.index,
                        "permutation_mean": wide.mean(axis=1).to_numpy(),
                        "permutation_sd": wide.std(axis=1, ddof=1).to_numpy() if wide.shape[1] > 1 else np.nan,
                        "gain_mean": gains.mean(axis=1).to_numpy(),
                        "selected_in": sub.groupby("feature")["split_id"].nunique().reindex(wide.index).to_numpy(),
                        "splits": wide.shape[1],
                    }
                )
            )
        table = pd.concat(rows, ignore_index=True)
        table = table.sort_values(["input", "permutation_mean", "selected_in"], ascending=[True, False, False])
        path = out / "tables" / f"top_features_{runner}_{protocol}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
        files.append(path)
        files += top_features(table, runner, protocol, out / "figures" / f"top_features_{runner}_{protocol}", banner=banner)
    return files

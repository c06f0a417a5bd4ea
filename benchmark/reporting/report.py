"""``cirrbench report``: every table, figure and the report page, rebuilt from prediction files alone.

The results folder's ``manifest.json`` says which jobs belong to the current experiment and how
to report them (main metric, reference, declared comparisons, table metrics, row names); the
prediction files hold everything else. The same files always give byte-identical outputs.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.reporting.evaluation import Comparison, Evaluation, MethodKey
from cirrbench.benchmark.reporting.figures import attention_maps, confusion_figure, forest_plot, pairwise_matrix, roc_figure, top_features
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.reporting.tables import DeclaredPair, RowNames, ablation_table, confusion_table, main_table, paper_table, per_stage_table, verdict_table
from cirrbench.benchmark.reporting.resampling import supported_metric
from cirrbench.benchmark.reporting.rows import level_frames, per_split_metrics, test_fractions
from cirrbench.benchmark.reporting.stats import holm
from cirrbench.benchmark.execution.store import MANIFEST, ResultsStore
from cirrbench.benchmark.reporting.table import INPUT_ORDER, Table

__all__ = ["ReportSettings", "Report", "build_report", "PHANTOM_BANNER", "MANIFEST", "DEFAULT_TABLE_METRICS"]

log = logging.getLogger(__name__)

PHANTOM_BANNER = "SYNTHETIC PHANTOM - checks the machinery, not clinical validity"
DEFAULT_TABLE_METRICS = ("accuracy", "precision", "recall", "specificity", "f1")
DEFAULT_SECONDARY_METRICS = ("auc", "qwk", "mae", "ece", "brier")
PROTOCOL_ORDER = {"official": 0, "paired": 1, "cv": 2, "file": 3}


@dataclass
class ReportSettings:
    """How to report a results folder (read from its manifest).

    Args:
        metric: the main metric (tables, verdict, forest plot).
        table_metrics: the paper table's columns.
        reference: the chance runner every method is marked against.
        compare: declared comparisons, ``[a, b]`` with optional ``name:variant``.
        families, display, order: row grouping, display names and the config's order.
    """

    metric: str = "accuracy"
    table_metrics: tuple[str, ...] = DEFAULT_TABLE_METRICS
    secondary_metrics: tuple[str, ...] = DEFAULT_SECONDARY_METRICS
    reference: str | None = "majority"  # None: no chance row declared (reference: null)
    bootstrap: int = 2000
    seed: int = 0
    reported: list[dict] = field(default_factory=list)
    families: dict[str, str] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    compare: list[list[str]] = field(default_factory=list)
    banner: str | None = None
    job_keys: list[str] | None = None  # restrict to these jobs (the current experiment's)
    provenance: dict = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, out: Path) -> "ReportSettings":
        manifest = ResultsStore(out).read_manifest()
        if manifest is None:
            return cls()
        report = manifest.get("report", {})
        return cls(
            metric=report.get("metric", "accuracy"),
            table_metrics=tuple(report.get("table_metrics", DEFAULT_TABLE_METRICS)),
            secondary_metrics=tuple(report.get("secondary_metrics", DEFAULT_SECONDARY_METRICS)),
            reference=report.get("reference", "majority"),
            bootstrap=int(report.get("bootstrap", 2000)),
            seed=int(report.get("seed", 0)),
            reported=list(report.get("reported", [])),
            families=dict(report.get("families", {})),
            display=dict(report.get("display_names", {})),
            compare=[list(pair) for pair in report.get("compare", [])],
            banner=PHANTOM_BANNER if manifest.get("cohort", {}).get("phantom") else None,
            job_keys=[j["key"] for j in manifest.get("jobs", [])] or None,
            provenance={k: manifest.get(k) for k in ("created", "experiment", "cohort", "versions", "git_commit", "machine", "splits")},
        )


@dataclass
class Report:
    tables: list[Table]
    files: list[Path]
    summary: pd.DataFrame
    verdict: list[str] = field(default_factory=list)

    def main_markdown(self) -> str:
        head = "\n".join(self.verdict) + "\n\n" if self.verdict else ""
        mains = [t for t in self.tables if t.name.startswith("main_")]
        return head + "\n".join(t.to_markdown() for t in mains)


def shown_name(job: dict) -> str:
    """A job record's row name in tables: its ``as:`` alias, else the runner (as ``Job.display``)."""
    return job.get("alias") or job["runner"]


def _input_rank(sequence: str) -> tuple[int, str]:
    return (INPUT_ORDER.index(sequence) if sequence in INPUT_ORDER else len(INPUT_ORDER), sequence)


def _validation_frame(store: ResultsStore, jobs: list[dict]) -> pd.DataFrame:
    """Held-out model-choice predictions of every job that saved them, with the method columns."""
    parts = []
    for job in jobs:
        frame = store.load_model_choice(job["key"])
        if frame is not None and not frame.empty:
            parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def build_report(out: str | Path, settings: ReportSettings | None = None) -> Report:
    out = Path(out)
    store = ResultsStore(out)
    settings = settings or ReportSettings.from_manifest(out)
    predictions, jobs = store.load_predictions(settings.job_keys)
    if predictions.empty:
        raise FileNotFoundError(f"{out}: no finished job with predictions; run `cirrbench run CONFIG --out {out}` first")
    label_dicts = {json.dumps(j["labels"], sort_keys=True) for j in jobs}
    if len(label_dicts) != 1:
        raise ValueError(f"{out}: jobs use different label sets; report them separately")
    labels = LabelSet(tuple(jobs[0]["labels"]["names"]), jobs[0]["labels"]["ordinal"])
    slices = {j["key"]: s for j in jobs if (s := store.load_slices(j["key"])) is not None}
    frames = level_frames(predictions, slices, labels)
    split_metrics = pd.concat([per_split_metrics(f, labels, level) for level, f in (("patient", frames.patients), ("slice", frames.slices)) if not f.empty], ignore_index=True)
    evaluation = Evaluation({"patient": frames.patients, "slice": frames.slices}, split_metrics, labels, test_fractions(jobs), settings.bootstrap, settings.seed)
    validation = Evaluation.validation_scores(_validation_frame(store, jobs), labels, settings.metric)

    runners_seen = {shown_name(j) for j in jobs}
    names = RowNames(
        display={r: settings.display.get(r, r) for r in runners_seen},
        families={**{r: "other" for r in runners_seen}, **settings.families},
        order=list(settings.families) or sorted(runners_seen),
    )
    table_metrics = [m for m in settings.table_metrics if supported_metric(m, labels)]
    secondary_metrics = [m for m in settings.secondary_metrics if supported_metric(m, labels)]  # QWK and MAE only for ordinal labels
    pairs = [DeclaredPair.parse(p) for p in settings.compare]
    protocols = sorted({k.protocol for k in evaluation.methods()}, key=lambda p: (PROTOCOL_ORDER.get(p, 9), p))

    tables: list[Table] = []
    verdicts: dict[str, list[tuple[Comparison, float]]] = {}
    for protocol in protocols:
        for level in evaluation.levels():
            tables.append(main_table(evaluation, names, protocol, level, settings.metric, settings.reference, settings.reported))
            tables.append(paper_table(evaluation, names, protocol, level, table_metrics, settings.reported))
            tables.append(paper_table(evaluation, names, protocol, level, secondary_metrics, settings.reported, prefix="secondary"))
        verdict, declared = verdict_table(evaluation, names, pairs, validation, protocol, settings.metric)
        tables.append(verdict)
        verdicts[protocol] = declared
        tables.append(per_stage_table(evaluation, names, labels, protocol, "patient"))
        tables.append(confusion_table(evaluation, names, labels, protocol))
        for runner in names.sorted(k.runner for k in evaluation.methods()):
            for level in evaluation.levels():
                tables.append(ablation_table(evaluation, names, runner, protocol, level, settings.metric))
    tables = [t for t in tables if t is not None]
    for table in tables:
        if settings.banner:
            table.notes = [f"{settings.banner}.", *[n for n in table.notes if not n.startswith(settings.banner)]]

    files: list[Path] = []
    for table in tables:
        files += table.write(store.tables_dir)
    summary = _summary(evaluation, sorted({settings.metric, *table_metrics, *secondary_metrics}))
    comparisons = _all_comparisons(evaluation, names, pairs, settings, protocols)
    for name, frame in (("per_split", split_metrics), ("summary", summary), ("comparisons", comparisons)):
        files.append(atomic_write_text(store.metrics_dir / f"{name}.csv", frame.to_csv(index=False)))
    figures = _figures(store, evaluation, names, labels, pairs, settings, protocols)
    files += figures
    files += _importance_outputs(store, jobs, settings.banner)
    files += _attention_outputs(store, jobs, predictions, labels, names, settings.banner)

    from cirrbench.benchmark.reporting.page import write_page, verdict_in_words

    words = verdict_in_words(verdicts, names, evaluation, settings.metric)
    files += write_page(out, tables, [f for f in files if f.suffix == ".png"], words, settings, labels, evaluation)
    remove_stale_outputs(out, files)
    return Report(tables, files, summary, words)


def _summary(evaluation: Evaluation, metrics: list[str]) -> pd.DataFrame:
    rows = []
    for level in evaluation.levels():
        for key in evaluation.methods(level):
            for metric in metrics:
                estimate = evaluation.estimate(key, metric, level)
                rows.append({**key._asdict(), "level": level, "metric": metric, "value": estimate.value, "low": estimate.low, "high": estimate.high, "ci": estimate.method, "splits": len(evaluation.splits(key.protocol, level, key.input)), "patients": evaluation.n_patients(key, level)})
    return pd.DataFrame(rows)


def _all_comparisons(evaluation: Evaluation, names: RowNames, pairs: list[DeclaredPair], settings: ReportSettings, protocols: list[str]) -> pd.DataFrame:
    """Every paired test behind the tables and figures, with its family's Holm adjustment."""
    from cirrbench.benchmark.reporting.tables import declared_comparisons

    rows = []

    def add(kind: str, comparisons: list[Comparison], family: str) -> None:
        for c, adjusted in zip(comparisons, holm([c.p for c in comparisons])):
            rows.append({"kind": kind, "holm_family": family, **c.as_row(), "p_holm": adjusted})

    for protocol in protocols:
        add("declared", declared_comparisons(evaluation, pairs, protocol, settings.metric), f"verdict_{protocol}")
        for level in evaluation.levels():
            keys = [k for k in evaluation.methods(level) if k.protocol == protocol]
            reference = [] if settings.reference is None else [c for k in keys if k.variant == "default" and k.runner != settings.reference and (c := evaluation.compare(k, MethodKey(settings.reference, "default", k.input, protocol), settings.metric, level)) is not None]
            add("vs reference", reference, f"main_{protocol}_{level}")
            for runner in sorted({k.runner for k in keys}):
                ablation = [c for k in keys if k.runner == runner and k.variant != "default" and (c := evaluation.compare(k, MethodKey(runner, "default", k.input, protocol), settings.metric, level)) is not None]
                add("ablation", ablation, f"ablation_{runner}_{protocol}_{level}")
    columns = ["kind", "holm_family", *Comparison.__dataclass_fields__]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def _pairwise(evaluation: Evaluation, runners: list[str], column: str, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    n = len(runners)
    difference, p = np.full((n, n), np.nan), np.full((n, n), np.nan)
    tests = []
    for i in range(n):
        for j in range(i + 1, n):
            c = evaluation.compare(MethodKey(runners[i], "default", column, protocol), MethodKey(runners[j], "default", column, protocol), metric, "patient")
            if c is not None:
                tests.append((i, j, c))
    adjusted = holm([c.p for _, _, c in tests])
    for (i, j, c), q in zip(tests, adjusted):
        difference[i, j], difference[j, i] = c.difference.value, -c.difference.value
        p[i, j] = p[j, i] = q
    return difference, p


def _figures(store: ResultsStore, evaluation: Evaluation, names: RowNames, labels: LabelSet, pairs: list[DeclaredPair], settings: ReportSettings, protocols: list[str]) -> list[Path]:
    files: list[Path] = []
    figures = store.figures_dir
    everyone = names.sorted(k.runner for k in evaluation.methods())  # one row order for every protocol
    frame = evaluation.frames["patient"]
    for protocol in protocols:
        keys = [k for k in evaluation.methods() if k.protocol == protocol and k.variant == "default"]
        rows = pd.DataFrame([{"runner": k.runner, "input": k.input, **dataclasses.asdict(evaluation.estimate(k, settings.metric))} for k in keys])
        ci = "bootstrap" if evaluation.single_test_set(protocol) else "corrected t"
        title = f"{settings.metric.replace('_', ' ').capitalize()} with 95 % CI ({ci}; patient level, {protocol})"
        files += forest_plot(rows, everyone, names.display, names.families, settings.metric, title, figures / f"forest_{protocol}", settings.reference, settings.banner)
        part = frame[(frame["protocol"] == protocol) & (frame["variant"] == "default")]
        for family in ("reference", "radiomics", "deep", "other"):
            members = [r for r in everyone if names.family(r) == family]
            title = f"Confusion matrices, {family} methods (patient level, {protocol}; counts over all test splits and seeds, colour = row share)"
            files += confusion_figure(part, labels, members, names.display, title, figures / f"confusion_{protocol}_{family}", settings.banner)
        compared = [r for r in [settings.reference] if r] + [r for p in pairs for r in (p.a, p.b) if p.a_variant == "default" and p.b_variant == "default"]
        compared = list(dict.fromkeys(r for r in compared if r in set(part["runner"])))
        title = f"Per-stage ROC of the declared comparison ({protocol}; patient level, pooled over test splits)"
        files += roc_figure(part, labels, compared, names.display, names.families, title, figures / f"roc_{protocol}", settings.banner)
        for column in [i for i in INPUT_ORDER if i in {k.input for k in keys}]:
            runners = [r for r in everyone if evaluation.has(MethodKey(r, "default", column, protocol), "patient")]
            difference, p = _pairwise(evaluation, runners, column, protocol, settings.metric)
            test = "exact McNemar" if evaluation.single_test_set(protocol) and settings.metric == "accuracy" else ("paired bootstrap" if evaluation.single_test_set(protocol) else "corrected resampled t")
            title = f"Pairwise differences in {settings.metric.replace('_', ' ')}, {column}, {protocol} (patient level; {test}, Holm over the matrix)"
            files += pairwise_matrix(difference, p, [names.show(r) for r in runners], [names.family(r) for r in runners], settings.metric, title, figures / f"pairwise_{protocol}_{column}", settings.banner)
    return files


#: What the report owns: every table file, and figures with these name prefixes (the cohort montage
#: and anything a user puts there are left alone).
REPORT_FIGURE_PREFIXES = ("confusion_", "roc_", "forest_", "top_features_", "attention_", "pairwise_")
REPORT_PAGES = ("REPORT.md", "report.html")


def remove_stale_outputs(out: Path, written: list[Path]) -> list[Path]:
    """Delete report files that this build did not write (left by an earlier config), so tables
    and figures of runners or protocols no longer in the experiment are not mistaken for results."""
    keep = {p.resolve() for p in written}
    candidates = [p for p in (out / "tables").glob("*") if p.suffix in (".md", ".tex", ".csv")]
    candidates += [p for p in (out / "figures").glob("*") if p.suffix in (".png", ".pdf") and p.name.startswith(REPORT_FIGURE_PREFIXES)]
    candidates += [out / name for name in REPORT_PAGES]
    removed = [p for p in candidates if p.is_file() and p.resolve() not in keep]
    for path in removed:
        path.unlink()
        log.info("removed %s (not part of this report)", path)
    return removed


def _attention_outputs(store: ResultsStore, jobs: list[dict], predictions: pd.DataFrame, labels: LabelSet, names: RowNames, banner: str | None) -> list[Path]:
    """A figure of saved attention maps per runner and protocol (default variant, first split per input)."""
    by_group: dict[tuple[str, str], list[dict]] = {}
    seen: set[tuple] = set()
    # A total order (inputs T1W, T2W, both), so the chosen scans never depend on job-folder names.
    for job in sorted(jobs, key=lambda j: (j["protocol"], j["split_id"], _input_rank(j["sequence"]), shown_name(j))):
        runner = shown_name(job)
        group = (runner, job["protocol"], job["sequence"])
        if job["variant"] != "default" or group in seen:
            continue
        arrays = store.load_arrays(job["key"])
        if arrays is None:
            continue
        seen.add(group)
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
        title = f"{names.show(runner)}: spatial attention on the most attended liver slice ({protocol}, first test split), rows = true stage"
        files += attention_maps(entries, labels, title, store.figures_dir / f"attention_{runner}_{protocol}", banner=banner)
    return files


def _importance_outputs(store: ResultsStore, jobs: list[dict], banner: str | None) -> list[Path]:
    """Aggregate ``extra_feature_importance.csv`` of default-variant jobs: a table and a figure per runner and protocol."""
    parts = []
    for job in jobs:
        frame = store.load_extra(job["key"], "feature_importance") if job["variant"] == "default" else None
        if frame is None:
            continue
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
        files.append(atomic_write_text(store.tables_dir / f"top_features_{runner}_{protocol}.csv", table.to_csv(index=False)))
        files += top_features(table, runner, protocol, store.figures_dir / f"top_features_{runner}_{protocol}", banner=banner)
    return files

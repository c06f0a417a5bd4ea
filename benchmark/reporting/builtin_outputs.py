"""The report's built-in tables and figures, registered in the order the page shows them.

Tables: the seed paper's (10), main (20), secondary (30), verdict (40), confusion (50), per-stage
(60), ablations (70). Figures: forest (10), pairwise (20), ROC (30), confusion (40), top radiomics
features (50), attention maps (60). :mod:`cirrbench.benchmark.reporting.output_registry` explains the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.escaping import csv_cell
from cirrbench.benchmark.common.paths import inside
from cirrbench.benchmark.reporting.evaluation import MethodKey
from cirrbench.benchmark.reporting.figures import (
    FigureTarget,
    attention_maps,
    confusion_figure,
    declared_differences,
    forest_plot,
    pairwise_matrix,
    roc_figure,
    top_features,
)
from cirrbench.benchmark.reporting.output_registry import ReportContext, register_figure, register_table
from cirrbench.benchmark.reporting.stats import holm
from cirrbench.benchmark.reporting.table_builders import (
    RowNames,
    ablation_table,
    confusion_table,
    main_table,
    paper_table,
    per_stage_table,
    seeds_table,
    verdict_table,
)
from cirrbench.benchmark.reporting.table_format import INPUT_ORDER

__all__: list[str] = []  # everything here registers itself

TOP_FEATURES = 15  # features charted per input in the top-features figures


def shown_name(job: dict) -> str:
    """A job record's row name in tables: its ``as:`` alias, else the runner (as ``Job.display``)."""
    return job.get("alias") or job["runner"]


# ---- tables -----------------------------------------------------------------------------------
@register_table("paper", section="The seed paper's table", order=10)
def _paper(c: ReportContext) -> list:
    return [
        paper_table(c.evaluation, c.names, p, level, c.table_metrics, c.settings.reported)
        for p in c.protocols
        for level in c.evaluation.levels()
    ]


@register_table("main", section="Main metric per method", order=20)
def _main(c: ReportContext) -> list:
    return [
        main_table(c.evaluation, c.names, p, level, c.settings.metric, c.settings.reference, c.settings.reported)
        for p in c.protocols
        for level in c.evaluation.levels()
    ]


@register_table("secondary", section="Discrimination, ordinal error and calibration", order=30)
def _secondary(c: ReportContext) -> list:
    return [
        paper_table(c.evaluation, c.names, p, level, c.secondary_metrics, c.settings.reported, prefix="secondary")
        for p in c.protocols
        for level in c.evaluation.levels()
    ]


@register_table("verdict", section="Declared comparisons", order=40)
def _verdict(c: ReportContext) -> list:
    tables = []
    for protocol in c.protocols:
        table, declared = verdict_table(c.evaluation, c.names, c.pairs, c.validation, protocol, c.settings.metric)
        c.verdicts[protocol] = declared
        tables.append(table)
    return tables


@register_table("confusion", section="Confusion tables", order=50)
def _confusion(c: ReportContext) -> list:
    return [confusion_table(c.evaluation, c.names, c.labels, p) for p in c.protocols]


@register_table("per_stage", section="Per-stage metrics", order=60)
def _per_stage(c: ReportContext) -> list:
    return [per_stage_table(c.evaluation, c.names, c.labels, p, "patient") for p in c.protocols]


@register_table("seeds", section="Spread over training seeds", order=65)
def _seeds(c: ReportContext) -> list:
    return [
        seeds_table(c.evaluation, c.names, p, level, c.settings.metric)
        for p in c.protocols
        for level in c.evaluation.levels()
    ]


@register_table("ablation", section="Ablations against the full model", order=70)
def _ablation(c: ReportContext) -> list:
    runners = c.names.sorted(k.runner for k in c.evaluation.methods())
    return [
        ablation_table(c.evaluation, c.names, r, p, level, c.settings.metric)
        for p in c.protocols
        for r in runners
        for level in c.evaluation.levels()
    ]


# ---- figures ----------------------------------------------------------------------------------
def _everyone(c: ReportContext) -> list[str]:
    return c.names.sorted(k.runner for k in c.evaluation.methods())  # one row order for every protocol


def _default_keys(c: ReportContext, protocol: str) -> list[MethodKey]:
    return [k for k in c.evaluation.methods() if k.protocol == protocol and k.variant == "default"]


def _default_rows(c: ReportContext, protocol: str) -> pd.DataFrame:
    frame = c.evaluation.frames["patient"]
    return frame[(frame["protocol"] == protocol) & (frame["variant"] == "default")]


@register_figure(
    "forest",
    order=10,
    per_protocol=True,
    caption="The main metric with its 95 % CI per method, one panel per input on a shared axis; colour = family; the dotted line is the chance (reference) row.",
)
def _forest(c: ReportContext, protocol: str) -> list[Path]:
    keys = _default_keys(c, protocol)
    rows = pd.DataFrame(
        [
            {
                "runner": k.runner,
                "input": k.input,
                **dataclasses.asdict(c.evaluation.estimate(k, c.settings.metric)),
            }
            for k in keys
        ]
    )
    ci = "bootstrap" if c.evaluation.single_test_set(protocol) else "corrected t"
    title = f"{c.settings.metric.replace('_', ' ').capitalize()} with 95 % CI ({ci}; patient level, {protocol})"
    target = c.figure(f"forest_{protocol}", title)
    return forest_plot(rows, _everyone(c), c.names, c.settings.metric, target, c.settings.reference)


def _pairwise(evaluation, runners: list[str], column: str, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    n = len(runners)
    difference, p = np.full((n, n), np.nan), np.full((n, n), np.nan)
    tests = []
    for i in range(n):
        for j in range(i + 1, n):
            c = evaluation.compare(
                MethodKey(runners[i], "default", column, protocol),
                MethodKey(runners[j], "default", column, protocol),
                metric,
                "patient",
            )
            if c is not None:
                tests.append((i, j, c))
    adjusted = holm([c.p for _, _, c in tests])
    for (i, j, c), q in zip(tests, adjusted):
        difference[i, j], difference[j, i] = c.difference.value, -c.difference.value
        p[i, j] = p[j, i] = q
    return difference, p


@register_figure(
    "declared",
    order=5,
    per_protocol=True,
    caption="Each declared pair's difference (A minus B) in the main metric at patient level with its 95 % CI, per input; a dot right of the dotted line favours A where higher is better; dark: Holm-adjusted p < 0.05 over the table's declared rows.",
)
def _declared(c: ReportContext, protocol: str) -> list[Path]:
    rows = []
    for comparison, adjusted in c.verdicts.get(protocol, []):
        if comparison.level != "patient":
            continue
        a = c.names.show(comparison.a.runner, comparison.a.variant)
        b = c.names.show(comparison.b.runner, comparison.b.variant)
        difference = comparison.difference
        rows.append(
            {"pair": f"{a} vs {b}", "a": a, "b": b, "input": comparison.a.input}
            | {"value": difference.value, "low": difference.low, "high": difference.high, "p_holm": adjusted}
        )
    title = f"Declared comparisons, {c.settings.metric.replace('_', ' ')} at patient level ({protocol}): difference with 95 % CI"
    return declared_differences(pd.DataFrame(rows), c.settings.metric, c.figure(f"declared_{protocol}", title))


@register_figure(
    "pairwise",
    order=20,
    per_protocol=True,
    caption="Every pair of methods once (below the diagonal): row minus column in the main metric, coloured by which is better and by the Holm-adjusted p of the paired test over the matrix (white: not significant).",
)
def _pairwise_figures(c: ReportContext, protocol: str) -> list[Path]:
    files: list[Path] = []
    single = c.evaluation.single_test_set(protocol)
    test = (
        "exact McNemar"
        if single and c.settings.metric == "accuracy"
        else ("paired bootstrap" if single else "corrected resampled t")
    )
    for column in [i for i in INPUT_ORDER if i in {k.input for k in _default_keys(c, protocol)}]:
        runners = [r for r in _everyone(c) if c.evaluation.has(MethodKey(r, "default", column, protocol), "patient")]
        difference, p = _pairwise(c.evaluation, runners, column, protocol, c.settings.metric)
        title = f"Pairwise differences in {c.settings.metric.replace('_', ' ')}, {column}, {protocol} (patient level; {test}, Holm over the matrix)"
        shown, families = [c.names.show(r) for r in runners], [c.names.family(r) for r in runners]
        target = c.figure(f"pairwise_{protocol}_{column}", title)
        files += pairwise_matrix(difference, p, shown, families, c.settings.metric, target)
    return files


@register_figure(
    "roc",
    order=30,
    per_protocol=True,
    caption="One-vs-rest ROC per input and stage for the declared pairs' methods and the reference, predictions pooled over test splits; AUC in each legend.",
)
def _roc(c: ReportContext, protocol: str) -> list[Path]:
    part = _default_rows(c, protocol)
    compared = [r for r in [c.settings.reference] if r] + [
        r for pair in c.pairs for r in (pair.a, pair.b) if pair.a_variant == "default" and pair.b_variant == "default"
    ]
    compared = list(dict.fromkeys(r for r in compared if r in set(part["runner"])))
    title = f"Per-stage ROC of the declared comparison ({protocol}; patient level, pooled over test splits)"
    shown = part[part["runner"].isin(compared)]  # only what it draws: another runner's change keeps it
    return roc_figure(shown, c.labels, compared, c.names, c.figure(f"roc_{protocol}", title))


@register_figure(
    "confusion",
    order=40,
    per_protocol=True,
    caption="Confusion matrices per method and input for one family: counts over all test splits and seeds; colour = share of the true stage.",
)
def _confusion_figures(c: ReportContext, protocol: str) -> list[Path]:
    files: list[Path] = []
    part = _default_rows(c, protocol)
    for family in ("reference", "radiomics", "foundation", "deep", "other"):
        members = [r for r in _everyone(c) if c.names.family(r) == family]
        title = f"Confusion matrices, {family} methods (patient level, {protocol}; counts over all test splits and seeds, colour = row share)"
        target = c.figure(f"confusion_{protocol}_{family}", title)
        files += confusion_figure(part[part["runner"].isin(members)], c.labels, members, c.names, target)
    return files


@register_figure(
    "top_features",
    order=50,
    caption="The most important features (radiomics features, or a frozen encoder's embedding dimensions) by permutation importance on held-out patients (or the model's own importance where permuting no single feature lowered validation accuracy, as the axis says).",
)
def _top_features(c: ReportContext) -> list[Path]:
    return _importance_outputs(c.store, [j for j in c.jobs if j["protocol"] in c.protocols], c.figure, c.names)


@register_figure(
    "attention",
    order=60,
    caption="Spatial attention of the sequence-attention model on the most attended liver slice of a few test scans, rows = true stage, radiological view (anterior up, the patient's right on the left).",
)
def _attention(c: ReportContext) -> list[Path]:
    jobs = [j for j in c.jobs if j["protocol"] in c.protocols]  # learning-curve points have their own figure
    return _attention_outputs(c.store, jobs, c.predictions, c.labels, c.names, c.figure)


def _input_rank(sequence: str) -> tuple[int, str]:
    return (INPUT_ORDER.index(sequence) if sequence in INPUT_ORDER else len(INPUT_ORDER), sequence)


def _attention_order(job: dict) -> tuple:
    """A total order (inputs T1W, T2W, both; the first seed first), so the scans a figure shows
    never depend on job-folder names."""
    return job["protocol"], job["split_id"], _input_rank(job["input"]), shown_name(job), job.get("seed_index", 0)


def _attention_outputs(
    store, jobs: list[dict], predictions: pd.DataFrame, labels, names, figure: Callable[[str, str], FigureTarget]
) -> list[Path]:
    """A figure of saved attention maps per runner and protocol (default variant, first split per input)."""
    by_group: dict[tuple[str, str], list[dict]] = {}
    seen: set[tuple] = set()
    for job in sorted(jobs, key=_attention_order):
        runner = shown_name(job)
        group = (runner, job["protocol"], job["input"])
        if job["variant"] != "default" or group in seen:
            continue
        arrays = store.load_arrays(job["key"])
        if arrays is None:
            continue
        seen.add(group)
        if "attention_scan_ids" not in arrays:
            continue
        truth = predictions[predictions["job_key"] == job["key"]].set_index("scan_id")
        for scan_id, image, heat in zip(
            arrays["attention_scan_ids"], arrays["attention_images"], arrays["attention_maps"]
        ):
            if scan_id in truth.index:
                by_group.setdefault((runner, job["protocol"]), []).append(
                    {
                        "scan_id": str(scan_id),
                        "input": job["input"],
                        "true": int(truth.loc[scan_id, "true_label"]),
                        "pred": int(truth.loc[scan_id, "pred_label"]),
                        "image": image,
                        "map": heat,
                    }
                )
    files = []
    for (runner, protocol), entries in sorted(by_group.items()):
        title = f"{names.show(runner)}: spatial attention on the most attended liver slice ({protocol}, first test split), rows = true stage"
        files += attention_maps(entries, labels, figure(f"attention_{runner}_{protocol}", title))
    return files


def _importance_outputs(
    store, jobs: list[dict], figure: Callable[[str, str], FigureTarget], names: RowNames
) -> list[Path]:
    """Aggregate ``extra_feature_importance.csv`` of default-variant jobs: a table and a figure per runner and protocol."""
    parts = []
    for job in jobs:
        frame = store.load_extra(job["key"], "feature_importance") if job["variant"] == "default" else None
        if frame is None:
            continue
        frame["runner"], frame["protocol"], frame["input"], frame["split_id"] = (
            shown_name(job),
            job["protocol"],
            job["input"],
            job["split_id"],
        )
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
            kept = sub.pivot_table(
                index="feature", columns="split_id", values="permutation_mean", aggfunc="mean", dropna=False
            )
            computed = sub.groupby("split_id")["permutation_mean"].apply(lambda v: v.notna().any())
            wide = kept.reindex(columns=sorted(sub["split_id"].unique()))
            for split_id in wide.columns:
                if computed.get(split_id, False):
                    wide[split_id] = wide[split_id].fillna(0.0)
            gains = sub.pivot_table(
                index="feature", columns="split_id", values="gain", aggfunc="mean", dropna=False
            ).reindex(index=wide.index)
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
        files.append(
            atomic_write_text(
                inside(store.tables_dir, f"top_features_{runner}_{protocol}.csv"),
                table.map(csv_cell).to_csv(index=False),  # feature names come from the user's feature table
            )
        )
        title = f"{runner}: top {TOP_FEATURES} features ({protocol}; mean over splits)"
        target = figure(f"top_features_{runner}_{protocol}", title)
        files += top_features(table, target, top=TOP_FEATURES, family=names.family(runner))
    return files

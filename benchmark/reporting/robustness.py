"""Robustness: the same trained models on perturbed copies of their test scans.

A robustness job predicts its test scans and then each perturbed copy (``perturbed.csv``). The
report files each perturbation and level as a point of its own (``official~noise:20``) on the
same test patients, so a perturbed metric has the suite's usual interval. Against the clean
protocol each point gets the paired difference (the same models and patients: a paired
bootstrap on one test set, the corrected t over repeated splits) and the flip rate (the share of
test patients whose predicted stage changes). For a declared pair, the difference of the two
methods' differences says which degrades less, with its CI; nothing is claimed without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.results_store import ResultsStore
from cirrbench.benchmark.data.perturbations import ROBUST_ICC
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.benchmark.reporting.figures import robustness_figure
from cirrbench.benchmark.reporting.metric_registry import direction, metric_display
from cirrbench.benchmark.reporting.output_registry import ReportContext, register_figure, register_table
from cirrbench.benchmark.reporting.stats import Estimate
from cirrbench.benchmark.reporting.table_builders import RowNames, format_difference
from cirrbench.benchmark.reporting.table_format import INPUT_ORDER, Table

__all__ = [
    "PERTURBED_MARK",
    "degradation_sentence",
    "is_perturbed_point",
    "perturbed_points",
    "robustness_rows",
    "with_perturbed_points",
]

PERTURBED_MARK = "~"  # official~noise:20: the official test scans with noise at SNR 20


def is_perturbed_point(protocol: str) -> bool:
    return PERTURBED_MARK in protocol


def _point(protocol: str, perturbation: str, level: float) -> str:
    return f"{protocol}{PERTURBED_MARK}{perturbation}:{float(level):g}"


def with_perturbed_points(
    predictions: pd.DataFrame, jobs: list[dict], store: ResultsStore
) -> tuple[pd.DataFrame, list[dict]]:
    """The clean rows and job records, plus each robustness job's perturbed rows filed under
    their point (with a job key of their own, so no slice file is read for them)."""
    parts, points = [predictions], []
    for job in jobs:
        frame = store.load_perturbed(job["key"])
        if frame is None or frame.empty:
            continue
        for (perturbation, level), part in frame.groupby(["perturbation", "level"], sort=False):
            point = _point(job["protocol"], str(perturbation), float(level))
            part = part.drop(columns=["perturbation", "level"]).assign(
                protocol=point, job_key=f"{job['key']}{PERTURBED_MARK}{perturbation}:{float(level):g}"
            )
            parts.append(part)
            points.append({**job, "protocol": point})
    if not points:
        return predictions, jobs
    return pd.concat(parts, ignore_index=True), jobs + points


def perturbed_points(evaluation: Evaluation) -> dict[str, list[tuple[str, str, float]]]:
    """Per clean protocol, its (point, perturbation, level) triples in perturbation then level order."""
    found: dict[str, list[tuple[str, str, float]]] = {}
    for protocol in {k.protocol for k in evaluation.methods("patient")}:
        if is_perturbed_point(protocol):
            base, label = protocol.split(PERTURBED_MARK)
            name, level = label.rsplit(":", 1)
            found.setdefault(base, []).append((protocol, name, float(level)))
    return {base: sorted(points, key=lambda p: (p[1], p[2])) for base, points in sorted(found.items())}


def _text(estimate: Estimate | None, signed: bool = False) -> str:
    if estimate is None or not np.isfinite(estimate.value):
        return "n/a"
    return format_difference(estimate) if signed else estimate.format()


def robustness_rows(c: ReportContext, protocol: str, metric: str) -> pd.DataFrame:
    """One row per method, input and point: the perturbed estimate, the paired difference to the
    clean protocol and the flip rate, each with its CI (the clean estimate beside them)."""
    rows = []
    evaluation = c.evaluation
    for point, name, level in perturbed_points(evaluation).get(protocol, []):
        for key in sorted(k for k in evaluation.methods("patient") if k.protocol == point):
            clean = key._replace(protocol=protocol)
            perturbed = evaluation.estimate(key, metric)
            difference = evaluation.contrast([(1.0, key), (-1.0, clean)], metric)
            flips = evaluation.flip_rate(clean, key)
            rows.append(
                {
                    "runner": key.runner,
                    "variant": key.variant,
                    "input": key.input,
                    "perturbation": name,
                    "level": level,
                    "clean": evaluation.estimate(clean, metric),
                    "perturbed": perturbed,
                    "difference": difference,
                    "flip_rate": flips,
                }
            )
    return pd.DataFrame(rows)


def _method_name(names: RowNames, runner: str, variant: str) -> str:
    return names.show(runner) + ("" if variant == "default" else f" ({variant})")


def _in_table_order(names: RowNames, frame: pd.DataFrame) -> pd.DataFrame:
    """Methods in the report's row order (each before its variants), then input, perturbation, level."""
    keys = frame.assign(
        rank=[names.sort_key(r) for r in frame["runner"]],
        variant_rank=[(v != "default", v) for v in frame["variant"]],
        input_rank=[INPUT_ORDER.index(i) if i in INPUT_ORDER else 9 for i in frame["input"]],
    )
    order = keys.sort_values(["rank", "variant_rank", "input_rank", "perturbation", "level"]).index
    return frame.loc[order].reset_index(drop=True)


def robustness_table(c: ReportContext, protocol: str, frame: pd.DataFrame, sentences: list[str]) -> Table:
    metric = c.settings.metric
    frame = _in_table_order(c.names, frame)
    rows = [
        [
            _method_name(c.names, r.runner, r.variant),
            r.input,
            r.perturbation,
            f"{r.level:g}",
            _text(r.clean),
            _text(r.perturbed),
            _text(r.difference, signed=True),
            _text(r.flip_rate),
        ]
        for r in frame.itertuples()
    ]
    design = (
        "paired bootstrap over the same test patients (and seeds: the same trained models)"
        if c.evaluation.single_test_set(protocol)
        else "corrected resampled t over the same outer splits"
    )
    notes = [
        f"Models trained on clean scans; each perturbation applied once to the test scans of protocol {protocol}, "
        "the same files for every runner (radiomics re-extracts its features, deep and foundation runners re-preprocess). "
        f"Change: perturbed minus clean {metric_display(metric)} at patient level; flip rate: share of test patients whose "
        f"predicted stage changes; 95 % CIs by {design}.",
        *sentences,
    ]
    return Table(
        f"robustness_{protocol}",
        f"{metric_display(metric)} under test-time perturbations (patient level, protocol {protocol})",
        ["Method", "Input", "Perturbation", "Level", "Clean", "Perturbed", "Change (95 % CI)", "Flip rate (95 % CI)"],
        rows,
        [f"{r}:{v}" for r, v in zip(frame["runner"], frame["variant"])],
        [],
        notes,
    )


def _with_family(names: RowNames, runner: str) -> str:
    """The row name, with its family where the name does not already say it."""
    shown, family = names.show(runner), names.family(runner)
    return shown if family.lower() in shown.lower() else f"{shown} ({family})"


def _less_degraded(gap: Estimate | None, sign: int, a: str, b: str) -> str | None:
    """``a`` when the CI of (change of a) - (change of b) shows a losing less, ``b`` when b does."""
    if gap is None or not (np.isfinite(gap.low) and np.isfinite(gap.high)):
        return None
    low, high = sorted((sign * gap.low, sign * gap.high))
    return a if low > 0 else b if high < 0 else None


def degradation_sentence(
    evaluation: Evaluation,
    names: RowNames,
    pair: tuple[str, str, str, str],
    column: str,
    protocol: str,
    points: list[tuple[str, str, float]],
    metric: str,
) -> str | None:
    """Which side of a declared pair loses less under the perturbations, in words: per point, the
    difference of the two paired differences with its CI; None without both sides' points."""
    a, a_variant, b, b_variant = pair
    sign = direction(metric)
    verdicts, changes_a, changes_b = [], [], []
    for point, _name, _level in points:
        keys = [MethodKey(r, v, column, p) for r, v in ((a, a_variant), (b, b_variant)) for p in (protocol, point)]
        if not all(evaluation.has(k, "patient") for k in keys):
            return None
        clean_a, pert_a, clean_b, pert_b = keys
        gap = evaluation.contrast([(1.0, pert_a), (-1.0, clean_a), (-1.0, pert_b), (1.0, clean_b)], metric)
        changes_a.append(evaluation.estimate(pert_a, metric).value - evaluation.estimate(clean_a, metric).value)
        changes_b.append(evaluation.estimate(pert_b, metric).value - evaluation.estimate(clean_b, metric).value)
        verdicts.append(_less_degraded(gap, sign, a, b))
    show_a, show_b = names.show(a), names.show(b)
    a_less = [f"{n}:{lv:g}" for (_, n, lv), v in zip(points, verdicts) if v == a]
    b_less = [f"{n}:{lv:g}" for (_, n, lv), v in zip(points, verdicts) if v == b]
    head = (
        f"{metric_display(metric)}, {column}, {len(points)} perturbation level(s): mean change {np.mean(changes_a):+.3f} "
        f"for {_with_family(names, a)} and {np.mean(changes_b):+.3f} for {_with_family(names, b)}"
    )
    if not a_less and not b_less:
        return (
            f"{head}; the difference between their changes has a 95 % CI including 0 at every level: "
            "neither is shown to hold up better."
        )
    parts = []
    if a_less:
        parts.append(f"{show_a} holds up better under {', '.join(a_less)}")
    if b_less:
        parts.append(f"{show_b} holds up better under {', '.join(b_less)}")
    rest = len(points) - len(a_less) - len(b_less)
    tail = f"; no difference shown at the other {rest}" if rest else ""
    return f"{head}; {' and '.join(parts)} (the difference between their changes has a 95 % CI excluding 0){tail}."


def _sentences(c: ReportContext, protocol: str, inputs: list[str]) -> list[str]:
    points = perturbed_points(c.evaluation).get(protocol, [])
    sentences = []
    for pair in c.pairs:
        for column in inputs:
            sentence = degradation_sentence(
                c.evaluation,
                c.names,
                (pair.a, pair.a_variant, pair.b, pair.b_variant),
                column,
                protocol,
                points,
                c.settings.metric,
            )
            if sentence is not None:
                sentences.append(sentence)
    return sentences


@register_table("robustness", section="Robustness: perturbed masks, noise, bias field, slices, rotation", order=66)
def _robustness_tables(c: ReportContext) -> list[Table]:
    tables = []
    for protocol in perturbed_points(c.evaluation):
        frame = robustness_rows(c, protocol, c.settings.metric)
        if frame.empty:
            continue
        inputs = [i for i in INPUT_ORDER if i in set(frame["input"])]
        sentences = _sentences(c, protocol, inputs)
        tables.append(robustness_table(c, protocol, frame, sentences))
        c.robustness_words += [f"Robustness ({protocol}): {s}" for s in sentences]
    return tables


@register_figure(
    "robustness",
    order=26,
    caption="Each method's change in the main metric when its test scans are perturbed (perturbed minus clean, "
    "the same trained models and patients), with its 95 % CI; one panel per input and perturbation, one marker "
    "per level; colour = family.",
)
def _robustness_figures(c: ReportContext) -> list[Path]:
    files: list[Path] = []
    for protocol in perturbed_points(c.evaluation):
        frame = robustness_rows(c, protocol, c.settings.metric)
        if frame.empty:
            continue
        frame = _in_table_order(c.names, frame)
        plotted = frame.assign(
            value=[d.value if d is not None else np.nan for d in frame["difference"]],
            low=[d.low if d is not None else np.nan for d in frame["difference"]],
            high=[d.high if d is not None else np.nan for d in frame["difference"]],
            method=[_method_name(c.names, r, v) for r, v in zip(frame["runner"], frame["variant"])],
        )[["runner", "method", "input", "perturbation", "level", "value", "low", "high"]]
        title = f"Change in {metric_display(c.settings.metric)} under perturbation (patient level, protocol {protocol})"
        files += robustness_figure(plotted, c.names, c.settings.metric, c.figure(f"robustness_{protocol}", title))
    return files


def _stability_frame(c: ReportContext) -> pd.DataFrame:
    """Every job's per-feature ICC (the ``feature_stability`` extra of stable-features runs)."""
    parts = []
    for key, job in {j["key"]: j for j in c.jobs}.items():
        frame = c.store.load_extra(key, "feature_stability")
        if frame is not None and not frame.empty:
            parts.append(frame.assign(input=job["input"], job_key=key))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stability_tables(frame: pd.DataFrame) -> tuple[Table, Table]:
    """Per input and feature: the mean and lowest ICC(1,1) over the jobs that measured it and the
    share of those jobs where it was robust (CSV only); per input and feature class: how many
    features have a mean ICC >= 0.9."""
    per_feature = (
        frame.groupby(["input", "feature", "image_type", "feature_class"], sort=True, dropna=False)
        .agg(
            icc_mean=("icc", "mean"),
            icc_min=("icc", "min"),
            jobs=("job_key", "nunique"),
            robust_share=("robust", "mean"),
        )
        .reset_index()
    )
    per_feature["robust"] = per_feature["icc_mean"].fillna(-1.0) >= ROBUST_ICC
    per_feature["input_rank"] = [INPUT_ORDER.index(i) if i in INPUT_ORDER else 9 for i in per_feature["input"]]
    per_feature = per_feature.sort_values(["input_rank", "feature_class", "feature"])
    rows = [
        [r.input, r.feature, r.image_type, r.feature_class, f"{r.icc_mean:.3f}", f"{r.icc_min:.3f}", str(r.jobs)]
        + [f"{r.robust_share:.2f}", "yes" if r.robust else "no"]
        for r in per_feature.itertuples()
    ]
    features = Table(
        "feature_stability",
        "Radiomics feature robustness: ICC(1,1) across the perturbations, per feature (training scans)",
        ["Input", "Feature", "Image type", "Class", "ICC mean", "ICC min", "Jobs", "Robust share", "Robust"],
        rows,
        formats=("csv",),
    )
    classes = (
        per_feature.groupby(["input", "feature_class"], sort=True)
        .agg(features=("feature", "size"), robust=("robust", "sum"))
        .reset_index()
    )
    scans = int(frame["scans"].max()) if "scans" in frame else 0
    raters = int(frame["raters"].max()) if "raters" in frame else 0
    summary = Table(
        "feature_stability_classes",
        "Share of radiomics features robust to the perturbations (ICC(1,1) >= 0.9), per feature class",
        ["Input", "Class", "Features", "Robust", "Share"],
        [
            [r.input, r.feature_class, str(r.features), str(r.robust), f"{r.robust / r.features:.2f}"]
            for r in classes.itertuples()
        ],
        notes=[
            f"ICC(1,1) (one-way random effects, single measurement) of each feature over the clean scan and each perturbed copy "
            f"({raters} versions of up to {scans} training scans per job), averaged over the jobs of the stable-features variant; "
            "robust: mean ICC >= 0.9 (Zwanenburg et al., Sci Rep 2019). Measured on training patients only; "
            "per-feature values: feature_stability.csv.",
        ],
    )
    return features, summary


@register_table("feature_stability", section="Radiomics feature robustness: ICC across perturbations", order=67)
def _feature_stability_tables(c: ReportContext) -> list[Table]:
    frame = _stability_frame(c)
    return [] if frame.empty else list(stability_tables(frame))

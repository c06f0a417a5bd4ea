"""Learning curves: each method's metric against the number of training patients, and from which
size one side of a declared pair overtakes the other.

A learning-curve protocol's splits carry the share of the outer training part they keep. The
report files each share as a point of its own (``learning-curve@0.25``), so every estimate,
interval and paired test is the suite's usual one, computed over that share's outer splits; the
per-protocol tables and figures leave these points out, and the table and figure here put them
together. A crossover is only claimed where it was measured: the smallest size from which B is
better than A with the paired difference's 95 % CI excluding 0 at that size and every larger one;
nothing is extrapolated beyond the largest measured size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.results_store import ResultsStore
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.benchmark.reporting.figures import learning_curve_figure
from cirrbench.benchmark.reporting.metric_registry import direction, metric_display
from cirrbench.benchmark.reporting.output_registry import ReportContext, register_figure, register_table
from cirrbench.benchmark.reporting.table_builders import RowNames, format_with_spread
from cirrbench.benchmark.reporting.table_format import INPUT_ORDER, Table

__all__ = [
    "CURVE_MARK",
    "crossover_sentence",
    "curve_points",
    "is_curve_point",
    "learning_curve_table",
    "split_fractions",
    "with_curve_points",
]

CURVE_MARK = "@"  # learning-curve@0.25: the protocol's splits that keep a quarter of the training part


def is_curve_point(protocol: str) -> bool:
    return CURVE_MARK in protocol


def split_fractions(store: ResultsStore) -> dict[tuple[str, str], float]:
    """(protocol, split id) -> share kept, for every split file that records one."""
    shares = {}
    for index in sorted(Path(store.splits_dir).glob("*/index.json")):
        data = json.loads(index.read_text())
        for entry in data.get("splits", []):
            if entry.get("fraction") is not None:
                shares[(data["protocol"], entry["split_id"])] = float(entry["fraction"])
    return shares


def _point(protocol: str, share: float) -> str:
    return f"{protocol}{CURVE_MARK}{share:g}"


def with_curve_points(
    frame: pd.DataFrame, jobs: list[dict], shares: dict[tuple[str, str], float]
) -> tuple[pd.DataFrame, list[dict]]:
    """Rows and job records of learning-curve splits filed under their share's point."""
    if not shares:
        return frame, jobs
    if not frame.empty:
        frame = frame.copy()
        frame["protocol"] = [
            _point(p, shares[(p, s)]) if (p, s) in shares else p for p, s in zip(frame["protocol"], frame["split_id"])
        ]
    jobs = [
        {**j, "protocol": _point(j["protocol"], shares[(j["protocol"], j["split_id"])])}
        if (j["protocol"], j["split_id"]) in shares
        else j
        for j in jobs
    ]
    return frame, jobs


def curve_points(evaluation: Evaluation) -> dict[str, list[tuple[float, str]]]:
    """Per learning-curve protocol, its (share, point) pairs in increasing share."""
    points: dict[str, list[tuple[float, str]]] = {}
    for protocol in {k.protocol for k in evaluation.methods("patient")}:
        if is_curve_point(protocol):
            base, share = protocol.split(CURVE_MARK)
            points.setdefault(base, []).append((float(share), protocol))
    return {base: sorted(found) for base, found in sorted(points.items())}


def _training_patients(jobs: list[dict], point: str, column: str) -> float:
    counts = [j["n_train"] for j in jobs if j["protocol"] == point and j["input"] == column and j.get("n_train")]
    return float(np.mean(counts)) if counts else float("nan")


def _curve_rows(c: ReportContext, points: list[tuple[float, str]], metric: str) -> pd.DataFrame:
    """runner, input, share, training patients, value, low, high, and the estimate's text; only
    inputs on which a method other than a reference row has a curve."""
    rows = []
    for share, point in points:
        for key in sorted(k for k in c.evaluation.methods("patient") if k.protocol == point and k.variant == "default"):
            estimate = c.evaluation.estimate(key, metric, "patient")
            spread = c.evaluation.seed_spread(key, metric, "patient")
            rows.append(
                {
                    "runner": key.runner,
                    "input": key.input,
                    "share": share,
                    "patients": _training_patients(c.jobs, point, key.input),
                    "value": estimate.value,
                    "low": estimate.low,
                    "high": estimate.high,
                    "text": format_with_spread(estimate, spread),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    measured = {i for r, i in zip(frame["runner"], frame["input"]) if c.names.family(r) != "reference"}
    return frame[frame["input"].isin(measured)].reset_index(drop=True)


def crossover_sentence(
    evaluation: Evaluation,
    names: RowNames,
    pair: tuple[str, str, str, str],
    column: str,
    points: list[tuple[float, str]],
    sizes: dict[float, float],
    metric: str,
) -> str | None:
    """Where B overtakes A on this input (measured sizes only), in words; None without both curves."""
    a, a_variant, b, b_variant = pair
    better = []
    for _share, point in points:
        c = evaluation.compare(
            MethodKey(a, a_variant, column, point), MethodKey(b, b_variant, column, point), metric, "patient"
        )
        if c is None:
            return None
        low, high = c.difference.low, c.difference.high
        better.append(bool(high < 0) if direction(metric) > 0 else bool(low > 0))
    first = next((i for i in range(len(points)) if all(better[i:])), None)
    where = f"{metric_display(metric)}, {column}"
    largest = sizes[points[-1][0]]
    if first is None:
        return (
            f"{where}: no crossover up to {largest:.0f} training patients: {names.show(b)} is not better than "
            f"{names.show(a)} with the paired difference's 95 % CI excluding 0 at the largest measured size "
            "(nothing is extrapolated beyond it)."
        )
    share = points[first][0]
    return (
        f"{where}: {names.show(b)} overtakes {names.show(a)} from {sizes[share]:.0f} training patients on "
        f"(share {share:g}; the paired difference's 95 % CI excludes 0 there and at every larger measured size)."
    )


def learning_curve_table(c: ReportContext, protocol: str, points: list[tuple[float, str]]) -> tuple[Table, list[str]]:
    """One row per method, input and share; notes with the crossover of every declared pair."""
    metric = c.settings.metric
    frame = _curve_rows(c, points, metric)
    frame["rank"] = [c.names.sort_key(r) for r in frame["runner"]]
    frame["input_rank"] = [INPUT_ORDER.index(i) if i in INPUT_ORDER else 9 for i in frame["input"]]
    frame = frame.sort_values(["rank", "input_rank", "share"])
    rows = [[c.names.show(r.runner), r.input, f"{r.share:g}", f"{r.patients:.0f}", r.text] for r in frame.itertuples()]
    sentences = []
    for pair in c.pairs:
        for column in [i for i in INPUT_ORDER if i in set(frame["input"])]:
            sizes = {s: _training_patients(c.jobs, p, column) for s, p in points}
            sentence = crossover_sentence(
                c.evaluation, c.names, (pair.a, pair.a_variant, pair.b, pair.b_variant), column, points, sizes, metric
            )
            if sentence is not None:
                sentences.append(sentence)
    notes = [
        f"{metric_display(metric)} at patient level per share of each outer training part (nested subsets, "
        "stratified by stage; the validation and test patients are the same at every share); 95 % CI over the "
        "outer splits as in the repeated-CV tables; training patients: mean over outer splits.",
        *sentences,
    ]
    table = Table(
        f"learning_curve_{protocol}",
        f"{metric_display(metric)} against the number of training patients (patient level, protocol {protocol})",
        ["Method", "Input", "Share", "Training patients", f"{metric_display(metric)} (95 % CI)"],
        rows,
        list(frame["runner"]),
        [],
        notes,
    )
    return table, sentences


@register_table("learning_curve", section="Learning curves: how many training patients", order=65)
def _learning_curve_tables(c: ReportContext) -> list[Table]:
    tables = []
    for protocol, points in curve_points(c.evaluation).items():
        table, sentences = learning_curve_table(c, protocol, points)
        tables.append(table)
        c.curve_words += [f"Learning curve ({protocol}): {s}" for s in sentences]
    return tables


@register_figure(
    "learning_curve",
    order=25,
    caption="Each method's main metric against the number of training patients (nested, stage-stratified shares of each outer training part; log scale), with its 95 % CI band (reference rows: the line only); colour = family.",
)
def _learning_curve_figures(c: ReportContext) -> list[Path]:
    files: list[Path] = []
    for protocol, points in curve_points(c.evaluation).items():
        rows = _curve_rows(c, points, c.settings.metric).drop(columns=["text"])
        title = f"{metric_display(c.settings.metric)} against training patients (patient level, protocol {protocol})"
        files += learning_curve_figure(rows, c.names, c.settings.metric, c.figure(f"learning_curve_{protocol}", title))
    return files

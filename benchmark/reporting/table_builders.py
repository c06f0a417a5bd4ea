"""The report's tables, built from an :class:`~cirrbench.benchmark.reporting.evaluation.Evaluation`.

main       methods x inputs, the main metric with CI, marks against the reference runner
paper      methods x (inputs x metrics), the seed paper's layout (accuracy, precision, recall,
           specificity, F1 by default), each with its CI, and the paper's own numbers below
verdict    the declared comparisons (radiomics vs deep): both sides, the paired difference with
           its CI, the test, p and Holm-adjusted p; an exploratory block of each family's best
           method chosen on the validation parts
ablation   every variant against its own default (full) variant: difference with CI and p
per_stage  recall, specificity and F1 per stage with CIs
confusion  counts and row percentages per method, input and true stage, summed over test splits
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.config_keys import default
from cirrbench.benchmark.common.decision import decide, row_keys
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.protocols.registry import protocol_description
from cirrbench.benchmark.reporting.evaluation import Comparison, Evaluation, MethodKey, SeedSpread, holm_adjust
from cirrbench.benchmark.reporting.metric_registry import favours_first, lower_is_better, metric_display, metric_short
from cirrbench.benchmark.reporting.metric_values import confusion
from cirrbench.benchmark.reporting.stats import Estimate, holm
from cirrbench.benchmark.reporting.table_format import INPUT_ORDER, Block, Table

__all__ = [
    "seeds_table",
    "RowNames",
    "DeclaredPair",
    "main_table",
    "paper_table",
    "verdict_table",
    "ablation_table",
    "per_stage_table",
    "confusion_table",
    "format_p",
    "p_phrase",
    "format_difference",
]

FAMILY_RANK = {"reference": 0, "radiomics": 1, "foundation": 2, "deep": 3}
#: The exploratory block's family pairs (each family's best method, chosen on held-out data).
FAMILY_PAIRS = (("radiomics", "deep"), ("radiomics", "foundation"), ("foundation", "deep"))


@dataclass
class RowNames:
    """How rows are named and ordered: display names, families, the config's order.

    Args:
        display: row name (alias or runner id) -> display name ("VGG-19").
        families: row name -> reference | radiomics | deep | other.
        order: row names in the order the config lists them.
    """

    display: dict[str, str] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def show(self, runner: str, variant: str = "default") -> str:
        name = self.display.get(runner, runner)
        return name if variant == "default" else f"{name} [{variant}]"

    def short(self, runner: str, variant: str = "default") -> str:
        """The display name less a trailing qualifier in parentheses ("XGBoost (radiomics)" ->
        "XGBoost"), for pair labels; the full name where another row would share the short one."""
        full = self.display.get(runner, runner)
        short = re.sub(r"\s*\([^()]*\)$", "", full) or full
        others = {re.sub(r"\s*\([^()]*\)$", "", n) for r, n in self.display.items() if r != runner}
        name = full if short in others or short in self.display else short
        return name if variant == "default" else f"{name} [{variant}]"

    def family(self, runner: str) -> str:
        return self.families.get(runner, "other")

    def sort_key(self, runner: str) -> tuple[int, int, str]:
        position = self.order.index(runner) if runner in self.order else len(self.order)
        return (FAMILY_RANK.get(self.family(runner), len(FAMILY_RANK)), position, runner)

    def sorted(self, runners) -> list[str]:
        return sorted(set(runners), key=self.sort_key)


@dataclass(frozen=True)
class DeclaredPair:
    """A comparison declared in the config before any result existed: ``a`` against ``b``."""

    a: str
    b: str
    a_variant: str = "default"
    b_variant: str = "default"

    @classmethod
    def parse(cls, item: list[str] | tuple[str, str]) -> DeclaredPair:
        (a, _, av), (b, _, bv) = (str(item[0]).partition(":"), str(item[1]).partition(":"))
        return cls(a, b, av or "default", bv or "default")

    def label(self) -> str:
        return f"{self.a}{':' + self.a_variant if self.a_variant != 'default' else ''} vs {self.b}{':' + self.b_variant if self.b_variant != 'default' else ''}"


# ---- formatting -------------------------------------------------------------------------------


def _design(protocol: str) -> str:
    """A caption's words for a protocol: "repeated CV (cv)", "official split (official)"."""
    description = protocol_description(protocol)
    return description if description == protocol else f"{description} ({protocol})"


def format_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float) -> str:
    """``p = 0.031`` or ``p < 0.001``, for sentences."""
    text = format_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def format_difference(estimate: Estimate) -> str:
    if not np.isfinite(estimate.value):
        return "n/a"
    if not (np.isfinite(estimate.low) and np.isfinite(estimate.high)):
        return f"{estimate.value:+.3f}"
    return f"{estimate.value:+.3f} [{estimate.low:+.3f}, {estimate.high:+.3f}]"


def format_with_spread(estimate: Estimate, spread: SeedSpread | None) -> str:
    """``0.583 [0.417, 0.750]``, or ``0.583 ± 0.048 [0.417, 0.750]`` with the SD over several
    training seeds (the interval already carries that variance)."""
    text = estimate.format()
    if spread is None or not spread.format() or not np.isfinite(estimate.value):
        return text
    value, _, rest = text.partition(" ")
    return f"{value} ± {spread.format()}" + (f" {rest}" if rest else "")


def _ci_text(evaluation: Evaluation, protocol: str) -> str:
    if evaluation.single_test_set(protocol):
        return (
            f"95 % CI: patient-level bootstrap stratified by stage ({evaluation.n_boot} resamples, bias-corrected percentile; "
            "a method with several training seeds resampled over patients and seeds)"
        )
    return (
        f"95 % CI: Nadeau-Bengio corrected resampled t over {n_splits(evaluation, protocol)} CV splits "
        "(seeds averaged within a split; each split trains with seeds of its own, so the t carries the seed variance)"
    )


def _seeds_note(seeded: bool) -> list[str]:
    return (
        ["± = SD over training seeds (each seed averaged over its splits), shown where a method ran with several."]
        if seeded
        else []
    )


def n_splits(evaluation: Evaluation, protocol: str) -> int:
    """Splits per input (``official`` has one per sequence; CV the same folds for every input)."""
    frame = evaluation.frames.get("patient")
    if frame is None:
        return 0
    counts = frame[frame["protocol"] == protocol].groupby("input")["split_id"].nunique()
    return int(counts.max()) if len(counts) else 0


def _test_text(evaluation: Evaluation, protocol: str, metric: str, level: str) -> str:
    if not evaluation.single_test_set(protocol):
        return "corrected resampled t-test over the CV splits"
    if metric == "accuracy" and level == "patient":
        return "exact McNemar test on patient correctness (paired bootstrap with several seeds)"
    return "paired patient-level bootstrap"


def _n_header(evaluation: Evaluation, protocol: str, inputs: list[str], level: str) -> dict[str, int]:
    frame = evaluation.frames.get(level)
    if frame is None:
        return {}
    part = frame[frame["protocol"] == protocol]
    return {i: int(part.loc[part["input"] == i, "patient_id"].nunique()) for i in inputs}


def _inputs(evaluation: Evaluation, protocol: str, level: str) -> list[str]:
    present = {k.input for k in evaluation.methods(level) if k.protocol == protocol}
    return [i for i in INPUT_ORDER if i in present] + sorted(present - set(INPUT_ORDER))


def _default_runners(evaluation: Evaluation, names: RowNames, protocol: str, level: str) -> list[str]:
    return names.sorted(
        k.runner for k in evaluation.methods(level) if k.protocol == protocol and k.variant == "default"
    )


def _reported_rows(reported: list[dict], protocol: str, level: str, columns: list[tuple[str, str]]) -> list[list[str]]:
    """The paper's own numbers in the table's layout; columns are (input, metric) pairs."""
    by_method: dict[str, dict[tuple[str, str], float]] = {}
    for item in reported:
        if item.get("protocol", protocol) != protocol or item.get("level", default("reported[].level")) != level:
            continue
        label = f"{item['method']} ({item.get('source', 'reported')})"
        cell = (item.get("input", default("reported[].input")), item.get("metric", default("reported[].metric")))
        by_method.setdefault(label, {})[cell] = float(item["value"])
    rows = []
    for label, values in by_method.items():
        if any(c in values for c in columns):
            rows.append([label] + [f"{values[c]:.3f}" if c in values else "—" for c in columns])
    return rows


# ---- tables -----------------------------------------------------------------------------------
def seeds_table(evaluation: Evaluation, names: RowNames, protocol: str, level: str, metric: str) -> Table | None:
    """Methods trained with several seeds: the metric's mean over seeds, its SD and range (each
    seed's value averaged over the splits). None when every method has one seed."""
    runners = _default_runners(evaluation, names, protocol, level)
    inputs = _inputs(evaluation, protocol, level)
    rows, ids = [], []
    for runner in runners:
        cells, seeded = [], False
        for column in inputs:
            values = evaluation.per_seed(MethodKey(runner, "default", column, protocol), metric, level).dropna()
            if len(values) < 2:
                cells.append("—" if values.empty else f"{values.iloc[0]:.3f} (1 seed)")
                continue
            seeded = True
            cells.append(
                f"{values.mean():.3f} ± {values.std(ddof=1):.3f} ({len(values)} seeds, {values.min():.3f}-{values.max():.3f})"
            )
        if seeded:
            rows.append([names.show(runner), *cells])
            ids.append(runner)
    if not rows:
        return None
    notes = [
        f"{metric_display(metric)} at {level} level, {protocol_description(protocol)} ({protocol}): per seed averaged over "
        f"its splits; mean ± SD over seeds (min-max). The other tables and every test average the seeds within each split first."
    ]
    return Table(
        f"seeds_{protocol}_{level}",
        f"Spread over training seeds: {metric_display(metric).lower()} ({protocol}, {level} level)",
        ["Method", *inputs],
        rows,
        ids=ids,
        notes=notes,
    )


def _against_reference(
    evaluation: Evaluation,
    keys: dict[tuple[str, str], MethodKey],
    reference: str | None,
    protocol: str,
    metric: str,
    level: str,
) -> list[tuple[tuple[str, str], Comparison]]:
    """Each (runner, input) cell's paired comparison with the reference row's same input."""
    if reference is None:
        return []
    tests = []
    for cell, key in keys.items():
        if cell[0] == reference:
            continue
        c = evaluation.compare(key, MethodKey(reference, "default", cell[1], protocol), metric, level)
        if c is not None:
            tests.append((cell, c))
    return tests


def _marks_note(
    evaluation: Evaluation,
    names: RowNames,
    reference: str | None,
    runners: list[str],
    protocol: str,
    metric: str,
    level: str,
) -> str:
    """What bold and the * / † marks of a main table mean."""
    if reference is None:
        return "Bold: best measured value per column. No reference runner was declared (reference: null), so no row is marked."
    if reference in runners:
        return (
            f"Bold: best measured value per column ({names.show(reference)} excluded). * / †: better / worse than {names.show(reference)} "
            f"(Holm-adjusted over this table, p < 0.05; {_test_text(evaluation, protocol, metric, level)})."
        )
    return f"Bold: best measured value per column. {names.show(reference)} has no {level}-level predictions, so no row is marked against it."


def main_table(
    evaluation: Evaluation,
    names: RowNames,
    protocol: str,
    level: str,
    metric: str,
    reference: str | None,
    reported: list[dict],
) -> Table | None:
    runners = _default_runners(evaluation, names, protocol, level)
    if not runners:
        return None
    inputs = _inputs(evaluation, protocol, level)
    keys = {(r, i): MethodKey(r, "default", i, protocol) for r in runners for i in inputs}
    tests = _against_reference(evaluation, keys, reference, protocol, metric, level)
    adjusted = dict(zip([cell for cell, _ in tests], holm([c.p for _, c in tests])))
    by_cell = dict(tests)
    best = {}
    for column in inputs:
        values = [evaluation.estimate(keys[(r, column)], metric, level).value for r in runners if r != reference]
        values = [v for v in values if np.isfinite(v)]
        if len(values) > 1:  # "best" needs at least two compared methods
            best[column] = min(values) if lower_is_better(metric) else max(values)
    rows, ids, seeded = [], [], False
    for runner in runners:
        row = [names.show(runner)]
        for column in inputs:
            estimate = evaluation.estimate(keys[(runner, column)], metric, level)
            if not np.isfinite(estimate.value):
                row.append("—")
                continue
            spread = evaluation.seed_spread(keys[(runner, column)], metric, level)
            seeded |= spread.n > 1
            text = format_with_spread(estimate, spread)
            if runner != reference and np.isclose(estimate.value, best.get(column, np.nan)):
                text = f"**{text}**"
            if (runner, column) in adjusted and adjusted[(runner, column)] < 0.05:
                text += "*" if favours_first(metric, by_cell[(runner, column)].difference.value) else "†"
            row.append(text)
        rows.append(row)
        ids.append(runner)
    n = _n_header(evaluation, protocol, inputs, level)
    reported_rows = _reported_rows(
        [r for r in reported if r.get("metric", default("reported[].metric")) == metric],
        protocol,
        level,
        [(i, metric) for i in inputs],
    )
    notes = [
        f"{metric_display(metric)} at {level} level, {protocol_description(protocol)} ({protocol}); {_ci_text(evaluation, protocol)}; n = test patients."
    ]
    notes.append(_marks_note(evaluation, names, reference, runners, protocol, metric, level))
    notes += _seeds_note(seeded)
    caption = f"{metric_display(metric)} per method and input with 95 % CI ({level} level, {_design(protocol)})"
    blocks = [Block("reported, not rerun", reported_rows)] if reported_rows else []
    return Table(
        f"main_{protocol}_{level}",
        caption,
        ["Method", *[f"{i} (n = {n.get(i, 0)})" for i in inputs]],
        rows,
        ids,
        blocks,
        notes,
    )


def paper_table(
    evaluation: Evaluation,
    names: RowNames,
    protocol: str,
    level: str,
    metrics: list[str],
    reported: list[dict],
    prefix: str = "paper",
) -> Table | None:
    """Methods x (inputs x metrics), each with its CI: the seed paper's layout (``paper_``), or the
    same layout for further metrics (``secondary_``: discrimination, ordinal error, calibration)."""
    runners = _default_runners(evaluation, names, protocol, level)
    if not runners or not metrics:
        return None
    inputs = _inputs(evaluation, protocol, level)
    rows, ids = [], []
    for runner in runners:
        row = [names.show(runner)]
        for column in inputs:
            for metric in metrics:
                estimate = evaluation.estimate(MethodKey(runner, "default", column, protocol), metric, level)
                row.append(estimate.format() if np.isfinite(estimate.value) else "—")
        rows.append(row)
        ids.append(runner)
    n = _n_header(evaluation, protocol, inputs, level)
    reported_rows = _reported_rows(reported, protocol, level, [(i, m) for i in inputs for m in metrics])
    macro = (
        "macro-averaged over the stages in the truth or the predictions (scikit-learn's macro average, 0 for an undefined ratio)"
        if level == "patient"
        else "macro-averaged over the stages in the truth or the predictions, per slice, as the seed paper"
    )
    notes = [
        f"{level.capitalize()} level, {protocol_description(protocol)} ({protocol}); precision, recall, specificity and F1 {macro}; {_ci_text(evaluation, protocol)}; n = test patients."
    ]
    groups = [(f"{i} (n = {n.get(i, 0)})", len(metrics)) for i in inputs]
    header = ["Method", *[metric_short(m) for _ in inputs for m in metrics]]
    blocks = [Block("reported, not rerun", reported_rows)] if reported_rows else []
    caption = f"{', '.join(metric_short(m) for m in metrics)} per method and input ({level} level, {_design(protocol)})"
    if prefix != "paper":
        notes = [
            f"{level.capitalize()} level, {protocol_description(protocol)} ({protocol}); "
            + "; ".join(f"{metric_short(m)}: {metric_display(m)}" for m in metrics)
            + f"; {_ci_text(evaluation, protocol)}; n = test patients."
        ]
    return Table(f"{prefix}_{protocol}_{level}", caption, header, rows, ids, blocks, notes, groups)


def _comparison_row(names: RowNames, comparison: Comparison, adjusted: float, label: str | None = None) -> list[str]:
    return [
        label or _pair_label(names, comparison),
        comparison.a.input,
        comparison.level,
        format_with_spread(comparison.a_estimate, comparison.a_spread),
        format_with_spread(comparison.b_estimate, comparison.b_spread),
        format_difference(comparison.difference),
        f"±{comparison.detectable:.3f}" if np.isfinite(comparison.detectable) else "n/a",
        comparison.test,
        format_p(comparison.p),
        format_p(adjusted),
    ]


def _pair_label(names: RowNames, comparison: Comparison) -> str:
    """A pair as the verdict table names it: short names (the table's title says which family is which)."""
    return f"{names.short(comparison.a.runner, comparison.a.variant)} vs {names.short(comparison.b.runner, comparison.b.variant)}"


def declared_comparisons(
    evaluation: Evaluation, pairs: list[DeclaredPair], protocol: str, metric: str
) -> list[Comparison]:
    """Every declared pair x input x level that both sides ran (slice level only where both have slices)."""
    out = []
    for pair in pairs:
        for level in evaluation.levels():
            for column in _inputs(evaluation, protocol, "patient"):
                a = MethodKey(pair.a, pair.a_variant, column, protocol)
                b = MethodKey(pair.b, pair.b_variant, column, protocol)
                comparison = evaluation.compare(a, b, metric, level)
                if comparison is not None:
                    out.append(comparison)
    return out


def exploratory_comparisons(
    evaluation: Evaluation, names: RowNames, validation: pd.DataFrame, protocol: str, metric: str
) -> list[tuple[Comparison, str]]:
    """Per input: each family's best method against the next family's (radiomics vs deep, then,
    where the foundation family ran, radiomics vs foundation and foundation vs deep), each chosen
    by its mean held-out score (the validation part, or inner-CV out-of-fold predictions for
    runners that train on the validation part; never a test score); (comparison, how they were chosen)."""
    out: list[tuple[Comparison, str]] = []
    if validation.empty:
        return out
    lower = lower_is_better(metric)
    for column in _inputs(evaluation, protocol, "patient"):
        part = validation[
            (validation["protocol"] == protocol)
            & (validation["input"] == column)
            & (validation["variant"] == "default")
        ]
        chosen = {}
        for family in ("radiomics", "foundation", "deep"):
            candidates = part[[names.family(r) == family for r in part["runner"]]].dropna(subset=["validation"])
            candidates = candidates[
                [evaluation.has(MethodKey(r, "default", column, protocol), "patient") for r in candidates["runner"]]
            ]
            if not candidates.empty:
                ordered = candidates.sort_values(["validation", "runner"], ascending=[lower, True])
                chosen[family] = ordered.iloc[0]
        for first, second in FAMILY_PAIRS:
            if first not in chosen or second not in chosen:
                continue
            a, b = chosen[first], chosen[second]
            comparison = evaluation.compare(
                MethodKey(a["runner"], "default", column, protocol),
                MethodKey(b["runner"], "default", column, protocol),
                metric,
                "patient",
            )
            if comparison is not None:
                why = f"held-out {metric}: {names.show(a['runner'])} {a['validation']:.3f}, {names.show(b['runner'])} {b['validation']:.3f}"
                out.append((comparison, why))
    return out


_VERDICT_HEADER = [
    "Comparison",
    "Input",
    "Level",
    "A (95 % CI)",
    "B (95 % CI)",
    "Δ A − B (95 % CI)",
    "Detectable Δ",
    "Test",
    "p",
    "p (Holm)",
]


def _verdict_notes(
    evaluation: Evaluation,
    names: RowNames,
    declared: list[Comparison],
    exploratory: list[tuple[Comparison, str]],
    protocol: str,
    metric: str,
) -> list[str]:
    """What a reader of the verdict table needs: the design, the intervals, what the columns mean,
    which pairs lie within the seed spread and how the exploratory block chose its methods."""
    notes = [
        f"{metric_display(metric)}, {protocol_description(protocol)} ({protocol}). Pairs declared in the config before the results existed "
        "(default: the first radiomics runner against the first deep runner listed).",
        f"{_ci_text(evaluation, protocol)}; the difference's CI from the same "
        + (
            "paired bootstrap resamples"
            if evaluation.single_test_set(protocol)
            else "corrected resampled t on per-split differences"
        )
        + (
            " (accuracy at patient level with one seed: the exact interval that inverts the McNemar test)"
            if evaluation.single_test_set(protocol)
            else ""
        )
        + "; Holm adjustment over the declared rows of this table (the exploratory block separately).",
        "Detectable Δ: the smallest difference this design detects with 80 % power at alpha 0.05, from the observed "
        "variance of the difference; a non-significant pair whose CI reaches beyond it is inconclusive, not equal.",
        "Slice level: every liver slice scored with its patient's stage (the seed paper's level); slices resampled with their patient.",
        *_seeds_note(any(np.isfinite(c.seed_sd) for c in declared)),
    ]
    within = [c for c in declared if c.within_seed_spread]
    if within:
        notes.append(
            "Within the seed spread (|Δ| smaller than a side's SD over training seeds, so not a finding): "
            + "; ".join(f"{_pair_label(names, c)} ({c.a.input}, {c.level})" for c in within)
            + "."
        )
    if exploratory:
        notes.append(
            "Exploratory choice by mean held-out score at patient level (deep runners: the validation part, which they also use for early stopping; "
            "radiomics and foundation runners, trained on train + valid: out-of-fold predictions of their inner CV): "
            + "; ".join(f"{c.a.input}: {why}" for c, why in exploratory)
            + "."
        )
    return notes


def verdict_table(
    evaluation: Evaluation,
    names: RowNames,
    pairs: list[DeclaredPair],
    validation: pd.DataFrame,
    protocol: str,
    metric: str,
) -> tuple[Table | None, list[tuple[Comparison, float]]]:
    """The declared comparisons under one protocol (and the exploratory block); also returns the
    declared comparisons with their Holm-adjusted p for the verdict in words."""
    declared = declared_comparisons(evaluation, pairs, protocol, metric)
    exploratory = exploratory_comparisons(evaluation, names, validation, protocol, metric)
    if not declared and not exploratory:
        return None, []
    adjusted = holm_adjust(declared)
    rows = [_comparison_row(names, c, p) for c, p in zip(declared, adjusted)]
    blocks = []
    if exploratory:
        adjusted_exploratory = holm_adjust([c for c, _ in exploratory])
        block_rows = [
            _comparison_row(
                names,
                c,
                p,
                f"best {names.family(c.a.runner)}: {names.short(c.a.runner)} vs best {names.family(c.b.runner)}: {names.short(c.b.runner)}",
            )
            for (c, _), p in zip(exploratory, adjusted_exploratory)
        ]
        blocks.append(
            Block("exploratory: each family's best method chosen on held-out training data, never on test", block_rows)
        )
    notes = _verdict_notes(evaluation, names, declared, exploratory, protocol, metric)
    caption = (
        f"Declared radiomics vs deep comparisons: each side, their paired difference and its test ({_design(protocol)})"
    )
    return Table(
        f"verdict_{protocol}",
        caption,
        list(_VERDICT_HEADER),
        rows,
        [f"{c.a.runner}:{c.a.variant} vs {c.b.runner}:{c.b.variant}" for c in declared],
        blocks,
        notes,
        lead=3,
    ), list(zip(declared, adjusted))


def ablation_table(
    evaluation: Evaluation, names: RowNames, runner: str, protocol: str, level: str, metric: str
) -> Table | None:
    variants = sorted({k.variant for k in evaluation.methods(level) if k.runner == runner and k.protocol == protocol})
    if "default" not in variants or len(variants) < 2:
        return None
    variants = ["default"] + [v for v in variants if v != "default"]
    inputs = [
        i
        for i in _inputs(evaluation, protocol, level)
        if any(evaluation.has(MethodKey(runner, v, i, protocol), level) for v in variants[1:])
    ]
    comparisons = {}
    for variant in variants[1:]:
        for column in inputs:
            c = evaluation.compare(
                MethodKey(runner, variant, column, protocol),
                MethodKey(runner, "default", column, protocol),
                metric,
                level,
            )
            if c is not None:
                comparisons[(variant, column)] = c
    adjusted = dict(zip(comparisons, holm([c.p for c in comparisons.values()])))
    rows, ids = [], []
    for variant in variants:
        row = [variant]
        for column in inputs:
            estimate = evaluation.estimate(MethodKey(runner, variant, column, protocol), metric, level)
            row.append(estimate.format() if np.isfinite(estimate.value) else "—")
            c = comparisons.get((variant, column))
            row += (
                [format_difference(c.difference), format_p(adjusted[(variant, column)])]
                if c is not None
                else (["(full model)", ""] if variant == "default" else ["—", "—"])
            )
        rows.append(row)
        ids.append(f"{runner}:{variant}")
    header = ["Variant", *[h for _ in inputs for h in (metric_short(metric), "Δ vs default (95 % CI)", "p (Holm)")]]
    groups = [(column, 3) for column in inputs]
    notes = [
        f"{metric_display(metric)} at {level} level, {protocol_description(protocol)} ({protocol}); Δ: variant minus the default (full) variant; {_ci_text(evaluation, protocol)}.",
        f"p: {_test_text(evaluation, protocol, metric, level)}, Holm-adjusted over this table.",
    ]
    caption = (
        f"Ablation of {names.show(runner)}: each variant against the full model ({level} level, {_design(protocol)})"
    )
    return Table(f"ablation_{runner}_{protocol}_{level}", caption, header, rows, ids, [], notes, groups)


def per_stage_table(
    evaluation: Evaluation, names: RowNames, labels: LabelSet, protocol: str, level: str
) -> Table | None:
    runners = _default_runners(evaluation, names, protocol, level)
    if not runners:
        return None
    inputs = _inputs(evaluation, protocol, level)
    kinds = ("recall", "specificity", "f1")
    rows, ids = [], []
    for runner in runners:
        for column in inputs:
            key = MethodKey(runner, "default", column, protocol)
            if not evaluation.has(key, level):
                continue
            row = [names.show(runner), column]
            for stage in labels.names:
                for kind in kinds:
                    estimate = evaluation.estimate(key, f"{kind}_{stage}", level)
                    row.append(estimate.format() if np.isfinite(estimate.value) else "—")
            rows.append(row)
            ids.append(runner)
    header = ["Method", "Input", *[metric_short(k) for _ in labels.names for k in kinds]]
    groups = [(stage, len(kinds)) for stage in labels.names]
    notes = [
        f"Per-stage one-vs-rest metrics at {level} level, {protocol_description(protocol)} ({protocol}); {_ci_text(evaluation, protocol)}; — where a stage is absent from the test sets."
    ]
    return Table(
        f"per_stage_{protocol}",
        f"Per-stage recall, specificity and F1 ({level} level, {_design(protocol)})",
        header,
        rows,
        ids,
        [],
        notes,
        groups,
        lead=2,
    )


def confusion_table(evaluation: Evaluation, names: RowNames, labels: LabelSet, protocol: str) -> Table | None:
    frame = evaluation.frames.get("patient")
    runners = _default_runners(evaluation, names, protocol, "patient")
    if frame is None or not runners:
        return None
    cols = [f"prob_{n}" for n in labels.names]
    rows, ids = [], []
    for runner in runners:
        for column in _inputs(evaluation, protocol, "patient"):
            part = frame[
                (frame["runner"] == runner)
                & (frame["variant"] == "default")
                & (frame["input"] == column)
                & (frame["protocol"] == protocol)
            ]
            if part.empty:
                continue
            cm = confusion(
                part["true_label"].to_numpy(), decide(part[cols].to_numpy(), row_keys(part)), labels.n_classes
            )
            for k, stage in enumerate(labels.names):
                total = cm[k].sum()
                cells = [
                    f"{cm[k, j]} ({100 * cm[k, j] / total:.0f} %)" if total else f"{cm[k, j]}"
                    for j in range(labels.n_classes)
                ]
                rows.append([names.show(runner), column, stage, *cells, str(total)])
                ids.append(runner)
    splits = n_splits(evaluation, protocol)
    notes = [
        f"Patient level, {protocol_description(protocol)} ({protocol}): counts summed over {splits} test split(s) and all seeds; row percentages of each true stage."
    ]
    header = ["Method", "Input", "True stage", *labels.names, "Total"]
    groups = [("Predicted stage", labels.n_classes)]
    return Table(
        f"confusion_{protocol}",
        f"Confusion matrices per method and input (patient level, {_design(protocol)})",
        header,
        rows,
        ids,
        [],
        notes,
        groups,
        lead=3,
    )

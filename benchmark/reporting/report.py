"""``cirrbench report``: every table, figure and the report page, rebuilt from prediction files alone.

The results folder's ``manifest.json`` says which jobs belong to the current experiment and how
to report them (main metric, reference, declared comparisons, table metrics, row names); the
prediction files hold everything else. The same files always give byte-identical outputs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.config_keys import DEFAULT_FIGURE_FORMATS, FIGURE_FORMATS, default
from cirrbench.benchmark.common.paths import inside
from cirrbench.benchmark.common.results_store import MANIFEST, ResultsStore
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.protocols.registry import protocol_order
from cirrbench.benchmark.reporting.builtin_outputs import shown_name
from cirrbench.benchmark.reporting.evaluation import Comparison, Evaluation, MethodKey
from cirrbench.benchmark.reporting.figure_cache import FigureCache
from cirrbench.benchmark.reporting.figure_writer import FigureFiles, rendering_in_workers
from cirrbench.benchmark.reporting.learning_curves import is_curve_point, split_fractions, with_curve_points
from cirrbench.benchmark.reporting.metric_registry import supported_metric
from cirrbench.benchmark.reporting.output_registry import ReportContext, figure_families, table_families
from cirrbench.benchmark.reporting.report_cache import (
    Memo,
    code_fingerprint,
    fingerprint,
    previous_figures,
    read_state,
    reusable,
    save_state,
)
from cirrbench.benchmark.reporting.robustness import is_perturbed_point, with_perturbed_points
from cirrbench.benchmark.reporting.rows import level_frames, per_split_metrics, test_fractions
from cirrbench.benchmark.reporting.stats import holm
from cirrbench.benchmark.reporting.table_builders import DeclaredPair, RowNames
from cirrbench.benchmark.reporting.table_format import Table

__all__ = ["ReportSettings", "Report", "build_report", "PHANTOM_BANNER", "MANIFEST", "DEFAULT_TABLE_METRICS"]

log = logging.getLogger(__name__)

PHANTOM_BANNER = "SYNTHETIC PHANTOM - checks the machinery, not clinical validity"
DEFAULT_TABLE_METRICS: tuple[str, ...] = tuple(default("metrics.table"))
DEFAULT_SECONDARY_METRICS: tuple[str, ...] = tuple(default("metrics.secondary"))


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

    metric: str = default("metrics.main")
    table_metrics: tuple[str, ...] = DEFAULT_TABLE_METRICS
    secondary_metrics: tuple[str, ...] = DEFAULT_SECONDARY_METRICS
    reference: str | None = "majority"  # None: no chance row declared (reference: null)
    bootstrap: int = default("metrics.bootstrap")
    seed: int = 0
    reported: list[dict] = field(default_factory=list)
    families: dict[str, str] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    compare: list[list[str]] = field(default_factory=list)
    banner: str | None = None
    figure_files: FigureFiles = field(default_factory=FigureFiles)  # figures.formats and figures.dpi
    job_keys: list[str] | None = None  # restrict to these jobs (the current experiment's)
    provenance: dict = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, out: Path) -> ReportSettings:
        manifest = ResultsStore(out).read_manifest()
        if manifest is None:
            return cls()
        report = manifest.get("report", {})
        return cls(
            metric=report.get("metric", default("metrics.main")),
            table_metrics=tuple(report.get("table_metrics", DEFAULT_TABLE_METRICS)),
            secondary_metrics=tuple(report.get("secondary_metrics", DEFAULT_SECONDARY_METRICS)),
            reference=report.get("reference", "majority"),
            bootstrap=int(report.get("bootstrap", default("metrics.bootstrap"))),
            seed=int(report.get("seed", default("seed"))),
            reported=list(report.get("reported", [])),
            families=dict(report.get("families", {})),
            display=dict(report.get("display_names", {})),
            compare=[list(pair) for pair in report.get("compare", [])],
            figure_files=FigureFiles(
                tuple(report.get("figure_formats", DEFAULT_FIGURE_FORMATS)),
                int(report.get("figure_dpi", default("figures.dpi"))),
            ),
            banner=PHANTOM_BANNER if manifest.get("cohort", {}).get("phantom") else None,
            job_keys=[j["key"] for j in manifest.get("jobs", [])] or None,
            provenance={
                k: manifest.get(k)
                for k in ("created", "experiment", "cohort", "versions", "git_commit", "machine", "kernels", "splits")
            },
        )


@dataclass
class Report:
    tables: list[Table]
    files: list[Path]
    summary: pd.DataFrame
    verdict: list[str] = field(default_factory=list)
    reused: bool = False  # nothing it reads changed: the previous build's files were kept

    def main_markdown(self) -> str:
        head = "\n".join(self.verdict) + "\n\n" if self.verdict else ""
        mains = [t for t in self.tables if t.name.startswith("main_")]
        return head + "\n".join(t.to_markdown() for t in mains)


def _validation_frame(store: ResultsStore, jobs: list[dict]) -> pd.DataFrame:
    """Held-out model-choice predictions of every job that saved them, with the method columns."""
    parts = []
    for job in jobs:
        frame = store.load_model_choice(job["key"])
        if frame is not None and not frame.empty:
            parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _context(
    out: Path, store: ResultsStore, settings: ReportSettings, memo: Memo
) -> tuple[ReportContext, pd.DataFrame]:
    """Everything the table and figure builders share (predictions, labels, the evaluation, row
    names, pairs), and the per-split metrics the metrics folder keeps."""
    predictions, jobs = store.load_predictions(settings.job_keys)
    if predictions.empty:
        raise FileNotFoundError(
            f"{out}: no finished job with predictions; run `cirrbench run CONFIG --out {out}` first"
        )
    shares = split_fractions(store)  # learning curves: each share is a point of its own
    predictions, jobs = with_curve_points(predictions, jobs, shares)
    predictions, jobs = with_perturbed_points(predictions, jobs, store)  # robustness: each perturbation a point
    label_dicts = {json.dumps(j["labels"], sort_keys=True) for j in jobs}
    if len(label_dicts) != 1:
        raise ValueError(f"{out}: jobs use different label sets; report them separately")
    labels = LabelSet(tuple(jobs[0]["labels"]["names"]), jobs[0]["labels"]["ordinal"])
    slices = {j["key"]: s for j in jobs if (s := store.load_slices(j["key"])) is not None}
    frames = level_frames(predictions, slices, labels)
    split_metrics = pd.concat(
        [
            per_split_metrics(f, labels, level, memo)
            for level, f in (("patient", frames.patients), ("slice", frames.slices))
            if not f.empty
        ],
        ignore_index=True,
    )
    evaluation = Evaluation(
        {"patient": frames.patients, "slice": frames.slices},
        split_metrics,
        labels,
        test_fractions(jobs),
        settings.bootstrap,
        settings.seed,
    )
    held_out, _ = with_curve_points(_validation_frame(store, jobs), [], shares)
    validation = Evaluation.validation_scores(held_out, labels, settings.metric)

    runners_seen = sorted({shown_name(j) for j in jobs})  # sorted: the same names in the same order every run
    names = RowNames(
        display={r: settings.display.get(r, r) for r in runners_seen},
        families={**{r: "other" for r in runners_seen}, **settings.families},
        order=list(settings.families) or runners_seen,
    )
    table_metrics = [m for m in settings.table_metrics if supported_metric(m, labels)]
    secondary_metrics = [
        m for m in settings.secondary_metrics if supported_metric(m, labels)
    ]  # QWK and MAE only for ordinal labels
    pairs = [DeclaredPair.parse(p) for p in settings.compare]
    protocols = sorted(
        {
            k.protocol
            for k in evaluation.methods()
            if not (is_curve_point(k.protocol) or is_perturbed_point(k.protocol))
        },
        key=protocol_order,
    )

    context = ReportContext(
        out,
        store,
        settings,
        labels,
        evaluation,
        names,
        pairs,
        protocols,
        validation,
        jobs,
        predictions,
        table_metrics,
        secondary_metrics,
    )
    return context, split_metrics


def build_report(out: str | Path, settings: ReportSettings | None = None, reuse: bool = False, jobs: int = 1) -> Report:
    """Every table, metrics file, figure and the page, from a results folder's predictions alone
    (the same predictions give the same bytes); outputs an earlier config left are removed.
    ``reuse``: keep the previous build when nothing it reads changed (:mod:`report_cache`), and
    otherwise every figure whose content did not change (:mod:`figure_cache`). ``jobs``: processes
    that render the figures (:mod:`figure_writer`; the same bytes for any number)."""
    out = Path(out)
    store = ResultsStore(out)
    settings = settings or ReportSettings.from_manifest(out)
    code = code_fingerprint(settings)
    key = fingerprint(out, settings, code)
    state = read_state(out) if reuse else {}
    if reuse and (kept := reusable(out, key, state)) is not None:
        return Report(*kept, reused=True)
    memo = Memo.of(state, code)
    context, split_metrics = _context(out, store, settings, memo)
    figure_files = settings.figure_files
    # a figure's key holds its files' formats and resolution: other ones draw it again
    context.figure_cache = FigureCache(
        f"{code}:{','.join(figure_files.formats)}:{figure_files.dpi}", previous_figures(state)
    )
    evaluation, names, pairs, protocols = context.evaluation, context.names, context.pairs, context.protocols
    table_metrics, secondary_metrics, labels = context.table_metrics, context.secondary_metrics, context.labels
    tables: list[Table] = [t for family in table_families() for t in family.build(context) if t is not None]
    for table in tables:
        if settings.banner:
            table.notes = [f"{settings.banner}.", *[n for n in table.notes if not n.startswith(settings.banner)]]

    files: list[Path] = []
    for table in tables:
        files += table.write(store.tables_dir)
    figures: list[Path] = []
    # figures render on workers while the metrics files are computed
    with rendering_in_workers(jobs, figure_files):
        for family in figure_families():
            figures += family.build(context)
        summary = _summary(evaluation, sorted({settings.metric, *table_metrics, *secondary_metrics}))
        comparisons = _all_comparisons(evaluation, names, pairs, settings, protocols)
        for name, frame in (("per_split", split_metrics), ("summary", summary), ("comparisons", comparisons)):
            files.append(atomic_write_text(inside(store.metrics_dir, f"{name}.csv"), frame.to_csv(index=False)))
    files += figures
    verdicts = context.verdicts

    from cirrbench.benchmark.reporting.page import verdict_in_words, write_page

    # a run of learning curves only has no verdict table: its words are the crossovers
    tested = verdicts or not context.curve_words
    words = verdict_in_words(verdicts, names, evaluation, settings.metric, settings.compare) if tested else []
    words += context.curve_words + context.robustness_words
    files += write_page(out, tables, [f for f in files if f.suffix == ".png"], words, settings, labels, memo)
    remove_stale_outputs(out, files)
    save_state(out, key, tables, files, words, context.figure_cache.current, memo)
    if context.figure_cache.kept_count:
        log.info(
            "report: %d figure(s) kept (nothing they show changed), %d drawn",
            context.figure_cache.kept_count,
            context.figure_cache.drawn_count,
        )
    return Report(tables, files, summary, words)


def _summary(evaluation: Evaluation, metrics: list[str]) -> pd.DataFrame:
    rows = []
    for level in evaluation.levels():
        for key in evaluation.methods(level):
            for metric in metrics:
                estimate = evaluation.estimate(key, metric, level)
                rows.append(
                    {
                        **key._asdict(),
                        "level": level,
                        "metric": metric,
                        "value": estimate.value,
                        "low": estimate.low,
                        "high": estimate.high,
                        "ci": estimate.method,
                        "splits": len(evaluation.splits(key.protocol, level, key.input)),
                        "patients": evaluation.n_patients(key, level),
                    }
                )
    return pd.DataFrame(rows)


def _all_comparisons(
    evaluation: Evaluation, names: RowNames, pairs: list[DeclaredPair], settings: ReportSettings, protocols: list[str]
) -> pd.DataFrame:
    """Every paired test behind the tables and figures, with its family's Holm adjustment."""
    from cirrbench.benchmark.reporting.table_builders import declared_comparisons

    rows = []

    def add(kind: str, comparisons: list[Comparison], family: str) -> None:
        for c, adjusted in zip(comparisons, holm([c.p for c in comparisons])):
            rows.append({"kind": kind, "holm_family": family, **c.as_row(), "p_holm": adjusted})

    for protocol in protocols:
        add("declared", declared_comparisons(evaluation, pairs, protocol, settings.metric), f"verdict_{protocol}")
        for level in evaluation.levels():
            keys = [k for k in evaluation.methods(level) if k.protocol == protocol]
            reference = (
                []
                if settings.reference is None
                else [
                    c
                    for k in keys
                    if k.variant == "default"
                    and k.runner != settings.reference
                    and (
                        c := evaluation.compare(
                            k, MethodKey(settings.reference, "default", k.input, protocol), settings.metric, level
                        )
                    )
                    is not None
                ]
            )
            add("vs reference", reference, f"main_{protocol}_{level}")
            for runner in sorted({k.runner for k in keys}):
                ablation = [
                    c
                    for k in keys
                    if k.runner == runner
                    and k.variant != "default"
                    and (
                        c := evaluation.compare(
                            k, MethodKey(runner, "default", k.input, protocol), settings.metric, level
                        )
                    )
                    is not None
                ]
                add("ablation", ablation, f"ablation_{runner}_{protocol}_{level}")
    columns = ["kind", "holm_family", *Comparison.__dataclass_fields__]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


#: The pages the report owns (with every table file and the figures of registered families;
#: the cohort montage and anything a user puts there are left alone).
REPORT_PAGES = ("REPORT.md", "report.html")


def remove_stale_outputs(out: Path, written: list[Path]) -> list[Path]:
    """Delete report files that this build did not write (left by an earlier config), so tables
    and figures of runners or protocols no longer in the experiment are not mistaken for results."""
    keep = {p.resolve() for p in written}
    candidates = [p for p in (out / "tables").glob("*") if p.suffix in (".md", ".tex", ".csv")]
    prefixes = tuple(f"{family.name}_" for family in figure_families())
    candidates += [
        p for p in (out / "figures").glob("*") if p.suffix[1:] in FIGURE_FORMATS and p.name.startswith(prefixes)
    ]
    candidates += [out / name for name in REPORT_PAGES]
    removed = [p for p in candidates if p.is_file() and p.resolve() not in keep]
    for path in removed:
        path.unlink()
        log.info("removed %s (not part of this report)", path)
    return removed

"""Estimates and paired comparisons, with the statistics that fit each design.

One test set (``official``, ``paired``, a single ``file`` split):
    estimate: seeded patient-level bootstrap stratified by true stage (every stage of the test set
    in every resample; slices move with their patient), bias-corrected percentile 95 % CI; a
    method with several training seeds is resampled over patients and seeds (two stages);
    difference of two methods: paired bootstrap over the same resamples, bias-corrected CI and the
    p that inverts it; for accuracy at patient level (one seed) the exact McNemar test on patient
    correctness with the interval that inverts it (McNemar only fits paired 0/1 outcomes).
Repeated cross-validation:
    estimate: Nadeau-Bengio corrected resampled t interval over the splits (seeds averaged per split;
    the seeds derive from the split, so the split-to-split variance carries the seed variance);
    difference: corrected paired t interval and test on the per-split differences, with the ratio
    n_test / n_fit of the patients each runner fitted on (the larger of the two for a pair).
Every comparison also carries the smallest difference its design detects with 80 % power at
alpha 0.05 (from the observed variance), so "no significant difference" can say what it cannot exclude.

A method is a :class:`MethodKey` (row name, variant, input, protocol). Every comparison the
report draws (declared pairs, ablations, the pairwise matrix, marks against the reference) goes
through :meth:`Evaluation.compare`, so one test means one thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.decision import decide, row_keys
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.reporting.metric_registry import metric_bounds, supported_metric
from cirrbench.benchmark.reporting.resampling import PairedBootstrap, PatientStatistics
from cirrbench.benchmark.reporting.stats import (
    Estimate,
    bias_corrected_interval,
    bias_corrected_p,
    corrected_paired_t,
    corrected_t_ci,
    detectable_difference_bootstrap,
    detectable_difference_t,
    holm,
    mcnemar_exact,
    mcnemar_interval,
)

__all__ = ["MethodKey", "Comparison", "Evaluation", "SeedSpread", "holm_adjust"]


class MethodKey(NamedTuple):
    """One row of a table: a runner's row name, its variant, the input and the protocol."""

    runner: str
    variant: str
    input: str
    protocol: str


class SeedSpread(NamedTuple):
    """A method's spread over training seeds: how many, and the SD of the metric over them (each
    seed's value averaged over its splits; NaN with one seed)."""

    n: int
    sd: float

    def format(self) -> str:
        return f"{self.sd:.3f}" if self.n > 1 and np.isfinite(self.sd) else ""


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against method ``b`` on one metric at one level."""

    a: MethodKey
    b: MethodKey
    level: str
    metric: str
    a_estimate: Estimate
    b_estimate: Estimate
    difference: Estimate  # a - b
    p: float
    test: str
    n_patients: int
    splits: int
    detectable: float = float("nan")  # the smallest difference this design detects (80 % power, alpha 0.05)
    a_spread: SeedSpread | None = None  # training seeds of each side (Evaluation.compare sets them)
    b_spread: SeedSpread | None = None

    @property
    def seed_sd(self) -> float:
        """The larger side's SD over training seeds (NaN where neither has several seeds)."""
        values = [s.sd for s in (self.a_spread, self.b_spread) if s is not None and np.isfinite(s.sd)]
        return max(values) if values else float("nan")

    @property
    def within_seed_spread(self) -> bool:
        """Whether the difference is smaller than the spread over training seeds: not a finding."""
        return bool(np.isfinite(self.seed_sd) and abs(self.difference.value) < self.seed_sd)

    def as_row(self) -> dict:
        return {
            "a_runner": self.a.runner,
            "a_variant": self.a.variant,
            "b_runner": self.b.runner,
            "b_variant": self.b.variant,
            "input": self.a.input,
            "protocol": self.a.protocol,
            "level": self.level,
            "metric": self.metric,
            "a_value": self.a_estimate.value,
            "a_low": self.a_estimate.low,
            "a_high": self.a_estimate.high,
            "b_value": self.b_estimate.value,
            "b_low": self.b_estimate.low,
            "b_high": self.b_estimate.high,
            "difference": self.difference.value,
            "difference_low": self.difference.low,
            "difference_high": self.difference.high,
            "test": self.test,
            "p": self.p,
            "n_patients": self.n_patients,
            "splits": self.splits,
            "detectable_difference": self.detectable,
            "a_seeds": self.a_spread.n if self.a_spread else 1,
            "a_seed_sd": self.a_spread.sd if self.a_spread else float("nan"),
            "b_seeds": self.b_spread.n if self.b_spread else 1,
            "b_seed_sd": self.b_spread.sd if self.b_spread else float("nan"),
        }


def holm_adjust(comparisons: list[Comparison]) -> list[float]:
    """Holm-adjusted p-values over one table's comparisons (the family is the table)."""
    return holm([c.p for c in comparisons])


def bootstrap_p(point: float, draws: np.ndarray) -> float:
    """Two-sided p of a paired bootstrap that agrees with its bias-corrected interval."""
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0 or not np.isfinite(point):
        return float("nan")
    return bias_corrected_p(point, draws)


def _by_patient(stats: PatientStatistics) -> np.ndarray:
    """The predicted class of each patient (patient-level rows: one per patient; -1 where absent)."""
    out = np.full(stats.n_clusters, -1)
    out[stats.cluster] = stats.predicted
    return out


def _split_flips(clean: pd.DataFrame, altered: pd.DataFrame) -> np.ndarray:
    """Per split, the share of patients whose predicted class differs (seeds averaged in a split)."""
    on = ["split_id", "seed_index", "patient_id"]
    cols = [c for c in clean.columns if c.startswith("prob_")]
    a, b = clean[on + cols].copy(), altered[on + cols].copy()
    a["pred"] = decide(a[cols].to_numpy(dtype=float), row_keys(clean))
    b["pred"] = decide(b[cols].to_numpy(dtype=float), row_keys(altered))
    merged = a[[*on, "pred"]].merge(b[[*on, "pred"]], on=on, suffixes=("_a", "_b"))
    merged["flip"] = (merged["pred_a"] != merged["pred_b"]).astype(float)
    per_seed = merged.groupby(["split_id", "seed_index"])["flip"].mean()
    return per_seed.groupby(level="split_id").mean().to_numpy()


def _interval(point: float, draws: np.ndarray, n_boot: int, method: str = "bootstrap") -> Estimate:
    draws = draws[np.isfinite(draws)]
    if len(draws) < n_boot // 2 or not np.isfinite(point):
        return Estimate(point, float("nan"), float("nan"), method)
    low, high = bias_corrected_interval(point, draws)
    return Estimate(point, low, high, method)


class Evaluation:
    """Everything the report computes from prediction rows: estimates and paired comparisons.

    Args:
        frames: level -> prediction rows (``patient``: one row per patient and job; ``slice``: one
            row per slice) with ``runner, variant, input, protocol, split_id, seed_index``,
            ``patient_id``, ``true_label`` and ``prob_<class>`` columns.
        split_metrics: per (method, split, seed, level) metrics (``scores.per_split_metrics``).
        labels: the label set.
        test_fractions: (protocol, row name) or protocol -> mean n_test / n_fit of its splits (the
            correction of the t; ``rows.test_fractions``).
        n_boot: bootstrap resamples.
        seed: the bootstrap's seed.
    """

    def __init__(
        self,
        frames: dict[str, pd.DataFrame],
        split_metrics: pd.DataFrame,
        labels: LabelSet,
        test_fractions: dict,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> None:
        self.frames = {level: frame for level, frame in frames.items() if not frame.empty}
        self.split_metrics = split_metrics
        self.labels = labels
        self.test_fractions = test_fractions
        self.n_boot = n_boot
        self.seed = seed
        self._bootstraps: dict[tuple, PairedBootstrap] = {}
        self._stats: dict[tuple, list[PatientStatistics]] = {}
        self._rows: dict[tuple, pd.DataFrame] = {}
        self._estimates: dict[tuple, Estimate] = {}
        self._altered: dict[tuple, Estimate | None] = {}  # contrasts and flip rates (table and figure share them)
        self._positions: dict[str, dict[tuple, np.ndarray]] = {}  # row positions of each method, per frame
        self._single: dict[tuple, bool] = {}

    # ---- what exists ----------------------------------------------------------------------------
    def levels(self) -> list[str]:
        return [level for level in ("patient", "scan", "slice") if level in self.frames]

    def methods(self, level: str = "patient") -> list[MethodKey]:
        """Every method with rows at ``level`` (``patient``, ``scan`` or ``slice``)."""
        frame = self.frames.get(level)
        if frame is None:
            return []
        keys = frame[list(MethodKey._fields)].drop_duplicates()
        return sorted(MethodKey(*row) for row in keys.itertuples(index=False))

    def has(self, key: MethodKey, level: str) -> bool:
        return not self._method_rows(key, level).empty

    def splits(self, protocol: str, level: str = "patient", input_: str | None = None) -> list[str]:
        """Split ids of a protocol (of one input: ``official`` has one split per sequence)."""
        frame = self.frames.get(level)
        if frame is None:
            return []
        mask = frame["protocol"] == protocol
        if input_ is not None:
            mask &= frame["input"] == input_
        return sorted(frame.loc[mask, "split_id"].unique())

    def single_test_set(self, protocol: str, input_: str | None = None) -> bool:
        """Whether the protocol scores each input on one test set (bootstrap, McNemar) rather
        than on repeated splits (corrected t)."""
        if (protocol, input_) not in self._single:
            self._single[protocol, input_] = self._one_split_per_input(protocol, input_)
        return self._single[protocol, input_]

    def _one_split_per_input(self, protocol: str, input_: str | None) -> bool:
        frame = self.frames.get("patient", next(iter(self.frames.values()), None))
        if frame is None:
            return False
        part = frame[frame["protocol"] == protocol]
        if input_ is not None:
            part = part[part["input"] == input_]
        counts = part.groupby("input")["split_id"].nunique()
        return bool(len(counts)) and int(counts.max()) == 1

    def n_patients(self, key: MethodKey, level: str = "patient") -> int:
        return int(self._method_rows(key, level)["patient_id"].nunique())

    # ---- internals ------------------------------------------------------------------------------
    def _method_rows(self, key: MethodKey, level: str) -> pd.DataFrame:
        cache_key = (key, level)
        if cache_key not in self._rows:
            frame = self.frames.get(level)
            if frame is None:
                self._rows[cache_key] = pd.DataFrame()
            else:
                self._rows[cache_key] = frame.iloc[self._rows_of(level, frame, list(MethodKey._fields), tuple(key))]
        return self._rows[cache_key]

    def _rows_of(self, name: str, frame: pd.DataFrame, columns: list[str], values: tuple) -> np.ndarray:
        """Positions of ``frame``'s rows whose ``columns`` equal ``values``, in frame order (one
        grouping per frame instead of a comparison of every row per method)."""
        if name not in self._positions:
            self._positions[name] = {
                tuple(k): v for k, v in frame.groupby(columns, sort=False, dropna=False).indices.items()
            }
        return self._positions[name].get(values, np.array([], dtype=np.intp))

    def _bootstrap(self, protocol: str, input_: str, level: str) -> PairedBootstrap:
        """One bootstrap per test set (protocol, input, level): every method on it shares the resamples."""
        cache_key = (protocol, input_, level)
        if cache_key not in self._bootstraps:
            frame = self.frames[level]
            rows = frame.loc[(frame["protocol"] == protocol) & (frame["input"] == input_), ["patient_id", "true_label"]]
            stage = rows.astype({"patient_id": str}).groupby("patient_id")["true_label"].first()
            self._bootstraps[cache_key] = PairedBootstrap(
                list(stage.index), self.labels, self.n_boot, self.seed, strata=stage.astype(int).to_dict()
            )
        return self._bootstraps[cache_key]

    def _statistics(self, key: MethodKey, level: str) -> list[PatientStatistics]:
        cache_key = (key, level)
        if cache_key not in self._stats:
            self._stats[cache_key] = self._bootstrap(key.protocol, key.input, level).statistics(
                self._method_rows(key, level)
            )
        return self._stats[cache_key]

    def _split_rows(self, key: MethodKey, metric: str, level: str) -> pd.DataFrame | None:
        """The method's per-(split, seed) metric rows at ``level``; None without that metric."""
        sm = self.split_metrics
        if sm.empty or metric not in sm:
            return None
        return sm.iloc[self._rows_of("split metrics", sm, [*MethodKey._fields, "level"], (*key, level))]

    def _per_split(self, key: MethodKey, metric: str, level: str) -> pd.Series:
        """The metric per split (seeds averaged within a split, before any t statistic)."""
        rows = self._split_rows(key, metric, level)
        return pd.Series(dtype=float) if rows is None else rows.groupby("split_id")[metric].mean()

    def per_seed(self, key: MethodKey, metric: str, level: str = "patient") -> pd.Series:
        """The metric per seed (splits averaged within a seed): the spread a reader sees next to a
        seeded method's mean; statistics never use it (they average seeds within each split)."""
        rows = self._split_rows(key, metric, level)
        return pd.Series(dtype=float) if rows is None else rows.groupby("seed_index")[metric].mean()

    def seed_spread(self, key: MethodKey, metric: str, level: str = "patient") -> SeedSpread:
        """How many training seeds the method ran with and the SD of ``metric`` over them."""
        values = self.per_seed(key, metric, level).dropna()
        return SeedSpread(len(values), float(values.std(ddof=1)) if len(values) > 1 else float("nan"))

    def _check_metric(self, metric: str) -> None:
        if not supported_metric(metric, self.labels):
            raise KeyError(f"metric {metric!r} is not available for this label set")

    # ---- the two questions ----------------------------------------------------------------------
    def estimate(self, key: MethodKey, metric: str, level: str = "patient") -> Estimate:
        """The metric with its 95 % CI (bootstrap on one test set, corrected t over CV)."""
        cache_key = (key, metric, level)
        if cache_key in self._estimates:
            return self._estimates[cache_key]
        self._check_metric(metric)
        if not self.has(key, level):
            result = Estimate(float("nan"), float("nan"), float("nan"), "none")
        elif self.single_test_set(key.protocol, key.input):
            boot = self._bootstrap(key.protocol, key.input, level)
            stats = self._statistics(key, level)
            result = _interval(boot.point(stats, metric), boot.draws(stats, metric), self.n_boot)
        else:
            per_split = self._per_split(key, metric, level)
            result = corrected_t_ci(
                per_split.to_numpy(), self.test_fraction(key), bounds=metric_bounds(metric, self.labels)
            )
        self._estimates[cache_key] = result
        return result

    def compare(self, a: MethodKey, b: MethodKey, metric: str, level: str = "patient") -> Comparison | None:
        """``a`` against ``b`` (same input and protocol), or None where either has no rows."""
        if (a.input, a.protocol) != (b.input, b.protocol):
            raise ValueError(f"{a} and {b} were not scored on the same test sets")
        self._check_metric(metric)
        if not (self.has(a, level) and self.has(b, level)):
            return None
        estimate_a, estimate_b = self.estimate(a, metric, level), self.estimate(b, metric, level)
        n_patients = int(
            pd.concat([self._method_rows(a, level)["patient_id"], self._method_rows(b, level)["patient_id"]]).nunique()
        )
        if self.single_test_set(a.protocol, a.input):
            boot = self._bootstrap(a.protocol, a.input, level)
            stats_a, stats_b = self._statistics(a, level), self._statistics(b, level)
            draws = boot.draws(stats_a, metric) - boot.draws(stats_b, metric)
            point = boot.point(stats_a, metric) - boot.point(stats_b, metric)
            detectable = detectable_difference_bootstrap(draws)
            one_seed = len(stats_a) == 1 and len(stats_b) == 1
            if metric == "accuracy" and level == "patient" and one_seed:
                only_a, only_b, p = self._mcnemar(a, b)
                low, high = mcnemar_interval(only_a, only_b, n_patients)
                difference, test = Estimate(point, low, high, "exact McNemar"), "exact McNemar"
            else:
                difference, p, test = (
                    _interval(point, draws, self.n_boot),
                    bootstrap_p(point, draws),
                    "paired bootstrap",
                )
            splits = 1
        else:
            per_a, per_b = self._per_split(a, metric, level), self._per_split(b, metric, level)
            common = per_a.index.intersection(per_b.index)
            diffs = per_a[common].to_numpy() - per_b[common].to_numpy()
            fraction = max(self.test_fraction(a), self.test_fraction(b))
            low_bound, high_bound = metric_bounds(metric, self.labels)
            span = high_bound - low_bound
            difference = corrected_t_ci(diffs, fraction, bounds=(-span, span))
            name = f"{a.runner}:{a.variant} vs {b.runner}:{b.variant} ({a.input}, {a.protocol}, {level} {metric})"
            _, p = corrected_paired_t(per_a[common].to_numpy(), per_b[common].to_numpy(), fraction, name=name)
            test, splits = "corrected resampled t", len(common)
            detectable = detectable_difference_t(diffs, fraction)
        return Comparison(
            a,
            b,
            level,
            metric,
            estimate_a,
            estimate_b,
            difference,
            p,
            test,
            n_patients,
            splits,
            detectable,
            self.seed_spread(a, metric, level),
            self.seed_spread(b, metric, level),
        )

    # ---- the same methods on altered test scans (robustness) -----------------------------------
    def _same_test_set(self, keys: list[MethodKey], level: str) -> tuple[bool, PairedBootstrap | None]:
        """Whether ``keys`` (one input; e.g. a protocol and its perturbed points) are scored on one
        test set, and the bootstrap they share (same patients, strata and seed: same resamples)."""
        if len({k.input for k in keys}) != 1:
            raise ValueError(f"{keys} mix inputs")
        single = self.single_test_set(keys[0].protocol, keys[0].input)
        if not single:
            return False, None
        boots = [self._bootstrap(k.protocol, k.input, level) for k in keys]
        if any(b.patients != boots[0].patients for b in boots):
            raise ValueError(f"{keys} were not scored on the same test patients")
        return True, boots[0]

    def contrast(self, terms: list[tuple[float, MethodKey]], metric: str, level: str = "patient") -> Estimate | None:
        """A weighted sum of methods' metrics on the same test patients with its 95 % CI: a
        perturbed point minus its clean protocol (+1, -1), or two methods' degradations against
        each other (+1, -1, -1, +1). Paired bootstrap on one test set (a seeded method keeps its
        seed draws on both sides: the same trained models), corrected t over repeated splits."""
        self._check_metric(metric)
        cache_key = ("contrast", tuple(terms), metric, level)
        if cache_key not in self._altered:
            self._altered[cache_key] = self._contrast(terms, metric, level)
        return self._altered[cache_key]

    def _contrast(self, terms: list[tuple[float, MethodKey]], metric: str, level: str) -> Estimate | None:
        keys = [k for _, k in terms]
        if not all(self.has(k, level) for k in keys):
            return None
        single, boot = self._same_test_set(keys, level)
        if single and boot is not None:
            point = sum(w * boot.point(self._statistics(k, level), metric) for w, k in terms)
            draws = sum(w * boot.draws(self._statistics(k, level), metric) for w, k in terms)
            return _interval(float(point), np.asarray(draws), self.n_boot)
        per = [self._per_split(k, metric, level) for k in keys]
        common = per[0].index
        for series in per[1:]:
            common = common.intersection(series.index)
        values = sum(w * series[common].to_numpy() for (w, _), series in zip(terms, per))
        low_bound, high_bound = metric_bounds(metric, self.labels)
        span = (high_bound - low_bound) * sum(abs(w) for w, _ in terms) / 2
        fraction = max(self.test_fraction(k) for k in keys)
        return corrected_t_ci(np.asarray(values, dtype=float), fraction, bounds=(-span, span))

    def flip_rate(self, clean: MethodKey, altered: MethodKey) -> Estimate | None:
        """The share of test patients whose predicted stage differs between ``clean`` and
        ``altered`` (the same trained models on altered scans), seeds averaged, with its 95 % CI:
        patient (and seed) bootstrap on one test set, corrected t over repeated splits."""
        cache_key = ("flips", clean, altered)
        if cache_key not in self._altered:
            self._altered[cache_key] = self._flip_rate(clean, altered)
        return self._altered[cache_key]

    def _flip_rate(self, clean: MethodKey, altered: MethodKey) -> Estimate | None:
        if not (self.has(clean, "patient") and self.has(altered, "patient")):
            return None
        single, boot = self._same_test_set([clean, altered], "patient")
        if single and boot is not None:
            flips = np.stack(
                [
                    (_by_patient(a) != _by_patient(b)).astype(float)
                    for a, b in zip(self._statistics(clean, "patient"), self._statistics(altered, "patient"))
                ]
            )  # (seeds, patients)
            per_seed = boot.counts @ flips.T / boot.counts.sum(axis=1, keepdims=True)  # (n_boot, seeds)
            weights = boot.seed_weights(len(flips)) if len(flips) > 1 else np.ones((len(per_seed), 1))
            draws = np.sum(per_seed * weights, axis=1) / len(flips)
            return _interval(float(flips.mean()), draws, self.n_boot)
        per_split = _split_flips(self._method_rows(clean, "patient"), self._method_rows(altered, "patient"))
        return corrected_t_ci(per_split, self.test_fraction(clean), bounds=(0.0, 1.0))

    def test_fraction(self, key: MethodKey) -> float:
        """n_test / n_fit of the method's protocol (its runner's own where recorded): the ratio the
        Nadeau-Bengio correction inflates the variance by."""
        fractions = self.test_fractions
        return float(fractions.get((key.protocol, key.runner), fractions.get(key.protocol, 0.25)))

    def _mcnemar(self, a: MethodKey, b: MethodKey) -> tuple[int, int, float]:
        cols = [f"prob_{n}" for n in self.labels.names]
        rows_a, rows_b = self._method_rows(a, "patient"), self._method_rows(b, "patient")
        merged = rows_a.merge(rows_b, on="patient_id", suffixes=("_a", "_b"))
        truth = merged["true_label_a"].to_numpy()
        keys = row_keys(merged)
        correct_a = decide(merged[[f"{c}_a" for c in cols]].to_numpy(), keys) == truth
        correct_b = decide(merged[[f"{c}_b" for c in cols]].to_numpy(), keys) == truth
        return mcnemar_exact(correct_a, correct_b)

    # ---- model choice without test data ---------------------------------------------------------
    @staticmethod
    def validation_scores(valid: pd.DataFrame, labels: LabelSet, metric: str) -> pd.DataFrame:
        """Mean held-out metric per method (patient level; splits and seeds averaged).

        ``valid`` holds every job's model-choice predictions (the validation part, or inner-CV
        out-of-fold predictions) with the method columns; the exploratory block picks each
        family's best method by this, never by a test score.
        """
        from cirrbench.benchmark.reporting.metric_values import patient_level

        if valid.empty:
            return pd.DataFrame(columns=[*MethodKey._fields, "validation"])
        rows = []
        for keys, part in valid.groupby([*MethodKey._fields, "split_id", "seed_index"], sort=True):
            patients = patient_level(part, labels)
            ids = list(patients["patient_id"].astype(str))
            value = PatientStatistics.from_frame(patients, ids, labels).metric(metric, np.ones((1, len(ids))))[
                0
            ]  # equals compute_metrics (tested)
            rows.append({**dict(zip([*MethodKey._fields, "split_id", "seed_index"], keys)), "value": value})
        per_job = pd.DataFrame(rows)
        per_split = per_job.groupby([*MethodKey._fields, "split_id"], sort=True)["value"].mean().reset_index()
        return per_split.groupby(list(MethodKey._fields), sort=True)["value"].mean().rename("validation").reset_index()

"""``cirrbench score``: score anyone's prediction file the way the report scores the suite's own.

A prediction file is a CSV with ``scan_id`` and one probability column per class, named as the
class (``mild``) or with a ``prob_`` prefix (``prob_mild``); the harness's own
``predictions.csv`` qualifies. Every row is checked against the cohort before anything is
computed: an unknown or duplicated scan, a scan of the scored split that is missing, NaN, a
negative probability, a row whose probabilities do not sum to 1 (tolerance 1e-6) or a column
that is not a class is one error naming the row or column, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.benchmark.reporting.metric_registry import available_metrics, metric_display, supported_metric
from cirrbench.benchmark.reporting.metric_values import patient_level
from cirrbench.benchmark.reporting.stats import Estimate
from cirrbench.benchmark.reporting.table_builders import format_difference, p_phrase

__all__ = ["PredictionFileError", "read_prediction_file", "score_file", "side_name", "write_score", "ScoreResult"]

TOLERANCE = 1e-6
#: Columns of the suite's own prediction files that scoring ignores.
HARNESS_COLUMNS = {
    "patient_id",
    "sequence",
    "true_label",
    "pred_label",
    "runner",
    "variant",
    "input",
    "protocol",
    "split_id",
    "seed_index",
    "seed",
    "job_key",
}


class PredictionFileError(ValueError):
    """A prediction file that cannot be scored; the message names the file and the row or column."""


def read_prediction_file(path: str | Path, cohort: Cohort, split: str = "test") -> pd.DataFrame:
    """The file's rows with the cohort's truth joined, after every check.

    Args:
        path: the CSV.
        cohort: the labelled cohort its scan ids refer to.
        split: the cohort's official split the file must cover completely (``test``, ``valid``,
            ``train``), or ``any`` to score whatever scans it holds.

    Returns:
        Rows with ``scan_id, patient_id, sequence, true_label`` and ``prob_<class>`` columns.
    """
    path = Path(path)
    frame = _read_csv(path)
    names = list(cohort.labels.names)
    columns = _probability_columns(path, frame, names)
    line = pd.Series(np.arange(len(frame)) + 2, index=frame.index)  # the CSV line (header = line 1)
    known = cohort.by_scan_id()
    ids = _scan_ids(path, frame, known, cohort.source, line)
    values = _probabilities(path, frame[[columns[n] for n in names]], line)
    if split != "any":
        _check_coverage(path, ids, cohort, known, split)
    records = [known[s] for s in ids]
    out = pd.DataFrame(
        {
            "scan_id": ids.to_numpy(),
            "patient_id": [r.patient_id for r in records],
            "sequence": [r.sequence for r in records],
            "true_label": [r.label for r in records],
        }
    )
    for name in names:
        out[f"prob_{name}"] = values[:, names.index(name)]
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such prediction file")
    try:
        return pd.read_csv(path, dtype={"scan_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PredictionFileError(
            f"{path}: not a readable CSV ({exc}); expected scan_id and one probability column per class"
        ) from None


def _probability_columns(path: Path, frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Class name -> its column (``mild`` or ``prob_mild``); every other column must be the harness's."""
    expected = ", ".join(names)
    if "scan_id" not in frame.columns:
        raise PredictionFileError(
            f"{path}: no scan_id column; expected scan_id and one probability column per class ({expected}, optionally prob_-prefixed)"
        )
    columns = {}
    for name in names:
        for candidate in (f"prob_{name}", name):
            if candidate in frame.columns:
                columns[name] = candidate
                break
        else:
            raise PredictionFileError(
                f"{path}: no probability column for class {name!r}; expected columns {expected} (or prob_{names[0]}, ...)"
            )
    unknown = [c for c in frame.columns if c not in {"scan_id", *columns.values(), *HARNESS_COLUMNS}]
    if unknown:
        raise PredictionFileError(
            f"{path}: column {unknown[0]!r} is not a class of this cohort ({expected}); remove it or rename it to a class name"
        )
    return columns


def _scan_ids(path: Path, frame: pd.DataFrame, known: dict, source: object, line: pd.Series) -> pd.Series:
    """The stripped scan ids: none empty, none twice, every one in the cohort (``known``: by scan id)."""
    ids = frame["scan_id"].astype(str).str.strip()
    if ids.isna().any() or (ids == "").any() or (ids == "nan").any():
        row = int(line[(ids == "") | (ids == "nan") | ids.isna()].iloc[0])
        raise PredictionFileError(f"{path}: line {row}: empty scan_id")
    duplicated = ids[ids.duplicated(keep=False)]
    if len(duplicated):
        first = duplicated.iloc[0]
        raise PredictionFileError(
            f"{path}: scan {first!r} appears on lines {', '.join(str(int(x)) for x in line[ids == first])}; one row per scan"
        )
    for index, scan_id in ids.items():
        if scan_id not in known:
            raise PredictionFileError(
                f"{path}: line {int(line[index])}: scan {scan_id!r} is not in the cohort {source}"
            )
    return ids


def _probabilities(path: Path, columns: pd.DataFrame, line: pd.Series) -> np.ndarray:
    """The probability columns as numbers: none missing or negative, each row summing to 1."""
    probabilities = columns.apply(pd.to_numeric, errors="coerce")
    for column in probabilities.columns:
        bad = probabilities[column].isna()
        if bad.any():
            raise PredictionFileError(f"{path}: line {int(line[bad.idxmax()])}: {column} is empty, NaN or not a number")
    values = probabilities.to_numpy(dtype=float)
    negative = (values < 0).any(axis=1)
    if negative.any():
        raise PredictionFileError(f"{path}: line {int(line.iloc[int(np.argmax(negative))])}: a negative probability")
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > TOLERANCE
    if off.any():
        index = int(np.argmax(off))
        raise PredictionFileError(
            f"{path}: line {int(line.iloc[index])}: probabilities sum to {sums[index]:.9g}, not 1 (tolerance {TOLERANCE:g}); normalise each row"
        )
    return values


def _check_coverage(path: Path, ids: pd.Series, cohort: Cohort, known: dict, split: str) -> None:
    """Every scan of the official ``split`` (of the sequences the file covers) is predicted."""
    sequences = {known[s].sequence for s in ids}
    wanted = {r.scan_id for r in cohort.records if r.official_split == split and r.sequence in sequences}
    missing = sorted(wanted - set(ids))
    if missing:
        raise PredictionFileError(
            f"{path}: {len(missing)} scan(s) of the cohort's {split} split are missing (first: {', '.join(missing[:5])}); predict every one, or pass --split any"
        )


@dataclass
class ScoreResult:
    table: pd.DataFrame  # metric, value, low, high (and for --compare: b, difference, p)
    text: str


def _rows(frame: pd.DataFrame, cohort: Cohort, level: str, runner: str) -> pd.DataFrame:
    rows = patient_level(frame, cohort.labels) if level == "patient" else frame.copy()
    for column, value in (
        ("runner", runner),
        ("variant", "default"),
        ("input", "file"),
        ("protocol", "score"),
        ("split_id", "score"),
        ("seed_index", 0),
    ):
        rows[column] = value
    return rows


def score_file(
    path: str | Path,
    cohort: Cohort,
    level: str = "patient",
    compare: str | Path | None = None,
    split: str = "test",
    n_boot: int = 2000,
    seed: int = 0,
    names: tuple[str, ...] = (),
) -> ScoreResult:
    """Every metric with its 95 % CI (patient-level bootstrap); with ``compare``, the paired
    difference to a second file on the same scans, its CI and p (exact McNemar for accuracy at
    patient level, the paired bootstrap otherwise). ``names``: what to call the two files (by
    default the job label of a suite's own file, else the path)."""
    if level not in ("patient", "scan"):
        raise PredictionFileError(f"--level must be patient or scan, got {level!r}")
    frame = read_prediction_file(path, cohort, split)
    frames = [_rows(frame, cohort, level, "a")]
    if compare is not None:
        other = read_prediction_file(compare, cohort, split)
        if set(other["scan_id"]) != set(frame["scan_id"]):
            only = sorted(set(frame["scan_id"]) ^ set(other["scan_id"]))
            raise PredictionFileError(
                f"{compare}: a paired comparison needs the same scans as {path}; {len(only)} differ (first: {', '.join(only[:5])})"
            )
        frames.append(_rows(other, cohort, level, "b"))
    rows = pd.concat(frames, ignore_index=True)
    evaluation = Evaluation({level: rows}, pd.DataFrame(), cohort.labels, {}, n_boot, seed)
    a, b = MethodKey("a", "default", "file", "score"), MethodKey("b", "default", "file", "score")
    table = []
    for metric in (m for m in available_metrics() if supported_metric(m, cohort.labels)):  # plugins' too
        row = {
            "metric": metric,
            **{k: v for k, v in dataclasses.asdict(evaluation.estimate(a, metric, level)).items() if k != "method"},
        }
        if compare is not None:
            c = evaluation.compare(
                a, b, metric, level
            )  # McNemar only at patient level: a patient's scans are not independent
            if c is None:
                raise PredictionFileError(f"{compare}: no {level}-level rows in common with {path} to compare")
            row.update(
                {
                    "b_value": c.b_estimate.value,
                    "b_low": c.b_estimate.low,
                    "b_high": c.b_estimate.high,
                    "difference": c.difference.value,
                    "difference_low": c.difference.low,
                    "difference_high": c.difference.high,
                    "test": c.test,
                    "p": c.p,
                }
            )
        table.append(row)
    defaults = (side_name(path), side_name(compare) if compare is not None else "")
    first, second = (*names, *defaults[len(names) :])[:2]
    return ScoreResult(pd.DataFrame(table), _text(table, frame, path, compare, (first, second), level, n_boot, seed))


def side_name(path: str | Path) -> str:
    """A file's name in the output: the job label of the suite's own ``predictions.csv`` (its
    ``job.json`` lies beside it; the folder is only a hash), else the path as given."""
    record = Path(path).with_name("job.json")
    try:
        return str(json.loads(record.read_text())["label"])
    except (OSError, ValueError, KeyError, TypeError):
        return str(path)


def _text(
    table: list[dict],
    frame: pd.DataFrame,
    path: str | Path,
    compare: str | Path | None,
    names: tuple[str, str],
    level: str,
    n_boot: int,
    seed: int,
) -> str:
    n_patients = frame["patient_id"].nunique()
    lines = [
        f"{names[0]} ({path})" if names[0] != str(path) else str(path),
        f"  {len(frame)} scans, {n_patients} patients; {level} level; 95 % CI: patient-level bootstrap stratified by stage ({n_boot} resamples, seed {seed}, bias-corrected percentile)",
    ]
    if compare is not None:
        shown = f"{names[1]} ({compare})" if names[1] != str(compare) else str(compare)
        lines.append(f"compared with {shown} (difference = first minus second, paired on the same patients)")
    width = max(len(metric_display(row["metric"])) for row in table) if table else 0
    cells = [Estimate(row["value"], row["low"], row["high"], "bootstrap").format() for row in table]
    value_width = max([*map(len, cells), len(names[0]) if compare is not None else 0])
    if compare is not None:  # a header naming the two columns of values
        lines.append(f"  {'':{width}s}  {names[0]:{value_width}s}      {names[1]}")
    for row, cell in zip(table, cells):
        text = f"  {metric_display(row['metric']):{width}s}  {cell:{value_width}s}"
        if compare is not None:
            difference = Estimate(row["difference"], row["difference_low"], row["difference_high"], "bootstrap")
            text += f"   vs {Estimate(row['b_value'], row['b_low'], row['b_high'], 'bootstrap').format()}   Δ {format_difference(difference)}   {row['test']} {p_phrase(row['p'])}"
        lines.append(text)
    return "\n".join(lines)


def write_score(result: ScoreResult, out: str | Path) -> list[Path]:
    out = Path(out)
    return [
        atomic_write_text(out / "score.csv", result.table.to_csv(index=False)),
        atomic_write_text(out / "score.txt", result.text + "\n"),
    ]

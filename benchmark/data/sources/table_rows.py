"""The row checks a manifest and a feature table share: ids, sequences, splits, ages, labels.

Every problem is reported with its line, so a CSV is fixed in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.data.cohort import ScanRecord
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.data.layout import OFFICIAL_SPLITS, SEQUENCES
from cirrbench.benchmark.data.problems import CohortError, Problem

__all__ = ["TableRows", "check_table_rows"]


@dataclass
class TableRows:
    """Checked rows of a manifest or feature table: one entry per usable row, in file order."""

    labels: LabelSet
    lines: list[int]
    scan_ids: list[str]
    patients: list[str]
    sequences: list[str]
    classes: list[int]
    splits: list[str | None]
    ages: list[float | None]
    sexes: list[str | None]
    sites: list[str | None]

    def record(self, i: int, image: Path | None = None, mask: Path | None = None) -> ScanRecord:
        """Row ``i`` as a scan record (a feature table's records have no image or mask)."""
        return ScanRecord(
            scan_id=self.scan_ids[i],
            patient_id=self.patients[i],
            sequence=self.sequences[i],
            label=self.classes[i],
            label_name=self.labels.name(self.classes[i]),
            official_split=self.splits[i],
            image=image,
            mask=mask,
            age=self.ages[i],
            sex=self.sexes[i],
            site=self.sites[i],
        )


def check_table_rows(
    frame: pd.DataFrame, path: Path, check: str, labels: Sequence[str] | None = None, ordinal: bool | None = None
) -> TableRows:
    """Every row-level value of a manifest or feature table, checked at once.

    A value the suite would otherwise drop, guess or misread (an empty id, a sequence other than
    T1W/T2W, a split other than train/valid/test, an age that is not a number, a label outside the
    label set, a patient with two labels, a scan listed twice) is a :class:`CohortError` listing
    every such row with its line number; nothing is silently skipped.
    """
    from cirrbench.benchmark.data.labels import resolve_labels

    lines = list(range(2, len(frame) + 2))
    scan_ids, patients, sequences = _cells(frame, "scan_id"), _cells(frame, "patient_id"), _cells(frame, "sequence")
    splits, sexes = _cells(frame, "split"), _cells(frame, "sex")
    found = _empty_cells(lines, {"scan_id": scan_ids, "patient_id": patients, "sequence": sequences})
    found += _vocabulary_problems(lines, sequences, splits)
    ages, age_problems = _ages(lines, _cells(frame, "age"))
    found += age_problems
    label_set, classes, issues = resolve_labels(_cells(frame, "label"), lines, labels, ordinal)
    found += [
        (
            f"{issue.where()}: {issue.message}" if issue.lines else issue.message,
            "fix the labels, or declare the label set with --labels / data: {labels: [...]}",
        )
        for issue in issues
    ]
    found += _duplicate_scans(lines, scan_ids)
    if label_set is not None:
        found += _label_problems(lines, patients, classes, label_set)
    if found:
        raise CohortError([Problem(check, path, message, fix) for message, fix in found], f"cannot use {path}")
    assert label_set is not None
    canonical_sequences = {seq.casefold(): seq for seq in SEQUENCES}
    return TableRows(
        labels=label_set,
        lines=lines,
        scan_ids=scan_ids,
        patients=patients,
        sequences=[canonical_sequences[v.casefold()] for v in sequences],
        classes=[int(c) for c in classes],  # type: ignore[arg-type]
        splits=[v.casefold() if v else None for v in splits],
        ages=ages,
        sexes=[v.upper()[:1] if v else None for v in sexes],
        sites=[v or None for v in _cells(frame, "site")],
    )


def _cells(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as whitespace-normalised text ('' for empty cells or an absent column)."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [
        "" if (v is None or (isinstance(v, float) and np.isnan(v))) else " ".join(str(v).split()) for v in frame[column]
    ]


def _empty_cells(lines: list[int], columns: dict[str, list[str]]) -> list[tuple[str, str]]:
    found = []
    for column, values in columns.items():
        empty = [line for line, v in zip(lines, values) if not v]
        if empty:
            found.append(
                (
                    f"line{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty[:8]))}: empty {column}",
                    f"fill {column} on every row",
                )
            )
    return found


def _vocabulary_problems(lines: list[int], sequences: list[str], splits: list[str]) -> list[tuple[str, str]]:
    """Sequences other than T1W/T2W and splits other than train/valid/test (case aside)."""
    found = []
    canonical_sequences = {seq.casefold() for seq in SEQUENCES}
    for line, value in zip(lines, sequences):
        if value and value.casefold() not in canonical_sequences:
            found.append((f"line {line}: sequence {value!r} is not T1W or T2W", "write T1W or T2W"))
    for line, value in zip(lines, splits):
        if value and value.casefold() not in OFFICIAL_SPLITS:
            found.append(
                (
                    f"line {line}: split {value!r} is not train, valid or test",
                    "use train, valid or test, or leave it empty",
                )
            )
    return found


def _ages(lines: list[int], values: list[str]) -> tuple[list[float | None], list[tuple[str, str]]]:
    ages: list[float | None] = []
    found = []
    for line, value in zip(lines, values):
        try:
            age = float(value) if value else None
            if age is not None and not np.isfinite(age):
                raise ValueError
        except ValueError:
            found.append((f"line {line}: age {value!r} is not a number", "write the age in years, or leave it empty"))
            age = None
        ages.append(age)
    return ages, found


def _duplicate_scans(lines: list[int], scan_ids: list[str]) -> list[tuple[str, str]]:
    by_scan: dict[str, list[int]] = {}
    for line, scan_id in zip(lines, scan_ids):
        if scan_id:
            by_scan.setdefault(scan_id, []).append(line)
    return [
        (f"scan_id {scan_id!r} appears on lines {', '.join(map(str, where))}", "keep one row per scan")
        for scan_id, where in by_scan.items()
        if len(where) > 1
    ]


def _label_problems(lines: list[int], patients: list[str], classes: list, label_set) -> list[tuple[str, str]]:
    """A patient with two labels (the stage is per patient), or one class in the whole table."""
    found = []
    by_patient: dict[str, dict[int, int]] = {}
    for line, pid, cls in zip(lines, patients, classes):
        if pid and cls is not None:
            by_patient.setdefault(pid, {}).setdefault(cls, line)
    for pid, seen in by_patient.items():
        if len(seen) > 1:
            shown = ", ".join(
                f"{label_set.name(c)} on line {line}" for c, line in sorted(seen.items(), key=lambda item: item[1])
            )
            found.append(
                (
                    f"patient {pid} has two labels ({shown})",
                    "the stage is per patient: give all of a patient's scans the same label",
                )
            )
    used = {c for c in classes if c is not None}
    if len(used) < 2:
        found.append(
            (
                f"only one class ({', '.join(label_set.name(c) for c in used) or 'none'}) in the whole table",
                "a benchmark needs at least two classes",
            )
        )
    return found

"""The manifest source: any labelled cohort as a CSV with one row per scan (image, mask, label)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.data.cohort import Cohort, ScanRecord
from cirrbench.benchmark.data.problems import CohortError, Problem, require_columns
from cirrbench.benchmark.data.sources.table_rows import check_table_rows

__all__ = ["MANIFEST_OPTIONAL", "MANIFEST_REQUIRED", "load_manifest", "write_manifest"]

MANIFEST_REQUIRED = ("scan_id", "patient_id", "sequence", "label", "image", "mask")
MANIFEST_OPTIONAL = ("split", "age", "sex", "site")


def load_manifest(
    path: str | Path,
    labels: Sequence[str] | None = None,
    ordinal: bool | None = None,
    strict: bool = False,
) -> Cohort:
    """Index any labelled cohort from a CSV (one row per scan); relative paths are relative to the CSV.

    ``label`` holds class names, compared case- and whitespace-insensitively. Their order and
    ordinality come from ``labels``/``ordinal`` when given; otherwise a subset of
    mild/moderate/severe gives the cirrhosis stages (ordinal) and any other set of names is taken
    in sorted order as nominal (numeric labels must be declared). Every row is checked
    (:func:`check_table_rows`); a file named in a row that does not exist is a ``missing-file``
    problem and the row is left out.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [c.strip() for c in frame.columns]
    require_columns(
        frame.columns,
        MANIFEST_REQUIRED,
        path,
        "manifest-columns",
        f"required: {', '.join(MANIFEST_REQUIRED)}; optional: {', '.join(MANIFEST_OPTIONAL)}",
    )
    for column in ("image", "mask"):
        empty = [str(i + 2) for i, v in enumerate(frame[column]) if not str(v).strip()]
        if empty:
            raise CohortError(
                [
                    Problem(
                        "manifest-value",
                        path,
                        f"line{'s' if len(empty) > 1 else ''} {', '.join(empty[:8])}: empty {column}",
                        f"give every scan its {column} file",
                    )
                ],
                f"cannot use {path}",
            )
    rows = check_table_rows(frame, path, "manifest-value", labels, ordinal)
    problems: list[Problem] = []
    records: list[ScanRecord] = []
    for i, line in enumerate(rows.lines):
        image_text, mask_text = str(frame["image"].iloc[i]).strip(), str(frame["mask"].iloc[i]).strip()
        image = Path(image_text) if Path(image_text).is_absolute() else (path.parent / image_text).resolve()
        mask = Path(mask_text) if Path(mask_text).is_absolute() else (path.parent / mask_text).resolve()
        absent = [p for p in (image, mask) if not p.is_file()]
        for p in absent:
            problems.append(
                Problem(
                    "missing-file",
                    p,
                    f"named on line {line} of {path.name} but does not exist",
                    "fix the path (relative paths are relative to the manifest)",
                )
            )
        if absent:
            continue
        records.append(rows.record(i, image, mask))
    if strict and problems:
        raise CohortError(problems, f"cannot index {path}")
    if not records:
        raise CohortError(problems, f"no usable scan in {path}")
    return Cohort(tuple(records), rows.labels, source=str(path), problems=tuple(problems))


def write_manifest(cohort: Cohort, path: str | Path) -> Path:
    """Write a cohort as a manifest CSV with absolute paths (it works from any folder), e.g. to
    benchmark a subset elsewhere."""
    frame = cohort.to_frame()
    for column in ("image", "mask"):
        frame[column] = [str(Path(p).resolve()) if p else "" for p in frame[column]]
    out = frame.drop(columns=["label"]).rename(columns={"label_name": "label", "official_split": "split"})[
        ["scan_id", "patient_id", "sequence", "label", "image", "mask", "split", "age", "sex", "site"]
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return path

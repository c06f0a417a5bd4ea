"""Feature-table cohorts: benchmark radiomics features computed elsewhere, without images.

A suite feature table is a CSV with one row per scan: ``scan_id, patient_id, sequence, label``,
optionally ``split, age, sex``, and every other column a numeric feature. ``cirrbench features
import`` makes one from PyRadiomics batch output joined to the dataset's metadata CSV.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.data.layout import OFFICIAL_SPLITS, SEQUENCE_FOLDERS
from cirrbench.benchmark.data.metadata import read_metadata_csv
from cirrbench.benchmark.data.problems import CohortError, Problem, require_columns
from cirrbench.benchmark.data.sources.table_rows import check_table_rows

__all__ = ["feature_columns", "import_pyradiomics_batch", "load_feature_table", "META_COLUMNS", "REQUIRED"]

META_COLUMNS = ("scan_id", "patient_id", "sequence", "label", "split", "age", "sex", "site")
REQUIRED = ("scan_id", "patient_id", "sequence", "label")


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in META_COLUMNS]


def load_feature_table(path: str | Path, labels: Sequence[str] | None = None, ordinal: bool | None = None) -> Cohort:
    """A cohort whose records carry no images and whose ``features`` hold the table's features.

    Rows are checked as a manifest's are (:func:`cirrbench.benchmark.data.sources.table_rows.check_table_rows`): labels
    case-insensitively, sequence, split, age, one label per patient, one row per scan.
    """
    path = Path(path).expanduser()
    frame = pd.read_csv(
        path,
        dtype={
            "scan_id": str,
            "patient_id": str,
            "sequence": str,
            "label": str,
            "split": str,
            "sex": str,
            "age": str,
            "site": str,
        },
        keep_default_na=True,
        encoding="utf-8-sig",
    )
    frame.columns = [c.strip() for c in frame.columns]
    require_columns(
        frame.columns,
        REQUIRED,
        path,
        "feature-table",
        f"a feature table needs {', '.join(REQUIRED)} (optional: split, age, sex, site) and feature columns",
    )
    problems: list[Problem] = []
    features = frame[feature_columns(frame)]
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        problems.append(
            Problem(
                "feature-table",
                path,
                f"non-numeric feature column(s) {non_numeric[:5]}",
                "drop them or move them out of the table (diagnostics columns are not features)",
            )
        )
    if not len(features.columns):
        problems.append(Problem("feature-table", path, "no feature column", "add the feature columns"))
    numeric = features[[c for c in features.columns if c not in non_numeric]]
    infinite = np.isinf(numeric.to_numpy(dtype=float))
    for row, column in zip(*np.nonzero(infinite)):
        problems.append(
            Problem(
                "feature-table",
                path,
                f"line {row + 2}: infinite value in feature {numeric.columns[column]!r}",
                "replace it, or leave the cell empty: a missing value is imputed with the training part's median",
            )
        )
    if problems:
        raise CohortError(problems, f"cannot use the feature table {path}")
    rows = check_table_rows(frame, path, "feature-table", labels, ordinal)
    records = [rows.record(i) for i in range(len(rows.lines))]
    table = features.astype(float)
    table.index = pd.Index(rows.scan_ids, name="scan_id")
    return Cohort(tuple(records), rows.labels, source=str(path), features=table)


_SEQUENCE_FROM_FOLDER = {folder: seq for seq, folder in SEQUENCE_FOLDERS.items()}


def _infer_from_path(image: str) -> tuple[str | None, str | None, str | None]:
    """(patient id, sequence, official split) from a CirrMRI600+ image path, where recognisable."""
    parts = Path(image).parts
    name = Path(image).name
    stem = re.sub(r"\.nii(\.gz)?$", "", name)
    sequence = next((_SEQUENCE_FROM_FOLDER[p] for p in parts if p in _SEQUENCE_FROM_FOLDER), None)
    split = next(
        (p[: -len("_images")] for p in parts if p.endswith("_images") and p[: -len("_images")] in OFFICIAL_SPLITS), None
    )
    return (str(int(stem)) if stem.isdigit() else None), sequence, split


def import_pyradiomics_batch(
    batch_csv: str | Path,
    metadata_csv: str | Path,
    out: str | Path,
    id_column: str | None = None,
    sequence: str | None = None,
    image_column: str = "Image",
) -> Path:
    """Turn PyRadiomics batch output into a suite feature table joined to a CirrMRI600+ metadata CSV.

    The patient id comes from ``id_column`` when given, else from the image file name; the
    sequence from ``sequence`` when given, else from the ``Cirrhosis_T1_3D``/``T2`` folder in the
    image path; the official split from a ``train_images``-style folder in the path, if any.
    Diagnostics columns and the input columns are dropped; every ``original_``/``log-``/
    ``wavelet-``/... feature column is kept as PyRadiomics named it.
    """
    batch_csv, metadata_csv, out = Path(batch_csv), Path(metadata_csv), Path(out)
    batch = pd.read_csv(batch_csv, encoding="utf-8-sig")
    rows, problems = read_metadata_csv(metadata_csv)
    if problems:
        raise CohortError(problems, f"cannot use {metadata_csv}")
    if id_column is None and image_column not in batch.columns:
        raise ValueError(f"{batch_csv}: no {image_column!r} column to infer patient ids from; pass --id-column")
    feature_cols = [
        c
        for c in batch.columns
        if not c.startswith("diagnostics_")
        and c not in {image_column, "Mask", id_column}
        and pd.api.types.is_numeric_dtype(batch[c])
    ]
    records = []
    for index, row in batch.iterrows():
        inferred_pid, inferred_seq, split = (
            _infer_from_path(str(row[image_column])) if image_column in batch.columns else (None, None, None)
        )
        pid = str(int(row[id_column])) if id_column is not None else inferred_pid
        seq = sequence or inferred_seq
        if pid is None or seq is None:
            raise ValueError(
                f"{batch_csv} row {index + 2}: cannot tell the patient id or sequence; pass --id-column and --sequence"
            )
        meta = rows.get(pid)
        if meta is None:
            raise ValueError(f"{batch_csv} row {index + 2}: patient {pid} is not in {metadata_csv}")
        names = ("mild", "moderate", "severe")
        records.append(
            {
                "scan_id": f"{seq}-{pid}",
                "patient_id": pid,
                "sequence": seq,
                "label": names[meta.stage_index()],
                "split": split or "",
                "age": meta.age,
                "sex": meta.sex or "",
                "site": meta.site or "",
            }
        )
    table = pd.concat([pd.DataFrame(records), batch[feature_cols].reset_index(drop=True)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return out

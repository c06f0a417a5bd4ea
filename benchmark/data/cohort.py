"""The cohort index: one record per scan, from a CirrMRI600+ root or from a manifest CSV.

Everything downstream (validation, splits, runners, metrics) sees only :class:`Cohort` and its
:class:`ScanRecord` rows, never the folder layout, so any labelled cohort can be benchmarked.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES, STAGES_WITH_HEALTHY, LabelSet
from cirrbench.benchmark.data.layout import OFFICIAL_SPLITS, SEQUENCES, CirrMRILayout, discover
from cirrbench.benchmark.data.metadata import PatientRow, read_metadata_csv
from cirrbench.benchmark.data.problems import FATAL_FOR_SCAN, CohortError, Problem, require_columns

HEALTHY_PREFIX = "H"  # healthy volunteer IDs overlap patient IDs; they are kept apart by a prefix


@dataclass(frozen=True)
class ScanRecord:
    """One scan of one patient. ``label`` indexes the cohort's :class:`LabelSet`."""

    scan_id: str
    patient_id: str
    sequence: str
    label: int
    label_name: str
    official_split: str | None
    image: Path | None  # None in a feature-table cohort (features computed elsewhere)
    mask: Path | None
    age: float | None = None
    sex: str | None = None
    site: str | None = None  # acquisition centre, where the cohort says (harmonisation across sites)

    def files(self) -> tuple[Path, Path]:
        """The image and mask paths of an image cohort's scan (a feature-table scan has none)."""
        if self.image is None or self.mask is None:
            raise ValueError(f"scan {self.scan_id} has no image files (a feature-table cohort)")
        return self.image, self.mask


INDEX_COLUMNS = [f for f in ScanRecord.__dataclass_fields__]


@dataclass(frozen=True)
class Cohort:
    """An immutable, ordered index of scans plus the label set they use.

    ``features`` is set for a feature-table cohort (radiomics computed elsewhere): one row per
    scan id, feature columns only. Image cohorts have no table: runners read the images.
    """

    records: tuple[ScanRecord, ...]
    labels: LabelSet
    source: str
    problems: tuple[Problem, ...] = ()
    features: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = [r.scan_id for r in self.records]
        if len(ids) != len(set(ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate scan ids in cohort {self.source}: {dupes[:5]}")

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def sequences(self) -> tuple[str, ...]:
        present = {r.sequence for r in self.records}
        return tuple(s for s in SEQUENCES if s in present) + tuple(sorted(present - set(SEQUENCES)))

    @property
    def patients(self) -> tuple[str, ...]:
        return tuple(sorted({r.patient_id for r in self.records}, key=natural_key))

    def by_scan_id(self) -> dict[str, ScanRecord]:
        return {r.scan_id: r for r in self.records}

    def select(self, sequences: Iterable[str] | None = None, patients: Iterable[str] | None = None) -> Cohort:
        """A sub-cohort, keeping order, label set and source."""
        seqs = set(sequences) if sequences is not None else None
        pats = set(patients) if patients is not None else None
        kept = tuple(
            r for r in self.records if (seqs is None or r.sequence in seqs) and (pats is None or r.patient_id in pats)
        )
        features = self.features.loc[[r.scan_id for r in kept]] if self.features is not None else None
        return replace(self, records=kept, features=features)

    def paired_patients(self) -> tuple[str, ...]:
        """Patients that have a scan of every sequence present in the cohort."""
        seqs_by_patient: dict[str, set[str]] = {}
        for r in self.records:
            seqs_by_patient.setdefault(r.patient_id, set()).add(r.sequence)
        wanted = set(self.sequences)
        return tuple(p for p in self.patients if seqs_by_patient[p] >= wanted)

    def to_frame(self) -> pd.DataFrame:
        rows = [asdict(r) for r in self.records]
        frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
        frame["image"] = frame["image"].map(lambda p: str(p) if p is not None else "")
        frame["mask"] = frame["mask"].map(lambda p: str(p) if p is not None else "")
        return frame

    def fingerprint(self) -> str:
        """A hash of the index and of each file's size and modification time.

        It changes when a label, split or file changes; it does not read image content (that is
        what :mod:`benchmark.validate` does), so computing it is instant even for the full cohort.
        """
        digest = hashlib.sha256()
        digest.update(json.dumps(self.labels.to_dict(), sort_keys=True).encode())
        for r in self.records:
            stats: list[tuple[int, int] | None] = []
            for path in (r.image, r.mask):
                try:
                    st = path.stat()  # type: ignore[union-attr]
                    stats.append((st.st_size, st.st_mtime_ns))
                except (OSError, AttributeError):
                    stats.append(None)
            row = [
                r.scan_id,
                r.patient_id,
                r.sequence,
                r.label,
                r.official_split,
                r.age,
                r.sex,
                path_key(r.image),
                path_key(r.mask),
                stats,
            ]
            if r.site is not None:  # cohorts without sites keep the fingerprints they always had
                row.append(r.site)
            digest.update(json.dumps(row, default=str).encode())
        if self.features is not None:
            digest.update(pd.util.hash_pandas_object(self.features, index=True).to_numpy().tobytes())
            digest.update(json.dumps(list(self.features.columns)).encode())
        return digest.hexdigest()[:16]


def path_key(path: Path | None) -> str:
    """The last three path parts: stable when a cohort folder is moved, distinct within it."""
    return "/".join(Path(path).parts[-3:]) if path is not None else ""


# --------------------------------------------------------------------------------------------
# CirrMRI600+ root
# --------------------------------------------------------------------------------------------


def _stage_conflicts(
    csv: Path, rows: dict[str, PatientRow], other_csv: Path, other_rows: dict[str, PatientRow]
) -> list[Problem]:
    """Patients whose stage differs between two metadata CSVs (the stage is per patient)."""
    return [
        Problem(
            "stage-conflict",
            csv,
            f"patient {pid} has stage {row.stage_code} here but {other_rows[pid].stage_code} in {other_csv.name}",
            "the stage is per patient: make both files agree",
        )
        for pid, row in rows.items()
        if pid in other_rows and other_rows[pid].stage_code != row.stage_code
    ]


def index_cirrmri(
    layout: CirrMRILayout, include_healthy: bool = False
) -> tuple[list[ScanRecord], list[Problem], LabelSet]:
    """Build records from a discovered layout; every structural problem is collected, none raised."""
    problems: list[Problem] = []
    labels = STAGES_WITH_HEALTHY if include_healthy else CIRRHOSIS_STAGES
    stage_offset = 1 if include_healthy else 0

    if all(files.folder is None for files in layout.sequences.values()):
        problems.append(
            Problem(
                "missing-folder",
                layout.root,
                "neither Cirrhosis_T1_3D/ nor Cirrhosis_T2_3D/ was found",
                "pass the folder into which the CirrMRI600+ archives were unzipped",
            )
        )

    complete_rows, rows_by_sequence = _metadata_rows(layout, problems)
    if layout.metadata_dir is None:
        problems.append(
            Problem(
                "metadata-missing",
                layout.root,
                "no metadata CSV found in Metadata/ or at the root",
                "unzip the metadata archive next to the image folders (it holds T1_age_gender_evaluation.csv, ...)",
            )
        )

    records: list[ScanRecord] = []
    seen: dict[tuple[str, str], Path] = {}
    for sequence, files in layout.sequences.items():
        if files.folder is None:
            continue
        problems += _unrecognised(files)
        for split in OFFICIAL_SPLITS:
            images, masks = files.images[split], files.masks[split]
            problems += _missing_folders(files, split)
            for stem in sorted(set(images) | set(masks), key=natural_key):
                image, mask = images.get(stem), masks.get(stem)
                if (unpaired := _pair_problem(stem, image, mask, files.folder.name, split)) is not None:
                    problems.append(unpaired)
                    continue
                assert image is not None and mask is not None
                pid = str(int(stem))
                if (sequence, pid) in seen:
                    problems.append(
                        Problem(
                            "duplicate-scan",
                            image,
                            f"patient {pid} also has a {sequence} scan at {seen[(sequence, pid)]}",
                            "keep the scan in one split folder only",
                        )
                    )
                    continue
                seen[(sequence, pid)] = image
                row = rows_by_sequence[sequence].get(pid) or complete_rows.get(pid)
                if row is None:
                    problems.append(
                        Problem(
                            "no-metadata",
                            image,
                            f"patient {pid} has no row in the {sequence} metadata CSV",
                            "add the patient's row (Patient ID,Age,Gender,Radiological Evaluation)",
                        )
                    )
                    continue
                label = row.stage_index() + stage_offset
                records.append(_scan_record(sequence, pid, split, image, mask, row, label, labels.name(label)))

    if include_healthy:
        records.extend(_index_healthy(layout, problems))
    return records, problems, labels


def _scan_record(
    sequence: str, pid: str, split: str, image: Path, mask: Path, row: PatientRow, label: int, label_name: str
) -> ScanRecord:
    return ScanRecord(
        scan_id=f"{sequence}-{pid}",
        patient_id=pid,
        sequence=sequence,
        label=label,
        label_name=label_name,
        official_split=split,
        image=image,
        mask=mask,
        age=row.age,
        sex=row.sex,
        site=row.site,
    )


def _unrecognised(files) -> list[Problem]:
    """Files in a sequence folder that are not volumes."""
    return [
        Problem(
            "unrecognised-file",
            path,
            "not a .nii.gz or .nii volume, so it is not part of the cohort",
            "rename it to <PatientID>.nii.gz (lower-case suffix) if it is a scan, or move it out of the folder",
        )
        for path in files.unrecognised
    ]


def _missing_folders(files, split: str) -> list[Problem]:
    return [
        Problem(
            "missing-folder",
            files.folder / f"{split}_{kind}",
            "folder not found",
            "check that the archive was fully unzipped",
        )
        for kind in ("images", "masks")
        if not (files.folder / f"{split}_{kind}").is_dir()
    ]


def _metadata_rows(
    layout: CirrMRILayout, problems: list[Problem]
) -> tuple[dict[str, PatientRow], dict[str, dict[str, PatientRow]]]:
    """The complete CSV's rows and each sequence's (its own CSV where present, else the complete
    one), with every reading problem and stage conflict between them added to ``problems``."""
    complete_rows: dict[str, PatientRow] = {}
    if layout.complete_csv is not None:
        complete_rows, found = read_metadata_csv(layout.complete_csv)
        problems.extend(found)
    rows_by_sequence: dict[str, dict[str, PatientRow]] = {}
    for sequence in SEQUENCES:
        csv = layout.sequence_csv(sequence)
        if csv is None:
            rows_by_sequence[sequence] = complete_rows
            continue
        rows, found = read_metadata_csv(csv)
        problems.extend(found)
        rows_by_sequence[sequence] = rows
        t1w_csv = layout.sequence_csv("T1W")
        if sequence == "T2W" and t1w_csv is not None:
            problems += _stage_conflicts(csv, rows, t1w_csv, rows_by_sequence.get("T1W", {}))
        if layout.complete_csv is not None:
            problems += _stage_conflicts(csv, rows, layout.complete_csv, complete_rows)
    return complete_rows, rows_by_sequence


def _pair_problem(stem: str, image: Path | None, mask: Path | None, folder: str, split: str) -> Problem | None:
    """Why an image/mask pair cannot be a scan: a name that is not a patient ID, or a half missing."""
    path = image or mask
    assert path is not None
    if not stem.isdigit():
        return Problem(
            "non-numeric-name",
            path,
            f"file name {path.name!r} is not a numeric patient ID",
            "rename it to <PatientID>.nii.gz as in the dataset",
        )
    if mask is None:
        return Problem(
            "missing-mask", path, "image has no mask", f"add {folder}/{split}_masks/{path.name} or remove the image"
        )
    if image is None:
        return Problem(
            "missing-image", path, "mask has no image", f"add {folder}/{split}_images/{path.name} or remove the mask"
        )
    return None


def _index_healthy(layout: CirrMRILayout, problems: list[Problem]) -> list[ScanRecord]:
    rows: dict[str, PatientRow] = {}
    if layout.healthy_csv is not None:
        rows, found = read_metadata_csv(layout.healthy_csv, healthy=True)
        problems.extend(found)
    if not layout.healthy:
        problems.append(
            Problem(
                "missing-folder",
                layout.root / "Healthy_subjects",
                "healthy subjects were requested but not found",
                "unzip Healthy_subjects/ or drop --healthy",
            )
        )
    records = []
    for sequence, files in layout.healthy.items():
        images, masks = files.images["none"], files.masks["none"]
        for stem in sorted(set(images) | set(masks), key=natural_key):
            image, mask = images.get(stem), masks.get(stem)
            if image is None or mask is None:
                check = "missing-mask" if mask is None else "missing-image"
                problems.append(
                    Problem(
                        check,
                        cast(Path, image or mask),  # one exists: the stem came from its file
                        f"healthy subject {stem} lacks its {'mask' if mask is None else 'image'}",
                        "add the missing file",
                    )
                )
                continue
            row = rows.get(str(int(stem))) if stem.isdigit() else None
            pid = f"{HEALTHY_PREFIX}{stem}"
            records.append(
                ScanRecord(
                    scan_id=f"{sequence}-{pid}",
                    patient_id=pid,
                    sequence=sequence,
                    label=0,
                    label_name="healthy",
                    official_split=None,
                    image=image,
                    mask=mask,
                    age=row.age if row else None,
                    sex=row.sex if row else None,
                )
            )
    return records


def load_cirrmri(root: str | Path, include_healthy: bool = False, strict: bool = False) -> Cohort:
    """Index a CirrMRI600+ root (either unzipped form).

    Scans that cannot be indexed (no mask, no metadata, ...) are left out and listed in
    ``Cohort.problems``; with ``strict=True`` any problem raises :class:`CohortError` instead.
    """
    layout = discover(root)
    records, problems, labels = index_cirrmri(layout, include_healthy)
    if strict and problems:
        raise CohortError(problems, f"cannot index {layout.root}")
    if not records:
        raise CohortError(
            problems or [Problem("missing-folder", layout.root, "no scans found", "check the path")],
            f"no usable scan under {layout.root}",
        )
    records.sort(key=lambda r: (SEQUENCES.index(r.sequence), natural_key(r.patient_id)))
    return Cohort(tuple(records), labels, source=str(layout.root), problems=tuple(problems))


# --------------------------------------------------------------------------------------------
# Manifest CSV
# --------------------------------------------------------------------------------------------

MANIFEST_REQUIRED = ("scan_id", "patient_id", "sequence", "label", "image", "mask")
MANIFEST_OPTIONAL = ("split", "age", "sex", "site")


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


def warn_problems(cohort: Cohort) -> None:
    """Emit the loader's structural problems as one warning (the validator reports them too)."""
    if cohort.problems:
        warnings.warn(
            f"{len(cohort.problems)} scan(s) or rows were left out of {cohort.source}; run `cirrbench data validate` for the list",
            stacklevel=2,
        )


__all__ = [
    "Cohort",
    "ScanRecord",
    "load_cirrmri",
    "load_manifest",
    "write_manifest",
    "FATAL_FOR_SCAN",
]

"""The CirrMRI600+ source: a root folder (either unzipped form) indexed into a :class:`Cohort`.

The split folders, image/mask pairs and metadata CSVs are read here and nowhere else; a scan that
cannot be indexed is left out and listed as a problem (``Cohort.problems``).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.cohort import Cohort, ScanRecord
from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES, STAGES_WITH_HEALTHY, LabelSet
from cirrbench.benchmark.data.layout import OFFICIAL_SPLITS, SEQUENCES, CirrMRILayout, discover
from cirrbench.benchmark.data.metadata import PatientRow, read_metadata_csv
from cirrbench.benchmark.data.problems import CohortError, Problem

__all__ = ["HEALTHY_PREFIX", "index_cirrmri", "load_cirrmri"]

HEALTHY_PREFIX = "H"  # healthy volunteer IDs overlap patient IDs; they are kept apart by a prefix


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

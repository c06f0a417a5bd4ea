"""Reading the CirrMRI600+ metadata CSVs into clean per-patient rows, collecting every problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.data.layout import HEALTHY_COLUMNS, METADATA_COLUMNS
from cirrbench.benchmark.data.problems import Problem

__all__ = ["PatientRow", "read_metadata_csv", "SEX_CODES"]

#: CSV "Gender" code -> sex letter used in the index.
SEX_CODES = {1: "F", 2: "M"}


@dataclass(frozen=True)
class PatientRow:
    patient_id: str
    age: float | None
    sex: str | None
    stage_code: int | None  # 1 mild, 2 moderate, 3 severe; None for healthy volunteers
    site: str | None = None  # an optional "Site" column (not in the public CSVs; the phantom writes its centres)

    def stage_index(self) -> int:
        """0 mild, 1 moderate, 2 severe: the row's stage as a class index (a cirrhotic patient's row)."""
        if self.stage_code is None:
            raise ValueError(f"patient {self.patient_id} is a healthy volunteer: no cirrhosis stage")
        return self.stage_code - 1


def _read(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame | None, list[Problem]]:
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for malformed CSVs
        return None, [
            Problem(
                "metadata-columns", path, f"cannot be parsed as CSV ({exc})", "re-export it as comma-separated UTF-8"
            )
        ]
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return None, [
            Problem(
                "metadata-columns",
                path,
                f"missing column(s) {missing}; found {list(frame.columns)}",
                f"the header must be exactly: {','.join(columns)}",
            )
        ]
    return frame, []


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


def read_metadata_csv(path: Path, healthy: bool = False) -> tuple[dict[str, PatientRow], list[Problem]]:
    """Rows keyed by patient ID (as a string without padding). Bad rows are reported and dropped."""
    columns = HEALTHY_COLUMNS if healthy else METADATA_COLUMNS
    id_column = columns[0]
    frame, problems = _read(path, columns)
    if frame is None:
        return {}, problems
    rows: dict[str, PatientRow] = {}
    seen: set[str] = set()
    for line, record in enumerate(frame.to_dict("records"), start=2):
        where = f"line {line}"
        pid_number = _number(record[id_column].strip())
        if pid_number is None or pid_number != int(pid_number):
            problems.append(
                Problem(
                    "metadata-value",
                    path,
                    f"{where}: {id_column} {record[id_column]!r} is not an integer",
                    "fix or delete the row",
                )
            )
            continue
        pid = str(int(pid_number))
        if pid in seen:
            problems.append(
                Problem(
                    "duplicate-patient",
                    path,
                    f"{where}: patient {pid} appears more than once",
                    "keep exactly one row per patient (the first row is used meanwhile)",
                )
            )
            continue
        seen.add(pid)
        age = _number(record["Age"].strip())
        gender = _number(record["Gender"].strip())
        sex = SEX_CODES.get(int(gender)) if gender is not None and gender == int(gender) else None
        if record["Gender"].strip() and sex is None:
            problems.append(
                Problem(
                    "metadata-value",
                    path,
                    f"{where}: Gender {record['Gender']!r} is not 1 (female) or 2 (male)",
                    "use the dataset's codes 1/2",
                )
            )
        stage_code: int | None = None
        if not healthy:
            stage = _number(record["Radiological Evaluation"].strip())
            if stage is None or stage != int(stage) or int(stage) not in (1, 2, 3):
                problems.append(
                    Problem(
                        "stage-code",
                        path,
                        f"{where}: patient {pid} has Radiological Evaluation {record['Radiological Evaluation']!r}",
                        "use 1 (mild), 2 (moderate) or 3 (severe)",
                    )
                )
                continue
            stage_code = int(stage)
        site = str(record.get("Site", "")).strip() or None
        rows[pid] = PatientRow(pid, age, sex, stage_code, site)
    return rows, problems

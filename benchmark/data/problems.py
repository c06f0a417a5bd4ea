"""A problem found in a cohort: one line that names the file, what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKS", "CohortError", "FATAL_FOR_SCAN", "format_report", "Problem", "require_columns"]

#: Every kind of problem the checks report, with a one-line description (shown by
#: ``cirrbench data validate --list-checks`` and accepted by ``--skip-check``).
CHECKS: dict[str, str] = {
    "missing-folder": "a sequence folder or split folder is absent",
    "metadata-missing": "no metadata CSV where one is expected",
    "metadata-columns": "a metadata CSV lacks the expected columns",
    "metadata-value": "a metadata cell is empty or not a number",
    "stage-code": "a Radiological Evaluation code outside 1..3",
    "duplicate-patient": "the same patient appears in several rows of one CSV",
    "stage-conflict": "two metadata CSVs disagree on a patient's stage",
    "no-metadata": "a scan whose patient has no metadata row",
    "non-numeric-name": "a file name that is not a numeric patient ID",
    "unrecognised-file": "a file in an image or mask folder that is not a .nii.gz or .nii volume (upper-case suffix, no suffix, other format)",
    "not-3d": "an image or mask that is not a 3D volume (2D or 4D)",
    "missing-mask": "an image without a mask",
    "missing-image": "a mask without an image",
    "duplicate-scan": "the same patient and sequence in two official splits",
    "unreadable": "a NIfTI file that cannot be read (truncated, corrupt, not NIfTI)",
    "non-finite": "NaN or infinite voxels in an image",
    "size-mismatch": "image and mask have different sizes",
    "spacing-mismatch": "image and mask have different voxel spacing",
    "origin-mismatch": "image and mask have different origins",
    "direction-mismatch": "image and mask have different direction matrices",
    "mask-values": "mask values outside {0, 1}",
    "empty-mask": "a mask with no foreground voxel",
    "manifest-columns": "a manifest CSV lacks required columns",
    "manifest-value": "a manifest cell is empty or invalid",
    "missing-file": "a file named in a manifest does not exist",
    "feature-table": "a feature table with missing columns, duplicate scans or non-numeric features",
}

#: Problems after which a scan cannot be used at all: the loader leaves such scans out.
FATAL_FOR_SCAN = {"missing-mask", "missing-image", "no-metadata", "non-numeric-name", "unreadable", "missing-file"}


@dataclass(frozen=True)
class Problem:
    check: str
    path: Path
    message: str
    fix: str

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"unknown check {self.check!r}")

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.check}] -> {self.fix}"


class CohortError(RuntimeError):
    """Raised when a cohort cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], header: str = "the cohort has problems") -> None:
        self.problems = list(problems)
        lines = [f"{header} ({len(self.problems)}):"] + [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def format_report(problems: list[Problem]) -> str:
    if not problems:
        return "no problems found"
    return "\n".join(str(p) for p in problems)


def require_columns(columns, required, path, check: str, fix: str) -> None:
    """Raise a one-problem :class:`CohortError` naming the table's missing required columns."""
    missing = [c for c in required if c not in columns]
    if missing:
        names = list(columns)
        separator = next((sep for sep in (";", "\t", "|") if len(names) == 1 and sep in str(names[0])), None)
        if separator is not None:  # a spreadsheet's regional CSV: one column named "scan_id;patient_id;..."
            raise CohortError(
                [
                    Problem(
                        check,
                        path,
                        f"the columns are separated by {separator!r}, not commas",
                        "save it as comma-separated CSV (in a spreadsheet: CSV UTF-8, comma-delimited)",
                    )
                ]
            )
        raise CohortError([Problem(check, path, f"missing column(s) {missing}", fix)])

"""Where the files of a CirrMRI600+ root are: pure discovery, no judgement.

Both the loader and the validator start from a :class:`CirrMRILayout`, so they always agree on
which files belong to the cohort. The layout accepts the folder doubled by unzipping into a
folder of the same name (``Cirrhosis_T1_3D/Cirrhosis_T1_3D/...``) and metadata either in
``Metadata/`` or at the root. The 2D PNG export (``Cirrhosis_T2_2D``) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CirrMRILayout",
    "COMPLETE_CSV",
    "discover",
    "HEALTHY_COLUMNS",
    "HEALTHY_CSV",
    "HEALTHY_FOLDERS",
    "IGNORED_NAMES",
    "list_nifti",
    "METADATA_COLUMNS",
    "nifti_stem",
    "NIFTI_SUFFIX",
    "OFFICIAL_SPLITS",
    "PAIRED_CSV",
    "resolve_doubled",
    "SEQUENCE_CSV",
    "SEQUENCE_FOLDERS",
    "SequenceFiles",
    "SEQUENCES",
    "unrecognised_files",
]

SEQUENCES: tuple[str, ...] = ("T1W", "T2W")
OFFICIAL_SPLITS: tuple[str, ...] = ("train", "valid", "test")

#: Folder names of the public archives, per sequence.
SEQUENCE_FOLDERS = {"T1W": "Cirrhosis_T1_3D", "T2W": "Cirrhosis_T2_3D"}
HEALTHY_FOLDERS = {
    "T1W": ("T1_W_Healthy", "T1_images", "T1_masks"),
    "T2W": ("T2_W_Healthy", "T2_images", "T2_masks"),
}

COMPLETE_CSV = "CirrMRI600+_CompleteData_age_gender_evaluation.csv"
SEQUENCE_CSV = {"T1W": "T1_age_gender_evaluation.csv", "T2W": "T2_age_gender_evaluation.csv"}
PAIRED_CSV = "T1&T2_Paired_age_gender_evaluation.csv"
HEALTHY_CSV = "Healthy_demographics.csv"
METADATA_COLUMNS = ("Patient ID", "Age", "Gender", "Radiological Evaluation")
HEALTHY_COLUMNS = ("ID", "Age", "Gender")

NIFTI_SUFFIX = ".nii.gz"


def nifti_stem(path: Path) -> str:
    """``123.nii.gz`` -> ``123`` (also accepts plain ``.nii``)."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def list_nifti(folder: Path) -> dict[str, Path]:
    """Map file stem -> path for every NIfTI file directly inside ``folder`` (sorted, stable)."""
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".nii.gz", ".nii")))
    return {nifti_stem(p): p for p in files}


#: Files an image or mask folder may hold besides NIfTI volumes without being reported.
IGNORED_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


def unrecognised_files(folder: Path) -> list[Path]:
    """Files in an image or mask folder that are not ``.nii.gz``/``.nii`` volumes (``12.NII.GZ``,
    ``12``, ``12.mha``): reported by validation, never skipped without a word."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.endswith((".nii.gz", ".nii"))
        and p.name not in IGNORED_NAMES
        and not p.name.startswith("._")
    )


def resolve_doubled(folder: Path) -> Path:
    """Descend into ``X/X`` when an archive was unzipped into a folder of its own name."""
    inner = folder / folder.name
    return inner if inner.is_dir() else folder


@dataclass
class SequenceFiles:
    """Images and masks found for one sequence, per official split, keyed by file stem."""

    folder: Path | None
    images: dict[str, dict[str, Path]] = field(default_factory=dict)
    masks: dict[str, dict[str, Path]] = field(default_factory=dict)
    unrecognised: list[Path] = field(default_factory=list)  # files that are not NIfTI volumes


@dataclass
class CirrMRILayout:
    """Everything found under a CirrMRI600+ root."""

    root: Path
    sequences: dict[str, SequenceFiles]
    metadata_dir: Path | None
    healthy: dict[str, SequenceFiles]
    healthy_csv: Path | None

    def metadata_csv(self, name: str) -> Path | None:
        if self.metadata_dir is None:
            return None
        path = self.metadata_dir / name
        return path if path.is_file() else None

    @property
    def complete_csv(self) -> Path | None:
        return self.metadata_csv(COMPLETE_CSV)

    def sequence_csv(self, sequence: str) -> Path | None:
        return self.metadata_csv(SEQUENCE_CSV[sequence])


def _find_metadata_dir(root: Path) -> Path | None:
    candidates = [resolve_doubled(root / "Metadata"), root]
    for folder in candidates:
        if folder.is_dir() and any((folder / n).is_file() for n in (COMPLETE_CSV, *SEQUENCE_CSV.values())):
            return folder
    return None


def _find_healthy(root: Path) -> tuple[dict[str, SequenceFiles], Path | None]:
    base = resolve_doubled(root / "Healthy_subjects")
    found: dict[str, SequenceFiles] = {}
    for sequence, (folder_name, image_dir, mask_dir) in HEALTHY_FOLDERS.items():
        folder = resolve_doubled(base / folder_name)
        if folder.is_dir():
            found[sequence] = SequenceFiles(
                folder=folder,
                images={"none": list_nifti(folder / image_dir)},
                masks={"none": list_nifti(folder / mask_dir)},
            )
    csv = None
    for candidate in (base / HEALTHY_CSV, root / HEALTHY_CSV, root / "Metadata" / HEALTHY_CSV):
        if candidate.is_file():
            csv = candidate
            break
    return found, csv


def discover(root: str | Path) -> CirrMRILayout:
    """Find the cohort's folders and files; raises only when ``root`` is not a folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: not a folder. Pass the folder that holds Cirrhosis_T1_3D/ and Cirrhosis_T2_3D/."
        )
    sequences: dict[str, SequenceFiles] = {}
    for sequence, name in SEQUENCE_FOLDERS.items():
        folder = resolve_doubled(root / name)
        files = SequenceFiles(folder=folder if folder.is_dir() else None)
        for split in OFFICIAL_SPLITS:
            files.images[split] = list_nifti(folder / f"{split}_images")
            files.masks[split] = list_nifti(folder / f"{split}_masks")
            files.unrecognised += unrecognised_files(folder / f"{split}_images") + unrecognised_files(
                folder / f"{split}_masks"
            )
        sequences[sequence] = files
    healthy, healthy_csv = _find_healthy(root)
    return CirrMRILayout(
        root=root,
        sequences=sequences,
        metadata_dir=_find_metadata_dir(root),
        healthy=healthy,
        healthy_csv=healthy_csv,
    )

"""The cohort: one record per scan plus the label set, whatever source it came from.

Everything downstream (validation, splits, runners, metrics) sees only :class:`Cohort` and its
:class:`ScanRecord` rows, never a folder layout or a CSV, so any labelled cohort can be
benchmarked. The sources that build one live in ``sources/``; ``loading.py`` picks among them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.data.layout import SEQUENCES
from cirrbench.benchmark.data.problems import Problem

__all__ = ["Cohort", "INDEX_COLUMNS", "ScanRecord", "path_key"]


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
        what :mod:`cirrbench.benchmark.data.validate` does), so computing it is instant even for the full cohort.
        """
        return self._digest(file_stats=True)

    def index_fingerprint(self) -> str:
        """:meth:`fingerprint` without the files' sizes and modification times: the same when the
        files were only rewritten or copied, so a run can say why none of its finished jobs is reused."""
        return self._digest(file_stats=False)

    def _digest(self, file_stats: bool) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps(self.labels.to_dict(), sort_keys=True).encode())
        for r in self.records:
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
            ]
            if file_stats:
                row.append([_size_and_time(path) for path in (r.image, r.mask)])
            if r.site is not None:  # cohorts without sites keep the fingerprints they always had
                row.append(r.site)
            digest.update(json.dumps(row, default=str).encode())
        if self.features is not None:
            digest.update(pd.util.hash_pandas_object(self.features, index=True).to_numpy().tobytes())
            digest.update(json.dumps(list(self.features.columns)).encode())
        return digest.hexdigest()[:16]


def _size_and_time(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return None
    return st.st_size, st.st_mtime_ns


def path_key(path: Path | None) -> str:
    """The last three path parts: stable when a cohort folder is moved, distinct within it."""
    return "/".join(Path(path).parts[-3:]) if path is not None else ""

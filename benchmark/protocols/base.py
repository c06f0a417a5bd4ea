"""Splits: who trains, who validates, who is tested, always at the patient level.

Splits are artefacts: they are written to CSV (``patient_id,repeat,fold,role``) with a content
hash, re-read from those files before any job runs, and checked patient-disjoint, so every runner
sees the very same splits and a reader can re-use them.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.ordering import natural_key
from cirrbench.benchmark.common.paths import inside
from cirrbench.benchmark.data.cohort import Cohort

__all__ = ["patient_labels", "read_splits", "ROLES", "Split", "SPLIT_COLUMNS", "SplitError", "SplitSet", "write_splits"]

ROLES = ("train", "valid", "test")
SPLIT_COLUMNS = ["patient_id", "repeat", "fold", "role"]


class SplitError(ValueError):
    """A split that would leak patients or cannot be used."""


@dataclass(frozen=True)
class Split:
    """One train/valid/test assignment of patients. ``sequences`` limits which scans it covers."""

    split_id: str
    protocol: str
    roles: Mapping[str, str]  # patient_id -> role
    repeat: int = 0
    fold: int = 0
    sequences: tuple[str, ...] | None = None  # None: every sequence
    fraction: float | None = None  # learning curves: the share of the outer training part kept

    def patients(self, role: str) -> list[str]:
        return sorted((p for p, r in self.roles.items() if r == role), key=natural_key)

    def to_frame(self) -> pd.DataFrame:
        rows = [(p, self.repeat, self.fold, self.roles[p]) for p in sorted(self.roles, key=natural_key)]
        return pd.DataFrame(rows, columns=SPLIT_COLUMNS)

    def content_hash(self) -> str:
        buffer = io.StringIO()
        self.to_frame().to_csv(buffer, index=False)
        header: dict[str, object] = {"sequences": self.sequences, "protocol": self.protocol}
        if self.fraction is not None:  # only where set: other protocols' hashes stay as they were
            header["fraction"] = self.fraction
        payload = json.dumps(header) + buffer.getvalue()
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def check(self, cohort: Cohort | None = None) -> None:
        """Loud checks: roles valid, each patient in one role, train and test non-empty."""
        bad = {p: r for p, r in self.roles.items() if r not in ROLES}
        if bad:
            raise SplitError(f"split {self.split_id}: unknown role(s) {sorted(set(bad.values()))}; use {ROLES}")
        if not self.patients("train") or not self.patients("test"):
            raise SplitError(f"split {self.split_id}: train and test must both hold patients")
        if cohort is not None:
            scans: dict[str, set[str | None]] = {}
            for r in cohort.records:
                if self.sequences is None or r.sequence in self.sequences:
                    scans.setdefault(r.patient_id, set()).add(self.roles.get(r.patient_id))
            leaking = [p for p, roles in scans.items() if len(roles - {None}) > 1]
            if leaking:  # cannot happen with a patient->role map; guards future refactors
                raise SplitError(f"split {self.split_id}: patients in several roles: {leaking[:10]}")


@dataclass
class SplitSet:
    protocol: str
    splits: list[Split] = field(default_factory=list)

    def __iter__(self):
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    def by_id(self) -> dict[str, Split]:
        return {s.split_id: s for s in self.splits}


def patient_labels(cohort: Cohort) -> dict[str, int]:
    """One label per patient (stratified protocols need it)."""
    labels: dict[str, int] = {}
    for r in cohort.records:
        if labels.setdefault(r.patient_id, r.label) != r.label:
            raise SplitError(
                f"patient {r.patient_id} has different labels in different scans; stratification needs one label per patient"
            )
    return labels


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_splits(split_set: SplitSet, folder: str | Path) -> Path:
    """One CSV per split plus ``index.json`` (ids, hashes, sequences). Returns the index path."""
    folder = inside(folder, split_set.protocol)
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for split in split_set:
        path = inside(folder, f"{split.split_id}.csv")
        atomic_write_text(path, split.to_frame().to_csv(index=False))
        index.append(
            {
                "split_id": split.split_id,
                "file": path.name,
                "hash": split.content_hash(),
                "sequences": split.sequences,
                "repeat": split.repeat,
                "fold": split.fold,
                **({"fraction": split.fraction} if split.fraction is not None else {}),
            }
        )
    index_path = folder / "index.json"
    atomic_write_text(index_path, json.dumps({"protocol": split_set.protocol, "splits": index}, indent=2))
    written = {entry["file"] for entry in index}
    for stale in folder.glob("*.csv"):  # left by an earlier, larger protocol (e.g. more CV repeats)
        if stale.name not in written:
            stale.unlink()
    return index_path


def read_splits(index_path: str | Path, cohort: Cohort | None = None) -> SplitSet:
    """Re-read splits written by :func:`write_splits`, verifying every hash and checking each split."""
    index_path = Path(index_path)
    index = json.loads(index_path.read_text())
    splits = []
    for entry in index["splits"]:
        frame = pd.read_csv(index_path.parent / entry["file"], dtype={"patient_id": str})
        sequences = tuple(entry["sequences"]) if entry["sequences"] else None
        split = Split(
            entry["split_id"],
            index["protocol"],
            dict(zip(frame["patient_id"], frame["role"])),
            entry["repeat"],
            entry["fold"],
            sequences,
            entry.get("fraction"),
        )
        if split.content_hash() != entry["hash"]:
            raise SplitError(
                f"{index_path.parent / entry['file']}: content does not match its recorded hash; it was edited after writing"
            )
        split.check(cohort)
        splits.append(split)
    return SplitSet(index["protocol"], splits)

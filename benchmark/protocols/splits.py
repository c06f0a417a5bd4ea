"""Split protocols: who trains, who validates, who is tested, always at the patient level.

Splits are artefacts: they are written to CSV (``patient_id,repeat,fold,role``) with a content
hash, re-read from those files before any job runs, and checked patient-disjoint, so every runner
sees the very same splits and a reader can re-use them.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.data.cohort import Cohort

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

    def patients(self, role: str) -> list[str]:
        return sorted((p for p, r in self.roles.items() if r == role), key=_natural)

    def to_frame(self) -> pd.DataFrame:
        rows = [(p, self.repeat, self.fold, self.roles[p]) for p in sorted(self.roles, key=_natural)]
        return pd.DataFrame(rows, columns=SPLIT_COLUMNS)

    def content_hash(self) -> str:
        buffer = io.StringIO()
        self.to_frame().to_csv(buffer, index=False)
        payload = json.dumps({"sequences": self.sequences, "protocol": self.protocol}) + buffer.getvalue()
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def check(self, cohort: Cohort | None = None) -> None:
        """Loud checks: roles valid, each patient in one role, train and test non-empty."""
        bad = {p: r for p, r in self.roles.items() if r not in ROLES}
        if bad:
            raise SplitError(f"split {self.split_id}: unknown role(s) {sorted(set(bad.values()))}; use {ROLES}")
        if not self.patients("train") or not self.patients("test"):
            raise SplitError(f"split {self.split_id}: train and test must both hold patients")
        if cohort is not None:
            scans = {}
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


def _natural(value: str) -> tuple:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _patient_labels(cohort: Cohort) -> dict[str, int]:
    labels: dict[str, int] = {}
    for r in cohort.records:
        if labels.setdefault(r.patient_id, r.label) != r.label:
            raise SplitError(f"patient {r.patient_id} has different labels in different scans; stratification needs one label per patient")
    return labels


# --------------------------------------------------------------------------------------------
# Protocols
# --------------------------------------------------------------------------------------------


def official_splits(cohort: Cohort) -> SplitSet:
    """The dataset's own folders, one split per sequence (they differ per patient between T1 and T2)."""
    splits = []
    for sequence in cohort.sequences:
        roles = {r.patient_id: r.official_split for r in cohort.records if r.sequence == sequence and r.official_split}
        if not roles:
            raise SplitError(f"no official split for {sequence}: the cohort has no train/valid/test assignment (manifest without a split column?)")
        splits.append(Split(f"official-{sequence}", "official", roles, sequences=(sequence,)))
    return SplitSet("official", splits)


def paired_splits(cohort: Cohort, source_sequence: str = "T2W") -> SplitSet:
    """The seed paper's protocol: patients with both sequences, one split taken from the T2 folders."""
    paired = set(cohort.paired_patients())
    if not paired:
        raise SplitError("the paired protocol needs patients with both sequences; this cohort has none")
    roles = {r.patient_id: r.official_split for r in cohort.records if r.sequence == source_sequence and r.patient_id in paired and r.official_split}
    return SplitSet("paired", [Split("paired", "paired", roles)])


def cv_splits(cohort: Cohort, folds: int = 5, repeats: int = 3, valid_fraction: float = 0.15, seed: int = 0) -> SplitSet:
    """Repeated stratified K-fold over patients; an inner validation part carved from each training part.

    Splitting patients (not scans) keeps a patient's T1W and T2W scans on the same side.
    """
    labels = _patient_labels(cohort)
    patients = np.array(sorted(labels, key=_natural))
    y = np.array([labels[p] for p in patients])
    if np.bincount(y).min() < folds:
        raise SplitError(f"cv needs at least {folds} patients per class; the smallest class has {np.bincount(y).min()}")
    splits = []
    for repeat in range(repeats):
        rng_seed = int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])
        outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=rng_seed % (2**31))
        for fold, (train_idx, test_idx) in enumerate(outer.split(patients, y)):
            n_valid = max(len(np.unique(y)), int(round(valid_fraction * len(train_idx))))
            train_p, valid_p = train_test_split(
                patients[train_idx], test_size=n_valid, stratify=y[train_idx], random_state=(rng_seed + fold) % (2**31)
            )
            roles = {**{p: "train" for p in train_p}, **{p: "valid" for p in valid_p}, **{p: "test" for p in patients[test_idx]}}
            splits.append(Split(f"cv-r{repeat}-f{fold}", "cv", roles, repeat=repeat, fold=fold))
    return SplitSet("cv", splits)


def file_splits(path: str | Path, cohort: Cohort | None = None) -> SplitSet:
    """A user's split CSV with columns ``patient_id,repeat,fold,role``."""
    path = Path(path)
    frame = pd.read_csv(path, dtype={"patient_id": str})
    missing = [c for c in SPLIT_COLUMNS if c not in frame.columns]
    if missing:
        raise SplitError(f"{path}: missing column(s) {missing}; expected {','.join(SPLIT_COLUMNS)}")
    splits = []
    for (repeat, fold), part in frame.groupby(["repeat", "fold"], sort=True):
        dupes = part["patient_id"][part["patient_id"].duplicated()].unique().tolist()
        if dupes:
            raise SplitError(f"{path}: repeat {repeat} fold {fold} lists patient(s) {dupes[:10]} more than once: a patient must have exactly one role")
        roles = dict(zip(part["patient_id"].astype(str), part["role"].astype(str)))
        if cohort is not None:
            unknown = sorted(set(roles) - set(cohort.patients), key=_natural)
            if unknown:
                raise SplitError(f"{path}: patient(s) {unknown[:10]} are not in the cohort")
        splits.append(Split(f"file-r{repeat}-f{fold}", "file", roles, repeat=int(repeat), fold=int(fold)))
    return SplitSet("file", splits)


def make_splits(cohort: Cohort, protocol: str, **options) -> SplitSet:
    if protocol == "official":
        return official_splits(cohort)
    if protocol == "paired":
        return paired_splits(cohort, **options)
    if protocol == "cv":
        return cv_splits(cohort, **options)
    if protocol == "file":
        return file_splits(options["path"], cohort)
    raise SplitError(f"unknown protocol {protocol!r}; use official, paired, cv or file")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_splits(split_set: SplitSet, folder: str | Path) -> Path:
    """One CSV per split plus ``index.json`` (ids, hashes, sequences). Returns the index path."""
    folder = Path(folder) / split_set.protocol
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for split in split_set:
        path = folder / f"{split.split_id}.csv"
        atomic_write_text(path, split.to_frame().to_csv(index=False))
        index.append({"split_id": split.split_id, "file": path.name, "hash": split.content_hash(), "sequences": split.sequences, "repeat": split.repeat, "fold": split.fold})
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
        split = Split(entry["split_id"], index["protocol"], dict(zip(frame["patient_id"], frame["role"])), entry["repeat"], entry["fold"], sequences)
        if split.content_hash() != entry["hash"]:
            raise SplitError(f"{index_path.parent / entry['file']}: content does not match its recorded hash; it was edited after writing")
        split.check(cohort)
        splits.append(split)
    return SplitSet(index["protocol"], splits)

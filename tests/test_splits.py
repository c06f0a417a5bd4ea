"""Split protocols: patient-disjoint, stratified, deterministic, written and re-read with hashes."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.protocols.base import SplitError, read_splits, write_splits
from cirrbench.benchmark.protocols.cv import cv_splits
from cirrbench.benchmark.protocols.file import file_splits
from cirrbench.benchmark.protocols.official import official_splits
from cirrbench.benchmark.protocols.paired import paired_splits
from cirrbench.benchmark.protocols.registry import make_splits


@pytest.fixture(scope="module")
def cohort(tiny_phantom):
    return load_cirrmri(tiny_phantom)


def test_official_follows_the_folders_per_sequence(cohort):
    splits = official_splits(cohort)
    assert [s.split_id for s in splits] == ["official-T1W", "official-T2W"]
    for split in splits:
        (sequence,) = split.sequences
        for record in cohort.select(sequences=[sequence]):
            assert split.roles[record.patient_id] == record.official_split


def test_paired_uses_patients_with_both_sequences_and_the_t2_split(cohort):
    (split,) = paired_splits(cohort)
    assert set(split.roles) == set(cohort.paired_patients())
    t2 = {r.patient_id: r.official_split for r in cohort.select(sequences=["T2W"])}
    assert all(split.roles[p] == t2[p] for p in split.roles)


def test_cv_is_disjoint_stratified_complete_and_deterministic(cohort):
    a = cv_splits(cohort, folds=3, repeats=2, seed=5)
    b = cv_splits(cohort, folds=3, repeats=2, seed=5)
    c = cv_splits(cohort, folds=3, repeats=2, seed=6)
    assert [s.roles for s in a] == [s.roles for s in b]
    assert [s.roles for s in a] != [s.roles for s in c]
    labels = {r.patient_id: r.label for r in cohort}
    for repeat in range(2):
        folds = [s for s in a if s.repeat == repeat]
        tested = [p for s in folds for p in s.patients("test")]
        assert sorted(tested) == sorted(labels)  # every patient tested exactly once per repeat
        for split in folds:
            assert set(split.roles) == set(labels)
            for role in ("train", "valid", "test"):
                assert split.patients(role)
            stages = Counter(labels[p] for p in split.patients("test"))
            assert set(stages) == {0, 1, 2}  # stratified: every stage in every test fold


def test_a_patients_t1_and_t2_fall_on_the_same_side(cohort):
    for split in cv_splits(cohort, folds=3, repeats=1):
        for record in cohort:
            assert record.patient_id in split.roles  # one role per patient, whatever the sequence


def test_written_splits_are_reread_identically_and_tampering_is_detected(cohort, tmp_path):
    split_set = make_splits(cohort, "cv", folds=3, repeats=1)
    index = write_splits(split_set, tmp_path)
    again = read_splits(index, cohort)
    assert [s.roles for s in again] == [s.roles for s in split_set]
    assert [s.content_hash() for s in again] == [s.content_hash() for s in split_set]
    path = index.parent / "cv-r0-f0.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[0, "role"] = "test" if frame.loc[0, "role"] != "test" else "train"
    frame.to_csv(path, index=False)
    with pytest.raises(SplitError, match="hash"):
        read_splits(index, cohort)


def test_rewriting_a_smaller_protocol_removes_the_files_it_no_longer_has(cohort, tmp_path):
    write_splits(make_splits(cohort, "cv", folds=3, repeats=2), tmp_path)
    index = write_splits(make_splits(cohort, "cv", folds=3, repeats=1), tmp_path)
    assert sorted(p.name for p in index.parent.glob("*.csv")) == ["cv-r0-f0.csv", "cv-r0-f1.csv", "cv-r0-f2.csv"]
    assert len(read_splits(index, cohort)) == 3


def test_user_split_file(cohort, tmp_path):
    patients = list(cohort.patients)
    roles = ["test"] * 3 + ["valid"] * 2 + ["train"] * (len(patients) - 5)
    path = tmp_path / "mine.csv"
    pd.DataFrame({"patient_id": patients, "repeat": 0, "fold": 0, "role": roles}).to_csv(path, index=False)
    (split,) = file_splits(cohort, path=path)
    assert split.patients("test") == patients[:3]


def test_user_split_file_with_a_patient_in_two_roles_is_refused(cohort, tmp_path):
    patients = list(cohort.patients)
    frame = pd.DataFrame(
        {"patient_id": patients + [patients[0]], "repeat": 0, "fold": 0, "role": ["train"] * len(patients) + ["test"]}
    )
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(SplitError, match="more than once"):
        file_splits(cohort, path=path)


def test_user_split_file_with_unknown_patients_or_columns(cohort, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"patient_id": ["99999"], "repeat": [0], "fold": [0], "role": ["test"]}).to_csv(path, index=False)
    with pytest.raises(SplitError, match="not in the cohort"):
        file_splits(cohort, path=path)
    pd.DataFrame({"patient": ["1"]}).to_csv(path, index=False)
    with pytest.raises(SplitError, match="missing column"):
        file_splits(cohort, path=path)


def test_unknown_protocol(cohort):
    with pytest.raises(SplitError, match="unknown protocol"):
        make_splits(cohort, "random")

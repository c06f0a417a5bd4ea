"""The cohort index from a CirrMRI600+ root (both unzip forms), with healthy volunteers, and from manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cirrbench.benchmark.data.info import count_table, summary
from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES
from cirrbench.benchmark.data.loading import load_cohort
from cirrbench.benchmark.data.problems import CohortError
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.data.sources.manifest import load_manifest, write_manifest
from cirrbench.cli import main


def double_folders(root: Path) -> None:
    """Re-create what unzipping each archive into a folder of its own name gives."""
    for name in ("Cirrhosis_T1_3D", "Cirrhosis_T2_3D", "Metadata"):
        inner = root / f"{name}.tmp"
        (root / name).rename(inner)
        (root / name).mkdir()
        inner.rename(root / name / name)


def test_index_has_one_record_per_scan_with_all_fields(tiny_phantom):
    cohort = load_cirrmri(tiny_phantom)
    frame = cohort.to_frame()
    assert list(frame.columns) == [
        "scan_id",
        "patient_id",
        "sequence",
        "label",
        "label_name",
        "official_split",
        "image",
        "mask",
        "age",
        "sex",
        "site",
    ]
    assert frame["site"].str.startswith("centre-").all()  # the phantom names its simulated centres
    assert cohort.labels == CIRRHOSIS_STAGES
    assert set(frame["sequence"]) == {"T1W", "T2W"}
    assert set(frame["official_split"]) == {"train", "valid", "test"}
    assert set(frame["sex"]) <= {"F", "M"}
    assert frame["age"].notna().all()
    assert (frame["label_name"] == frame["label"].map(dict(enumerate(CIRRHOSIS_STAGES.names)))).all()
    for record in cohort:
        assert record.image.name == record.mask.name == f"{record.patient_id}.nii.gz"
        assert record.scan_id == f"{record.sequence}-{record.patient_id}"
    # Stage is per patient: identical in T1W and T2W.
    per_patient = frame.groupby("patient_id")["label"].nunique()
    assert (per_patient == 1).all()
    assert not cohort.problems


def test_stage_codes_map_to_labels(tiny_phantom):
    cohort = load_cirrmri(tiny_phantom)
    meta = pd.read_csv(tiny_phantom / "Metadata" / "T1_age_gender_evaluation.csv")
    codes = dict(zip(meta["Patient ID"].astype(str), meta["Radiological Evaluation"]))
    for record in cohort.select(sequences=["T1W"]):
        assert record.label == codes[record.patient_id] - 1


def test_doubled_folder_variant_gives_the_same_index(phantom_copy, tiny_phantom, capsys):
    double_folders(phantom_copy)
    assert (phantom_copy / "Cirrhosis_T1_3D" / "Cirrhosis_T1_3D" / "train_images").is_dir()
    plain, doubled = load_cirrmri(tiny_phantom).to_frame(), load_cirrmri(phantom_copy).to_frame()
    for column in ("image", "mask"):
        plain[column] = plain[column].map(lambda p: Path(p).name)
        doubled[column] = doubled[column].map(lambda p: Path(p).name)
    pd.testing.assert_frame_equal(plain, doubled)
    assert main(["data", "info", str(tiny_phantom)]) == 0
    info_plain = capsys.readouterr().out.split("\n", 1)[1]
    assert main(["data", "info", str(phantom_copy)]) == 0
    info_doubled = capsys.readouterr().out.split("\n", 1)[1]
    assert info_plain == info_doubled


def test_metadata_at_root_is_found(phantom_copy):
    for csv in (phantom_copy / "Metadata").iterdir():
        shutil.move(str(csv), phantom_copy / csv.name)
    (phantom_copy / "Metadata").rmdir()
    cohort = load_cirrmri(phantom_copy)
    assert len(cohort) == 22 and not cohort.problems


def test_png_export_is_ignored(phantom_copy):
    export = phantom_copy / "Cirrhosis_T2_2D" / "train" / "3" / "images"
    export.mkdir(parents=True)
    (export / "slice_001.png").write_bytes(b"\x89PNG")
    before = load_cirrmri(phantom_copy)
    assert all("Cirrhosis_T2_2D" not in str(r.image) for r in before)


def test_healthy_subjects_only_when_asked(tiny_phantom):
    without = load_cirrmri(tiny_phantom)
    with_healthy = load_cirrmri(tiny_phantom, include_healthy=True)
    assert "healthy" not in {r.label_name for r in without}
    healthy = [r for r in with_healthy if r.label_name == "healthy"]
    assert len(healthy) == 4  # 2 volunteers x 2 sequences
    assert all(r.patient_id.startswith("H") and r.official_split is None and r.label == 0 for r in healthy)
    assert with_healthy.labels.names == ("healthy", "mild", "moderate", "severe")
    assert len(with_healthy) == len(without) + 4


def test_info_counts_match_the_files(tiny_phantom):
    cohort = load_cirrmri(tiny_phantom)
    table = count_table(cohort)
    for seq, folder in (("T1W", "Cirrhosis_T1_3D"), ("T2W", "Cirrhosis_T2_3D")):
        for split in ("train", "valid", "test"):
            n_files = len(list((tiny_phantom / folder / f"{split}_images").glob("*.nii.gz")))
            assert table.loc[(seq, split), "total"] == n_files
    s = summary(cohort)
    assert s["patients"] == 12
    assert s["patients_with_all_sequences"] == len(
        pd.read_csv(tiny_phantom / "Metadata" / "T1&T2_Paired_age_gender_evaluation.csv")
    )


def test_manifest_round_trip(tiny_phantom, tmp_path):
    cohort = load_cirrmri(tiny_phantom)
    path = write_manifest(cohort, tmp_path / "manifest.csv")
    again = load_cohort(path)
    assert again.labels == cohort.labels
    assert [r.__dict__ for r in again] == [r.__dict__ for r in cohort]


def test_manifest_with_its_own_label_set(tiny_phantom, tmp_path):
    frame = load_cirrmri(tiny_phantom).to_frame()
    frame["label"] = frame["label"].map({0: "low", 1: "low", 2: "high"})
    frame = frame.rename(columns={"official_split": "split"}).drop(columns=["label_name"])
    frame["image"] = frame["image"].map(lambda p: str(Path(p).relative_to(tiny_phantom.parent)))
    frame["mask"] = frame["mask"].map(lambda p: str(Path(p).relative_to(tiny_phantom.parent)))
    manifest = tiny_phantom.parent / "binary.csv"
    frame.to_csv(manifest, index=False)
    try:
        nominal = load_manifest(manifest)
        assert nominal.labels.names == ("high", "low") and not nominal.labels.ordinal
        ordered = load_manifest(manifest, labels=["low", "high"], ordinal=True)
        assert ordered.labels.names == ("low", "high") and ordered.labels.ordinal
        assert all(r.image.is_file() for r in ordered)
    finally:
        manifest.unlink()


def test_manifest_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("scan_id,patient_id,label\nA,1,mild\n")
    with pytest.raises(CohortError, match="missing column"):
        load_manifest(bad)
    missing = tmp_path / "missing.csv"
    missing.write_text(
        "scan_id,patient_id,sequence,label,image,mask\nA,1,T1W,mild,nowhere.nii.gz,nowhere_mask.nii.gz\nB,2,T1W,severe,nowhere2.nii.gz,nowhere2_mask.nii.gz\n"
    )
    with pytest.raises(CohortError, match="nowhere.nii.gz"):
        load_manifest(missing)


def test_not_a_cohort(tmp_path):
    with pytest.raises(CohortError, match="Cirrhosis_T1_3D"):
        load_cirrmri(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_cohort(tmp_path / "absent")

"""`cirrbench data import-medmnist`: a MedMNIST 3D archive (official key layout) becomes a
cohort the suite runs on, with the official splits and labels kept; a file that is not one is
a one-line error naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cirrbench.benchmark.data.imageio import read_array
from cirrbench.benchmark.data.loading import load_cohort
from cirrbench.cli import main

SIZES = {"train": 30, "val": 6, "test": 12}


def _archive(path: Path, side: int = 12, **replace: np.ndarray) -> dict[str, np.ndarray]:
    """Volumes in MedMNIST's layout: (N, D, H, W) uint8 and (N, 1) labels; the class shows as a
    brighter centre cube, so a radiomics model can learn it."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in SIZES.items():
        labels = (np.arange(n) % 3).reshape(-1, 1).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, side, side, side)).astype(np.uint8)
        images[:, 3:9, 3:9, 3:9] += (70 * labels[:, 0]).astype(np.uint8)[:, None, None, None]
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    arrays.update(replace)
    np.savez(path, **arrays)
    return arrays


def test_an_archive_becomes_a_cohort_with_its_splits_labels_and_voxels(tmp_path, capsys):
    arrays = _archive(tmp_path / "organ.npz")
    out = tmp_path / "cohort"
    assert main(["data", "import-medmnist", str(tmp_path / "organ.npz"), str(out), "--labels", "a,b,c"]) == 0
    assert "train 30, valid 6, test 12; classes a, b, c" in capsys.readouterr().out
    manifest = pd.read_csv(out / "manifest.csv")
    assert manifest["split"].value_counts().to_dict() == {"train": 30, "test": 12, "valid": 6}
    assert manifest["patient_id"].is_unique and set(manifest["label"]) == {"a", "b", "c"}
    first = manifest.iloc[0]
    assert first["label"] == "abc"[int(arrays["train_labels"][0, 0])]
    np.testing.assert_array_equal(read_array(out / first["image"]), arrays["train_images"][0])
    mask = read_array(out / first["mask"])
    assert mask[1:-1, 1:-1, 1:-1].all() and mask.sum() == 10**3  # the 12-voxel cube less its border
    cohort = load_cohort(out / "manifest.csv", labels=["a", "b", "c"])
    assert len(cohort) == 48 and cohort.labels.names == ("a", "b", "c")
    assert {r.official_split for r in cohort.records} == {"train", "valid", "test"}


def test_the_suite_runs_on_an_imported_archive(tmp_path, capsys):
    _archive(tmp_path / "organ.npz")
    out = tmp_path / "cohort"
    assert main(["data", "import-medmnist", str(tmp_path / "organ.npz"), str(out)]) == 0
    config = tmp_path / "medmnist.yaml"
    config.write_text(
        "name: medmnist\ninputs: [T1W]\nprotocols: [official]\nreference: majority\nmetrics: {bootstrap: 50}\n"
        "runners:\n  - majority\n  - {name: radiomics-logreg, params: {extraction: default, tuning_iterations: 0, "
        "select_k: 5, permutation_repeats: 1}}\n"
    )
    results = tmp_path / "results"
    code = main(["run", str(config), "--data", str(out / "manifest.csv"), "--out", str(results), "-q", "--jobs", "1"])
    assert code == 0, capsys.readouterr()
    table = pd.read_csv(results / "tables" / "main_official_patient.csv")
    assert list(table["id"]) == ["majority", "radiomics-logreg"]
    accuracy = float(str(table.iloc[1, 3]).split()[0])
    assert accuracy > 0.6  # the centre cube's brightness is learnable; chance is 1/3


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"val_labels": None}, "no 'val_labels' array"),
        ({"test_images": np.zeros((12, 12, 12), np.uint8)}, "2D MedMNIST sets are not volumes"),
        ({"train_labels": np.zeros((30, 14), np.uint8)}, "multi-label sets are not supported"),
        ({"train_labels": np.full((30, 1), 0.5)}, "class indices"),
    ],
)
def test_a_file_that_is_not_a_medmnist_3d_archive_is_one_line_naming_the_key(replace, message, tmp_path, capsys):
    arrays = _archive(tmp_path / "ok.npz")
    for key, value in replace.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    assert main(["data", "import-medmnist", str(tmp_path / "bad.npz"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.npz" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_pickled_content_is_refused_and_too_few_names_are_an_error(tmp_path, capsys):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, train_images=np.array([{"evil": 1}], dtype=object))
    assert main(["data", "import-medmnist", str(pickled), str(tmp_path / "out")]) == 2
    assert "not a NumPy .npz archive of plain arrays" in capsys.readouterr().err
    _archive(tmp_path / "ok.npz")
    assert main(["data", "import-medmnist", str(tmp_path / "ok.npz"), str(tmp_path / "o2"), "--labels", "a,b"]) == 2
    assert "labels run 0..2, but 2 names were given" in capsys.readouterr().err

"""Deep preprocessing for any modality: a cohort of binary shapes (class = shape, the ROI is the
shape itself, so its intensity is constant) trains with normalise: none, and the default
roi-zscore warns that it would feed the network zeros; CT-style windows and no crop are accepted."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cirrbench.benchmark.data.sources.manifest import load_manifest
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment

SHAPES = ("ball", "cube", "shell")


def shape_volume(kind: str, rng: np.random.Generator, size: int = 20) -> np.ndarray:
    grid = np.indices((size, size, size)).astype(float)
    centre = size / 2 + rng.uniform(-1.5, 1.5, 3)
    radius = rng.uniform(5.0, 7.5)
    offsets = grid - centre[:, None, None, None]
    if kind == "cube":
        return (np.abs(offsets).max(axis=0) <= radius * 0.8).astype(np.uint8)
    distance = np.sqrt((offsets**2).sum(axis=0))
    if kind == "shell":
        return ((distance <= radius) & (distance >= radius - 2.0)).astype(np.uint8)
    return (distance <= radius).astype(np.uint8)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """60 binary volumes, 20 per shape; the mask is the shape; official split 36 / 12 / 12."""
    folder = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        kind = SHAPES[i % 3]
        volume = shape_volume(kind, rng)
        image = folder / f"{i}.nii.gz"
        nib.save(nib.Nifti1Image(volume.astype(np.float32), np.eye(4)), str(image))
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / f"{i}_mask.nii.gz"))
        split = "train" if i < 36 else "valid" if i < 48 else "test"
        rows.append(
            {
                "scan_id": f"s{i}",
                "patient_id": str(i),
                "sequence": "T1W",
                "label": kind,
                "image": image.name,
                "mask": f"{i}_mask.nii.gz",
                "split": split,
            }
        )
    path = folder / "shapes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_constant_roi_under_roi_zscore_warns(shapes):
    from cirrbench.models.preprocessing import Preprocessing, preprocess_scan

    record = load_manifest(shapes).records[0]
    with pytest.warns(UserWarning, match="constant, so roi-zscore makes the input all zeros"):
        zeros = np.asarray(preprocess_scan(record, Preprocessing(spacing_mm=1.0, size=16)).volume, dtype=float)
    assert np.allclose(zeros, 0.0)
    kept = np.asarray(
        preprocess_scan(record, Preprocessing(spacing_mm=1.0, size=16, normalise="none")).volume, dtype=float
    )
    assert kept.max() > 0.5 and kept.min() == 0.0


def test_window_and_no_crop_preprocess_as_asked(shapes):
    from cirrbench.models.preprocessing import Preprocessing, preprocess_scan

    record = load_manifest(shapes).records[1]
    windowed = np.asarray(
        preprocess_scan(
            record, Preprocessing(spacing_mm=1.0, size=16, normalise="window", window=(0.0, 2.0), crop="none")
        ).volume,
        dtype=float,
    )
    assert windowed.min() >= 0.0 and windowed.max() <= 0.5 + 1e-3  # 1 in a [0, 2] window maps to 0.5
    cropped = preprocess_scan(record, Preprocessing(spacing_mm=1.0, size=16, normalise="none")).volume
    assert windowed.shape[0] == 20 and cropped.shape[0] < 20  # no crop keeps every slice of the field of view


def test_the_3d_runner_learns_shapes_with_normalise_none(shapes, tmp_path):
    params = {
        "width": 0.25,
        "size": 16,
        "spacing_mm": 1.0,
        "depth": 8,
        "epochs": 20,  # 12 learned the shapes only under some CPU kernels (default yes; avx2, avx512: 0.5)
        "batch_size": 6,
        "lr": 0.003,
        "early_stopping": 20,
        "augment": False,
        "normalise": "none",
    }
    raw = {
        "name": "shapes",
        "data": {"root": str(shapes)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "runners": [{"name": "volumetric-3d", "params": params}],
        "reference": None,
        "metrics": {"bootstrap": 50},
    }
    summary, report = run_experiment(
        parse_experiment(raw, "shapes.yaml"), RunOptions(out=tmp_path / "results", progress=False)
    )
    assert summary.ok
    accuracy = report.summary[(report.summary["metric"] == "accuracy") & (report.summary["level"] == "patient")][
        "value"
    ].iloc[0]
    assert accuracy >= 0.75, accuracy  # chance is 1/3 on three balanced shapes

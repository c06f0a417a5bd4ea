"""Validation: a clean phantom passes; each kind of corruption fails with that file named."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cirrbench.benchmark.data.problems import CohortError
from cirrbench.benchmark.data.validate import ensure_valid, validate
from cirrbench.cli import main

T1 = "Cirrhosis_T1_3D"
T1_CSV = "Metadata/T1_age_gender_evaluation.csv"
COMPLETE_CSV = "Metadata/CirrMRI600+_CompleteData_age_gender_evaluation.csv"


def first_scan(root: Path) -> tuple[Path, Path]:
    image = sorted((root / T1 / "train_images").glob("*.nii.gz"))[0]
    return image, root / T1 / "train_masks" / image.name


def rewrite(path: Path, data: np.ndarray | None = None, affine: np.ndarray | None = None, dtype=None) -> None:
    old = nib.load(str(path))
    array = np.asarray(old.dataobj) if data is None else data
    new_affine = old.affine if affine is None else affine
    img = nib.Nifti1Image(array.astype(dtype or old.get_data_dtype()), new_affine)
    img.set_qform(new_affine, code=1)
    img.set_sform(None, code=0)
    nib.save(img, str(path))


def run_validate(root: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["data", "validate", str(root), "--quiet", *extra])
    return code, capsys.readouterr().out


def assert_reported(root: Path, capsys, check: str, path: Path) -> None:
    code, out = run_validate(root, capsys)
    assert code == 1, out
    lines = [line for line in out.splitlines() if f"[{check}]" in line]
    assert lines, f"no [{check}] line in:\n{out}"
    assert any(str(path) in line for line in lines), f"{path} not named in {lines}"
    assert all("->" in line for line in lines), "every problem line says what to do"


def test_clean_phantom_exits_zero(tiny_phantom, capsys):
    code, out = run_validate(tiny_phantom, capsys)
    assert code == 0, out
    assert "OK" in out


def test_truncated_nifti(phantom_copy, capsys):
    image, _ = first_scan(phantom_copy)
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    assert_reported(phantom_copy, capsys, "unreadable", image)


def test_not_a_nifti_at_all(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    mask.write_bytes(gzip.compress(b"this is not a NIfTI header" * 20))
    assert_reported(phantom_copy, capsys, "unreadable", mask)


def test_size_mismatch(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.asarray(nib.load(str(mask)).dataobj)[:-2])
    assert_reported(phantom_copy, capsys, "size-mismatch", mask)


def test_spacing_mismatch(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    affine = nib.load(str(mask)).affine.copy()
    affine[2, 2] *= 1.5
    rewrite(mask, affine=affine)
    assert_reported(phantom_copy, capsys, "spacing-mismatch", mask)


def test_origin_mismatch(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    affine = nib.load(str(mask)).affine.copy()
    affine[0, 3] += 5.0
    rewrite(mask, affine=affine)
    assert_reported(phantom_copy, capsys, "origin-mismatch", mask)


def test_direction_mismatch(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    affine = nib.load(str(mask)).affine.copy()
    affine[0, 0] = -affine[0, 0]  # flip left-right
    rewrite(mask, affine=affine)
    assert_reported(phantom_copy, capsys, "direction-mismatch", mask)


def test_small_geometry_differences_are_tolerated(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    affine = nib.load(str(mask)).affine.copy()
    affine[0, 3] += 1e-4
    affine[2, 2] *= 1 + 1e-6
    rewrite(mask, affine=affine)
    code, out = run_validate(phantom_copy, capsys)
    assert code == 0, out


def test_mask_values_outside_0_1(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    data = np.asarray(nib.load(str(mask)).dataobj).copy()
    data[data == 1] = 255
    rewrite(mask, data=data)
    assert_reported(phantom_copy, capsys, "mask-values", mask)


def test_empty_mask(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))
    assert_reported(phantom_copy, capsys, "empty-mask", mask)


def test_image_without_mask(phantom_copy, capsys):
    image, mask = first_scan(phantom_copy)
    mask.unlink()
    assert_reported(phantom_copy, capsys, "missing-mask", image)


def test_mask_without_image(phantom_copy, capsys):
    image, mask = first_scan(phantom_copy)
    image.unlink()
    assert_reported(phantom_copy, capsys, "missing-image", mask)


def _edit_csv(path: Path, edit) -> None:
    frame = pd.read_csv(path, dtype=str)
    edit(frame).to_csv(path, index=False)


def test_scan_without_metadata_row(phantom_copy, capsys):
    image, _ = first_scan(phantom_copy)
    pid = image.name.split(".")[0]
    for csv in (T1_CSV, COMPLETE_CSV):
        _edit_csv(phantom_copy / csv, lambda f: f[f["Patient ID"] != pid])
    assert_reported(phantom_copy, capsys, "no-metadata", image)


def test_stage_code_out_of_range(phantom_copy, capsys):
    def edit(frame):
        frame.loc[0, "Radiological Evaluation"] = "4"
        return frame

    _edit_csv(phantom_copy / T1_CSV, edit)
    assert_reported(phantom_copy, capsys, "stage-code", phantom_copy / T1_CSV)


def test_duplicate_patient_rows(phantom_copy, capsys):
    _edit_csv(phantom_copy / T1_CSV, lambda f: pd.concat([f, f.iloc[[0]]]))
    assert_reported(phantom_copy, capsys, "duplicate-patient", phantom_copy / T1_CSV)


def test_non_numeric_file_name(phantom_copy, capsys):
    image, mask = first_scan(phantom_copy)
    new_image = image.with_name("patient_a.nii.gz")
    image.rename(new_image)
    mask.rename(mask.with_name("patient_a.nii.gz"))
    assert_reported(phantom_copy, capsys, "non-numeric-name", new_image)


def test_nan_voxels(phantom_copy, capsys):
    image, _ = first_scan(phantom_copy)
    data = np.asarray(nib.load(str(image)).dataobj).astype(np.float32)
    data[0, 0, 0] = np.nan
    data[1, 0, 0] = np.inf
    rewrite(image, data=data, dtype=np.float32)
    assert_reported(phantom_copy, capsys, "non-finite", image)


def test_metadata_with_wrong_columns(phantom_copy, capsys):
    csv = phantom_copy / T1_CSV
    _edit_csv(csv, lambda f: f.rename(columns={"Radiological Evaluation": "Stage"}))
    assert_reported(phantom_copy, capsys, "metadata-columns", csv)


def test_all_problems_reported_at_once(phantom_copy, capsys):
    image, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))
    other = sorted((phantom_copy / "Cirrhosis_T2_3D" / "train_masks").glob("*.nii.gz"))[0]
    other.unlink()
    code, out = run_validate(phantom_copy, capsys)
    assert code == 1
    assert "[empty-mask]" in out and "[missing-mask]" in out


def test_ensure_valid_stops_a_run_and_skip_lists_what_it_skipped(phantom_copy, caplog):
    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))
    with pytest.raises(CohortError) as excinfo:
        ensure_valid(phantom_copy, progress=False)
    assert "[empty-mask]" in str(excinfo.value) and str(mask) in str(excinfo.value)
    with caplog.at_level("WARNING", logger="cirrbench"):
        cohort = ensure_valid(phantom_copy, skip=["empty-mask"], progress=False)
    assert len(cohort) > 0
    assert "empty-mask" in caplog.text


def test_skip_check_is_reported_in_cli(phantom_copy, capsys):
    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))
    code, out = run_validate(phantom_copy, capsys, "--skip-check", "empty-mask")
    assert code == 0, out
    assert "skipped checks (not run): empty-mask" in out


def test_unknown_skip_check_is_an_error(tiny_phantom, capsys):
    assert main(["data", "validate", str(tiny_phantom), "--skip-check", "nonsense"]) == 2


def test_cache_is_invalidated_when_a_file_changes(phantom_copy):
    assert validate(phantom_copy, progress=False).ok
    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))
    report = validate(phantom_copy, progress=False)
    assert [p.check for p in report.problems] == ["empty-mask"]


def test_a_rerun_on_unchanged_files_reads_every_scan_from_the_cache_without_workers(phantom_copy, monkeypatch):
    """A warm `cirrbench run` validates again: cached scans are read here, without workers.

    Nothing starts a worker process, and the problems come in the cohort's order as before."""
    from cirrbench.benchmark.data import validate as module

    _, mask = first_scan(phantom_copy)
    rewrite(mask, data=np.zeros(nib.load(str(mask)).shape))  # one problem, so the order is checked
    first = validate(phantom_copy, jobs=2, progress=False)
    pools: list[int] = []
    real_pool = module.worker_pool

    def counting_pool(n_jobs: int, return_as: str = "list"):
        pools.append(n_jobs)
        return real_pool(n_jobs, return_as)

    def no_check(*args):  # noqa: ANN002
        raise AssertionError("a cached scan was checked again")

    monkeypatch.setattr(module, "worker_pool", counting_pool)
    monkeypatch.setattr(module, "check_scan_files", no_check)
    again = validate(phantom_copy, jobs=2, progress=False)
    assert pools == [1]  # nothing to check: this process, no workers
    assert [(p.check, p.path) for p in again.problems] == [(p.check, p.path) for p in first.problems]
    assert [p.check for p in again.problems] == ["empty-mask"]

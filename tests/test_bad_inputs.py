"""Every input a user can get wrong, as a table: the exit code, a message that names the file, row
or key, and no table, prediction or split file written. Cases build their input in a temporary
folder from a tiny phantom; the command runs in this process through the CLI's ``main``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import runners_for_tests  # noqa: F401  (registers the stand-in runners)
import yaml

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.data.sources.manifest import write_manifest
from cirrbench.cli import main

T1 = "Cirrhosis_T1_3D"
FEATURES = ["original_firstorder_Mean", "original_glcm_Contrast"]  # the test feature table's features


@dataclass
class Case:
    """What a bad input must produce."""

    argv: list[str]
    code: int
    says: list[str] = field(default_factory=list)  # substrings of the output (stdout + stderr)


@dataclass
class World:
    """A tiny phantom copy, its manifest and feature table, and a results folder, per test."""

    root: Path
    tmp: Path

    @property
    def out(self) -> Path:
        return self.tmp / "results"

    def first_scan(self) -> tuple[Path, Path]:
        image = sorted((self.root / T1 / "train_images").glob("*.nii.gz"))[0]
        return image, self.root / T1 / "train_masks" / image.name

    def manifest(self, change: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> Path:
        path = self.tmp / "cohort.csv"
        if not path.exists():
            write_manifest(load_cirrmri(self.root), path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if change is not None:
            frame = change(frame)
        target = self.tmp / "changed.csv"
        frame.to_csv(target, index=False)
        return target

    def feature_table(self, change: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> Path:
        cohort = load_cirrmri(self.root)
        rng = np.random.default_rng(0)
        frame = cohort.to_frame()[["scan_id", "patient_id", "sequence", "label_name", "official_split"]].rename(
            columns={"label_name": "label", "official_split": "split"}
        )
        for column in FEATURES:
            frame[column] = rng.normal(size=len(frame))
        frame = frame.astype({"scan_id": str, "patient_id": str})
        if change is not None:
            frame = change(frame)
        path = self.tmp / "features.csv"
        frame.to_csv(path, index=False)
        return path

    def config(self, **raw) -> Path:
        base = {
            "name": "bad",
            "inputs": ["T1W", "T2W"],
            "protocols": ["official"],
            "runners": ["majority"],
            "metrics": {"bootstrap": 20},
        }
        base.update(raw)
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(base))
        return path

    def invalid(self, *says: str) -> Case:
        """``data validate`` on the cohort folder must exit 1 saying ``says``."""
        return Case(["data", "validate", str(self.root), "-q"], 1, list(says))

    def run(self, config: Path, data: Path | None = None, *extra: str) -> list[str]:
        return [
            "run",
            str(config),
            "--out",
            str(self.out),
            "--data",
            str(data or self.root),
            "-q",
            "--jobs",
            "1",
            *extra,
        ]


def rewrite(path: Path, data: np.ndarray) -> None:
    old = nib.load(str(path))
    nib.save(nib.Nifti1Image(data.astype(old.get_data_dtype()), old.affine), str(path))


# ---- CirrMRI600+ layout: `cirrbench data validate` exits 1 and names the file -------------------
def renamed_case(name: str, which: int, suffix: str) -> Callable[[World], Case]:
    """The first scan's image (``which`` 0) or mask (1) saved under another suffix: not a scan file."""

    def build(w: World) -> Case:
        path = w.first_scan()[which]
        renamed = path.with_name(path.name.replace(".nii.gz", suffix))
        path.rename(renamed)
        return w.invalid("[unrecognised-file]", str(renamed))

    build.__name__ = name
    return build


RENAMED_CASES = [
    renamed_case("layout_upper_case_suffix", 0, ".NII.GZ"),
    renamed_case("layout_no_suffix", 0, ""),
    renamed_case("layout_other_format", 1, ".mha"),
]


def layout_2d_image(w: World) -> Case:
    image, _ = w.first_scan()
    rewrite(image, np.asarray(nib.load(str(image)).dataobj)[:, :, 0])
    return w.invalid("[not-3d]", str(image), "2D")


def layout_4d_mask(w: World) -> Case:
    _, mask = w.first_scan()
    rewrite(mask, np.asarray(nib.load(str(mask)).dataobj)[..., None].repeat(2, axis=3))
    return w.invalid("[not-3d]", str(mask), "4D")


def layout_t1_t2_stage_conflict(w: World) -> Case:
    t1 = w.root / "Metadata" / "T1_age_gender_evaluation.csv"
    t2 = w.root / "Metadata" / "T2_age_gender_evaluation.csv"
    frame = pd.read_csv(t2)
    common = sorted(set(frame["Patient ID"]) & set(pd.read_csv(t1)["Patient ID"]))[0]
    frame.loc[frame["Patient ID"] == common, "Radiological Evaluation"] = (
        frame.loc[frame["Patient ID"] == common, "Radiological Evaluation"] % 3 + 1
    )
    frame.to_csv(t2, index=False)
    return w.invalid("[stage-conflict]", f"patient {common}", "T1_age_gender_evaluation.csv")


def layout_empty_mask(w: World) -> Case:
    _, mask = w.first_scan()
    rewrite(mask, np.zeros_like(np.asarray(nib.load(str(mask)).dataobj)))
    return w.invalid("[empty-mask]", str(mask))


def layout_mask_values(w: World) -> Case:
    _, mask = w.first_scan()
    rewrite(mask, np.asarray(nib.load(str(mask)).dataobj) * 2)
    return w.invalid("[mask-values]", str(mask))


def layout_missing_mask(w: World) -> Case:
    image, mask = w.first_scan()
    mask.unlink()
    return w.invalid("[missing-mask]", str(image))


def layout_truncated(w: World) -> Case:
    image, _ = w.first_scan()
    image.write_bytes(image.read_bytes()[:200])
    return w.invalid("[unreadable]", str(image))


def layout_run_stops_before_any_job(w: World) -> Case:
    image, _ = w.first_scan()
    image.rename(image.with_name("scan.nii"))
    return Case(w.run(w.config()), 1, ["[non-numeric-name]", "failed validation"])


def layout_missing_path(w: World) -> Case:
    return Case(w.run(w.config(), w.tmp / "nowhere"), 2, ["nowhere", "no such cohort"])


def layout_labels_on_a_cirrmri_folder(w: World) -> Case:
    return Case(["data", "info", str(w.root), "--labels", "a,b,c"], 2, ["fixed labels", "--labels"])


# ---- manifests: a bad row is one error naming the line ------------------------------------------
def _first_line(frame: pd.DataFrame, column: str, value: str, row: int = 0) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[row, column] = value
    return frame


def info_case(name: str, table: str, change: Callable[[pd.DataFrame], pd.DataFrame], says: list[str]):
    """``data info`` on the manifest or feature table (``table``) after ``change``: exit 1 with ``says``."""

    def build(w: World) -> Case:
        return Case(["data", "info", str(getattr(w, table)(change))], 1, says)

    build.__name__ = name
    return build


def cell_case(name: str, table: str, column: str, value: str, says: list[str], row: int = 0):
    """One bad cell: the error names its line (``row`` 0 is line 2, under the header)."""
    return info_case(name, table, lambda f: _first_line(f, column, value, row), says)


TABLE_CASES = [
    cell_case(
        "manifest_stage_mixed_with_other",
        "manifest",
        "label",
        "stage 3",
        ["line 4", "mix the cirrhosis stages", "'stage 3'"],
        2,
    ),
    cell_case("manifest_split_value", "manifest", "split", "training", ["line 2", "split 'training'"]),
    cell_case("manifest_sequence_value", "manifest", "sequence", "T1", ["line 2", "sequence 'T1' is not T1W or T2W"]),
    cell_case("manifest_age_value", "manifest", "age", "sixty", ["line 2", "age 'sixty'"]),
    cell_case("manifest_empty_patient", "manifest", "patient_id", "", ["line 2", "empty patient_id"]),
    cell_case("manifest_empty_image", "manifest", "image", "", ["line 2", "empty image"]),
    cell_case(
        "features_split_value", "feature_table", "split", "holdout", ["features.csv", "line 2", "split 'holdout'"]
    ),
    cell_case("features_sequence_value", "feature_table", "sequence", "FLAIR", ["line 2", "sequence 'FLAIR'"]),
    cell_case("features_missing_patient", "feature_table", "patient_id", "", ["line 3", "empty patient_id"], 1),
    cell_case("features_mixed_labels", "feature_table", "label", "cirrhotic", ["line 3", "'cirrhotic'"], 1),
    info_case(
        "manifest_numeric_labels",
        "manifest",
        lambda f: f.assign(label=f["label"].map({"mild": "1", "moderate": "2", "severe": "3"})),
        ["numeric labels", "--labels 1,2,3"],
    ),
    info_case(
        "manifest_duplicate_scan",
        "manifest",
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        ["appears on lines 2,"],
    ),
    info_case(
        "manifest_missing_column", "manifest", lambda f: f.drop(columns=["mask"]), ["missing column(s) ['mask']"]
    ),
    info_case("manifest_single_class", "manifest", lambda f: f.assign(label="mild"), ["only one class"]),
    info_case(
        "features_age_value",
        "feature_table",
        lambda f: f.assign(age=["60y"] + ["60"] * (len(f) - 1)),
        ["line 2", "age '60y'"],
    ),
    info_case(
        "features_non_numeric_feature",
        "feature_table",
        lambda f: f.assign(diagnostics_Versions="v3"),
        ["non-numeric feature column(s) ['diagnostics_Versions']"],
    ),
    info_case("features_no_feature", "feature_table", lambda f: f.drop(columns=FEATURES), ["no feature column"]),
    info_case(
        "features_missing_label_column",
        "feature_table",
        lambda f: f.drop(columns=["label"]),
        ["missing column(s) ['label']"],
    ),
]


def manifest_label_outside_declared(w: World) -> Case:
    return Case(
        ["data", "info", str(w.manifest()), "--labels", "mild,moderate"],
        1,
        ["severe", "not one of the declared labels", "line"],
    )


def manifest_patient_two_labels(w: World) -> Case:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        pid = f["patient_id"][f["patient_id"].duplicated()].iloc[0]
        rows = f.index[f["patient_id"] == pid]
        other = {"mild": "severe", "moderate": "mild", "severe": "mild"}[f.loc[rows[1], "label"]]
        return _first_line(f, "label", other, rows[1])

    return Case(["data", "info", str(w.manifest(change))], 1, ["two labels", "on line"])


def manifest_missing_file(w: World) -> Case:
    return Case(
        ["data", "validate", str(w.manifest(lambda f: _first_line(f, "image", "/nowhere/1.nii.gz"))), "-q"],
        1,
        ["[missing-file]", "/nowhere/1.nii.gz", "line 2"],
    )


def manifest_run_with_bad_row(w: World) -> Case:
    return Case(
        w.run(w.config(), w.manifest(lambda f: _first_line(f, "split", "tst", 3))), 1, ["line 5", "split 'tst'"]
    )


def manifest_sequence_the_cohort_lacks(w: World) -> Case:
    return Case(
        w.run(w.config(), w.manifest(lambda f: f[f["sequence"] == "T1W"])), 2, ["inputs: 'T2W'", "has only T1W"]
    )


# ---- feature tables -----------------------------------------------------------------------------
def features_deep_runner(w: World) -> Case:
    return Case(
        w.run(w.config(runners=["majority", "msa"]), w.feature_table()), 2, ["msa need images", "feature table"]
    )


def features_patient_two_labels(w: World) -> Case:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        pid = f["patient_id"][f["patient_id"].duplicated()].iloc[0]
        row = f.index[f["patient_id"] == pid][1]
        return _first_line(f, "label", {"mild": "severe"}.get(f.loc[row, "label"], "mild"), row)

    return Case(["data", "info", str(w.feature_table(change))], 1, ["two labels"])


# ---- configs: exit 2, one line per problem naming the key ---------------------------------------
def config_case(key_text: str, **raw) -> Callable[[World], Case]:
    def build(w: World) -> Case:
        return Case(w.run(w.config(**raw)), 2, [key_text])

    build.__name__ = f"config_{key_text}"
    build.__doc__ = "a config with " + json.dumps(raw, default=str)  # the input, for docs/robustness.md
    return build


# a bad runner entry: (the entry, what the error says after "runners[1] (<name>)")
RUNNER_ENTRY_CASES = [
    ({"name": "msa", "params": {"epochs": 0}}, ".params.epochs: 0 is below the minimum 1"),
    ({"name": "msa", "params": {"width": 0}}, ".params.width: 0 must be greater than 0"),
    (
        {"name": "msa", "params": {"lr": "1e-4"}},
        ".params.lr: '1e-4' is not a number (YAML reads 1e-4 as text: write 1.0e-4)",
    ),
    ({"name": "radiomics-logreg", "params": {"select_k": 0}}, ".params.select_k: 0 is below the minimum 1"),
    (
        {"name": "cnn-vgg19", "params": {"pooling": "mean"}},
        ".params: runner 'cnn-vgg19' has no parameter(s) ['pooling']",
    ),
    ({"name": "msa", "params": {"epochs": True}}, ".params.epochs: True is not an integer"),
    ({"name": "msa", "variants": ["no-atention"]}, ".variants: 'no-atention' is not a variant of msa"),
    ({"name": "majority", "colour": "red"}, ".colour: unknown key"),
    ({"name": "msa", "protocols": ["cv"]}, ".protocols: 'cv' is not one of the config's protocols"),
    ({"name": "cnn-efficientnet-b0", "params": {"width": 0.5}}, ".params: width: 0.5 would not change efficientnet-b0"),
    ({"name": "volumetric-3d", "params": {"slices_per_scan": 2}}, ".params: slices_per_scan: 2 has no effect on"),
    ({"name": "volumetric-3d", "params": {"backbone": "vgg19"}}, ".params: backbone: vgg19 is 2D only"),
]

CONFIG_CASES = [
    *(
        config_case(f"runners[1] ({entry['name']}){says}", runners=["majority", entry])
        for entry, says in RUNNER_ENTRY_CASES
    ),
    config_case("data.rooot: unknown key (did you mean 'root'?)", data={"rooot": "/x"}),
    config_case("metrics.main: unknown metric 'acuracy'", metrics={"main": "acuracy"}),
    config_case("metrics.bootstrap: 0 is not an integer >= 1", metrics={"bootstrap": 0}),
    config_case("metrics.table: unknown metric 'kappa'", metrics={"table": ["kappa"]}),
    config_case("reference: 'majority' (the default) is not a runner of this config", runners=["stratified-random"]),
    config_case("reference: 'chance' is not a runner of this config", reference="chance"),
    config_case("protocols[0]: unknown protocol 'oficial'", protocols=["oficial"]),
    config_case(
        "protocols[0].valid_frac: unknown option of protocol 'cv'", protocols=[{"name": "cv", "valid_frac": 0.2}]
    ),
    config_case("protocols[0].folds: 1 is not an integer >= 2", protocols=[{"name": "cv", "folds": 1}]),
    config_case(
        "protocols[0].valid_fraction: 1.5 is not a number in (0, 1)", protocols=[{"name": "cv", "valid_fraction": 1.5}]
    ),
    config_case("protocols[0]: protocol 'file' needs path:", protocols=[{"name": "file"}]),
    config_case(
        "protocols[0].path: '/no/splits.csv' is not an existing CSV file",
        protocols=[{"name": "file", "path": "/no/splits.csv"}],
    ),
    config_case(
        "runners[1] (radiomics-xgbost): unknown runner (did you mean 'radiomics-xgboost'?)",
        runners=["majority", "radiomics-xgbost"],
    ),
    config_case("runners: no runners listed", runners=[]),
    config_case("inputs: 'T3W' is not an input", inputs=["T3W"]),
    config_case("seeds: 0 is not an integer >= 1", seeds=0),
    config_case("seed: 'one' is not an integer", seed="one"),
    config_case("device: 'gpu' is not auto, cpu, cuda, cuda:N or mps", device="gpu"),
    config_case("compare[0]: 'nope' is not a runner of this config", compare=[["majority", "nope"]]),
    config_case("compare[0]: a method compared with itself", compare=[["majority", "majority"]]),
    config_case("reported[0]: needs method: and a numeric value:", reported=[{"method": "VGG-19"}]),
    config_case("data.phantom.patients: 2 is not an integer >= 6", data={"phantom": {"patients": 2}}),
    config_case("colour: unknown key", colour="blue"),
    config_case("data.labels: 'mild' is not a list of at least two class names", data={"labels": "mild"}),
]


def config_yaml_syntax(w: World) -> Case:
    path = w.tmp / "broken.yaml"
    path.write_text("name: x\nrunners: [majority\nseed: 0\n")
    return Case(w.run(path), 2, [f"{path}:", "YAML syntax error"])


def config_not_a_mapping(w: World) -> Case:
    path = w.tmp / "list.yaml"
    path.write_text("- majority\n- msa\n")
    return Case(w.run(path), 2, ["must be a mapping"])


def config_missing_file(w: World) -> Case:
    return Case(w.run(w.tmp / "nope.yaml"), 2, ["nope.yaml: config not found", "shipped configs"])


def config_many_problems_at_once(w: World) -> Case:
    return Case(
        w.run(w.config(metrics={"main": "acuracy", "bootstrap": -1}, seeds=0, device="gpu")),
        2,
        ["metrics.main", "metrics.bootstrap", "seeds", "device", "4 problem(s); nothing was run"],
    )


# ---- CLI and run level: exit 2 before any job ---------------------------------------------------
def cli_only_matches_nothing(w: World) -> Case:
    return Case([*w.run(w.config()), "--only", "msa:*"], 2, ["--only 'msa:*' matches no job", "majority:default:T1W"])


def cli_cuda_without_gpu(w: World) -> Case:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    return Case([*w.run(w.config()), "--device", "cuda"], 2, ["'cuda' but this machine has no CUDA GPU"])


def cli_set_malformed(w: World) -> Case:
    return Case([*w.run(w.config()), "--set", "metrics.bootstrap"], 2, ["--set 'metrics.bootstrap': write KEY=VALUE"])


def cli_set_unknown_runner(w: World) -> Case:
    return Case(
        [*w.run(w.config()), "--set", "runners.msx.params.epochs=2"], 2, ["no runner 'msx' in runners (majority)"]
    )


def cli_set_bad_value(w: World) -> Case:
    return Case(
        [*w.run(w.config()), "--set", "metrics.bootstrap=0"], 2, ["metrics.bootstrap: 0 is not an integer >= 1"]
    )


def cli_unknown_skip_check(w: World) -> Case:
    return Case(
        [*w.run(w.config()), "--skip-check", "empty-mask", "--skip-check", "emptymask"],
        2,
        ["unknown check(s) ['emptymask']"],
    )


def cli_unknown_runner_name(w: World) -> Case:
    return Case(["runners", "msx"], 2, ["unknown runner 'msx'"])


def cli_data_without_path(w: World) -> Case:
    return Case(["data", "info"], 2, ["give the cohort: PATH", "$CIRRBENCH_DATA"])


def cli_single_class_training_part(w: World) -> Case:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        trained = set(f.loc[(f["split"] == "train") & (f["sequence"] == "T1W"), "patient_id"])
        f.loc[f["patient_id"].isin(trained), "label"] = "mild"  # every T1W training patient mild
        return f

    return Case(w.run(w.config(), w.manifest(change)), 2, ["the training part has 1 class(es)", "official-T1W"])


def cli_empty_grid(w: World) -> Case:
    return Case(w.run(w.config(inputs=["both"], runners=["majority"])), 2, ["gets no job"])


# ---- NIfTI pathologies (validate names the file and the check) -----------------------------------
def nifti_4d_image(w: World) -> Case:
    image, _ = w.first_scan()
    rewrite(image, np.asarray(nib.load(str(image)).dataobj)[..., None].repeat(2, axis=3))
    return w.invalid("[not-3d]", str(image), "4D")


def _non_finite_voxel(w: World, value: float) -> Case:
    """The first image saved as float32 with one voxel set to ``value`` (NaN or Inf)."""
    image, _ = w.first_scan()
    data = np.asarray(nib.load(str(image)).dataobj).astype(np.float32)
    data[1, 1, 1] = value
    nib.save(nib.Nifti1Image(data, nib.load(str(image)).affine), str(image))
    return w.invalid("[non-finite]", str(image))


def nifti_nan_voxels(w: World) -> Case:
    return _non_finite_voxel(w, np.nan)


def nifti_inf_voxels(w: World) -> Case:
    return _non_finite_voxel(w, np.inf)


def nifti_zero_sized_axis(w: World) -> Case:
    image, _ = w.first_scan()
    rewrite(image, np.asarray(nib.load(str(image)).dataobj)[:, :, :0])
    return w.invalid(str(image))


def nifti_gzip_cut_in_half(w: World) -> Case:
    image, _ = w.first_scan()
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    return w.invalid("[unreadable]", str(image))


def nifti_not_gzip_at_all(w: World) -> Case:
    image, _ = w.first_scan()
    image.write_bytes(b"this is not a NIfTI file\n" * 10)
    return w.invalid("[unreadable]", str(image))


def nifti_mask_one_voxel_off_the_grid(w: World) -> Case:
    _, mask = w.first_scan()
    old = nib.load(str(mask))
    affine = old.affine.copy()
    affine[:3, 3] += affine[:3, 0]  # one voxel along the first axis
    nib.save(nib.Nifti1Image(np.asarray(old.dataobj), affine, old.header), str(mask))
    return w.invalid("[origin-mismatch]", str(mask))


def nifti_mask_other_shape(w: World) -> Case:
    _, mask = w.first_scan()
    rewrite(mask, np.asarray(nib.load(str(mask)).dataobj)[:-1])
    return w.invalid("[size-mismatch]", str(mask))


def nifti_mask_label_three(w: World) -> Case:
    _, mask = w.first_scan()
    data = np.asarray(nib.load(str(mask)).dataobj).copy()
    data[data > 0] = 3
    rewrite(mask, data)
    return w.invalid("[mask-values]", str(mask))


def nifti_empty_file(w: World) -> Case:
    image, _ = w.first_scan()
    image.write_bytes(b"")
    return w.invalid("[unreadable]", str(image))


# ---- feature-table pathologies -------------------------------------------------------------------
def features_duplicate_scan_id(w: World) -> Case:
    path = w.feature_table(lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True))
    return Case(["data", "info", str(path)], 1, ["appears on lines 2,"])


def features_missing_value_is_imputed(w: World) -> Case:
    """An empty feature cell is a missing value (imputed with the training median), not an error."""
    path = w.feature_table(lambda f: f.assign(**{FEATURES[0]: [np.nan, *f[FEATURES[0]][1:]]}))
    return Case(["data", "info", str(path)], 0, ["scans: 22"])


def features_inf_feature(w: World) -> Case:
    path = w.feature_table(lambda f: f.assign(**{FEATURES[0]: [np.inf, *f[FEATURES[0]][1:]]}))
    return Case(
        ["data", "info", str(path)], 1, [f"line 2: infinite value in feature {FEATURES[0]!r}", "leave the cell empty"]
    )


def features_byte_order_mark(w: World) -> Case:
    path = w.feature_table()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return Case(["data", "info", str(path)], 0, ["scans"])


def features_semicolon_separated(w: World) -> Case:
    path = w.feature_table()
    frame = pd.read_csv(path, dtype=str)
    frame.to_csv(path, sep=";", index=False)
    return Case(["data", "info", str(path)], 1, [str(path), "separated by ';', not commas", "comma-delimited"])


def features_ids_with_spaces_and_non_ascii(w: World) -> Case:
    path = w.feature_table(lambda f: f.assign(patient_id="pat é " + f["patient_id"], scan_id="scan ü " + f["scan_id"]))
    return Case(["data", "info", str(path)], 0, ["scans"])


def manifest_paths_with_spaces_and_non_ascii(w: World) -> Case:
    moved = w.tmp / "Leber Studie é"
    shutil.copytree(w.root, moved)

    def change(f: pd.DataFrame) -> pd.DataFrame:
        return f.assign(
            image=f["image"].str.replace(str(w.root), str(moved)), mask=f["mask"].str.replace(str(w.root), str(moved))
        )

    return Case(["data", "validate", str(w.manifest(change)), "-q"], 0, [])


# ---- plugins -------------------------------------------------------------------------------------
def _plugin(w: World, name: str, body: str) -> Path:
    path = w.tmp / f"{name}.py"
    path.write_text(PLUGIN_HEAD + body)
    return path


PLUGIN_HEAD = """
from dataclasses import dataclass
import numpy as np
from cirrbench import Predictions, Runner, register_runner
"""


def plugin_raises_on_import(w: World) -> Case:
    path = _plugin(w, "broken_plugin", "raise ImportError('a library this plugin needs is missing')\n")
    return Case(w.run(w.config(plugins=[str(path)])), 2, [str(path), "a library this plugin needs is missing"])


def _predicting_plugin(w: World, name: str, probabilities: str) -> Path:
    return _plugin(
        w,
        name.replace("-", "_"),
        f"""
@register_runner
class Bad(Runner):
    name = {name!r}
    def fit(self, train, valid, context):
        self.labels_ = train.labels
        return self
    def predict(self, test):
        k = self.labels_.n_classes
        proba = {probabilities}
        return Predictions.from_array(test.scan_ids, proba, self.labels_)
""",
    )


def plugin_returns_nan(w: World) -> Case:
    path = _predicting_plugin(w, "test-nan-plugin", "np.full((len(test), k), np.nan)")
    return Case(
        w.run(w.config(plugins=[str(path)], runners=["majority", "test-nan-plugin"])),
        1,
        ["FAILED test-nan-plugin:default:T1W", "probabilities must be finite: NaN or infinite for 2 scan(s)"],
    )


def plugin_probabilities_do_not_sum_to_one(w: World) -> Case:
    path = _predicting_plugin(w, "test-sum-plugin", "np.full((len(test), k), 0.5)")
    return Case(
        w.run(w.config(plugins=[str(path)], runners=["majority", "test-sum-plugin"])),
        1,
        ["FAILED test-sum-plugin:default:T1W", "probabilities must sum to 1 per scan: 1.5 for scan", "softmax"],
    )


def plugin_raises_in_fit(w: World) -> Case:
    return Case(
        w.run(w.config(runners=["majority", "test-failing"])),
        1,
        ["FAILED test-failing:default:T1W", "RuntimeError: this runner always fails"],
    )


# ---- cirrbench score on bad files ----------------------------------------------------------------
def _prediction_file(w: World) -> Path:
    cohort = load_cirrmri(w.root)
    test = [r for r in cohort.records if r.official_split == "test"]
    k = 3
    frame = pd.DataFrame(
        {"scan_id": [r.scan_id for r in test], **{f"prob_{n}": 1 / k for n in ("mild", "moderate", "severe")}}
    )
    path = w.tmp / "predictions.csv"
    frame.to_csv(path, index=False)
    return path


def score_truncated_file(w: World) -> Case:
    path = _prediction_file(w)
    text = path.read_text()
    path.write_text(text[: len(text) // 2 - 3])
    return Case(["score", str(path), "--data", str(w.root)], 2, [str(path)])


def score_mislabelled_columns(w: World) -> Case:
    path = _prediction_file(w)
    frame = pd.read_csv(path).rename(columns={"prob_moderate": "prob_medium"})
    frame.to_csv(path, index=False)
    return Case(
        ["score", str(path), "--data", str(w.root)], 2, [str(path), "no probability column for class 'moderate'"]
    )


# ---- names that would become file names ----------------------------------------------------------
NAME_CASES = [
    config_case(
        "runners[1] (radiomics-logreg).as: '../../../../../escaped' does not match",
        runners=["majority", {"name": "radiomics-logreg", "as": "../../../../../escaped"}],
    ),
    config_case(
        "runners[1] (radiomics-logreg).as: 'deep$x$ 50%' does not match",
        runners=["majority", {"name": "radiomics-logreg", "as": "deep$x$ 50%"}],
    ),
    config_case(
        "runners[1] (radiomics-logreg).as: '.hidden' does not match",
        runners=["majority", {"name": "radiomics-logreg", "as": ".hidden"}],
    ),
    config_case(
        "runners[1] (radiomics-logreg).as: '=HYPERLINK(1)' does not match",
        runners=["majority", {"name": "radiomics-logreg", "as": "=HYPERLINK(1)"}],
    ),
    config_case("name: '../up' does not match", name="../up"),
]

NEW_CASES = [
    nifti_4d_image,
    nifti_nan_voxels,
    nifti_inf_voxels,
    nifti_zero_sized_axis,
    nifti_gzip_cut_in_half,
    nifti_not_gzip_at_all,
    nifti_mask_one_voxel_off_the_grid,
    nifti_mask_other_shape,
    nifti_mask_label_three,
    nifti_empty_file,
    features_duplicate_scan_id,
    features_missing_value_is_imputed,
    features_inf_feature,
    features_byte_order_mark,
    features_semicolon_separated,
    features_ids_with_spaces_and_non_ascii,
    manifest_paths_with_spaces_and_non_ascii,
    plugin_raises_on_import,
    score_truncated_file,
    score_mislabelled_columns,
    *NAME_CASES,
]


CASES = [
    *RENAMED_CASES,
    layout_2d_image,
    layout_4d_mask,
    layout_t1_t2_stage_conflict,
    layout_empty_mask,
    layout_mask_values,
    layout_missing_mask,
    layout_truncated,
    layout_run_stops_before_any_job,
    layout_missing_path,
    layout_labels_on_a_cirrmri_folder,
    manifest_label_outside_declared,
    manifest_patient_two_labels,
    manifest_missing_file,
    manifest_run_with_bad_row,
    manifest_sequence_the_cohort_lacks,
    features_deep_runner,
    features_patient_two_labels,
    *TABLE_CASES,
    *CONFIG_CASES,
    config_yaml_syntax,
    config_not_a_mapping,
    config_missing_file,
    config_many_problems_at_once,
    cli_only_matches_nothing,
    cli_cuda_without_gpu,
    cli_set_malformed,
    cli_set_unknown_runner,
    cli_set_bad_value,
    cli_unknown_skip_check,
    cli_unknown_runner_name,
    cli_data_without_path,
    cli_single_class_training_part,
    cli_empty_grid,
    *NEW_CASES,
]


def test_the_matrix_is_large():
    assert len(CASES) >= 110


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_clear_error_and_writes_nothing(build, tiny_phantom, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CIRRBENCH_DATA", raising=False)
    root = tmp_path / "cohort"
    shutil.copytree(tiny_phantom, root)
    world = World(root, tmp_path)
    case = build(world)
    code = main(case.argv)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == case.code, output
    for text in case.says:
        assert text in output, f"{text!r} not in:\n{output}"
    assert "Traceback" not in output
    for produced in ("tables", "predictions", "splits", "figures", "manifest.json"):
        assert not (world.out / produced).exists(), f"{produced} written despite the error"


def test_case_and_spacing_variants_of_stage_names_are_one_class(tiny_phantom, tmp_path, capsys):
    world = World(tiny_phantom, tmp_path)
    spellings = {"mild": "Mild ", "moderate": "MODERATE", "severe": " severe"}
    path = world.manifest(lambda f: f.assign(label=[spellings[x] if i % 2 else x for i, x in enumerate(f["label"])]))
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "labels: mild, moderate, severe (ordinal)" in out


def test_declared_labels_and_ordinality_from_the_cli(tiny_phantom, tmp_path, capsys):
    world = World(tiny_phantom, tmp_path)
    codes = {"mild": "1", "moderate": "2", "severe": "3"}
    path = world.manifest(lambda f: f.assign(label=f["label"].map(codes)))
    assert main(["data", "info", str(path), "--labels", "1,2,3", "--ordinal"]) == 0
    assert "labels: 1, 2, 3 (ordinal)" in capsys.readouterr().out
    assert main(["data", "info", str(path), "--labels", "3,2,1", "--no-ordinal"]) == 0
    assert "labels: 3, 2, 1 (nominal)" in capsys.readouterr().out


# ---- a runner's fault fails its own jobs, never the run's other work ------------------------------
RUNNER_FAULTS = [plugin_returns_nan, plugin_probabilities_do_not_sum_to_one, plugin_raises_in_fit]


@pytest.mark.parametrize("build", RUNNER_FAULTS, ids=[c.__name__ for c in RUNNER_FAULTS])
def test_a_runners_fault_is_its_jobs_failure_with_the_reason(build, tiny_phantom, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CIRRBENCH_DATA", raising=False)
    world = World(tiny_phantom, tmp_path)
    case = build(world)
    code = main(case.argv)
    output = "".join(capsys.readouterr())
    assert code == case.code, output
    for text in case.says:
        assert text in output, f"{text!r} not in:\n{output}"
    assert "Traceback" not in output
    assert len(list((world.out / "failures").glob("*.json"))) == 2  # T1W and T2W: recorded, retried next run
    assert (world.out / "tables" / "main_official_patient.csv").is_file()  # the majority row still reported


def test_a_missing_feature_value_is_imputed_by_the_radiomics_runners(tiny_phantom, tmp_path, capsys):
    world = World(tiny_phantom, tmp_path)
    table = world.feature_table(lambda f: f.assign(**{FEATURES[0]: [np.nan, *f[FEATURES[0]][1:]]}))
    config = world.config(runners=["majority", {"name": "radiomics-logreg", "params": {"tuning_iterations": 0}}])
    assert main(world.run(config, table)) == 0, capsys.readouterr().err
    main_table = pd.read_csv(world.out / "tables" / "main_official_patient.csv")
    assert "radiomics-logreg" in set(main_table["id"])


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_report_jobs_below_one_is_one_line_on_stderr_before_any_work(tmp_path, capsys, jobs):
    assert main(["report", str(tmp_path / "results"), "--jobs", jobs]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"error: --jobs {jobs}: give 1 or more processes\n"
    assert not (tmp_path / "results").exists()

"""The harness end to end on a tiny phantom: contract, registry, caching, failures, resume, report."""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import runners_for_tests  # noqa: F401  (registers the misbehaving runners)
from helpers import CV3, cli_in_subprocess, config_file, experiment_config, fresh_python, sharpness_pair

import cirrbench.benchmark.runners.registry as registry_module
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment
from cirrbench.benchmark.reporting.report import build_report
from cirrbench.benchmark.runners.check import check_runner
from cirrbench.benchmark.runners.contract import ScanSet
from cirrbench.benchmark.runners.registry import (
    BUILTIN_MODULES,
    BUILTIN_RUNNERS,
    available_runners,
    get_runner,
    register_runner,
    unregister_runner,
)

BUILTIN = sorted(name for name, cls in available_runners().items() if cls.__module__.startswith("cirrbench."))


@pytest.mark.parametrize("name", BUILTIN)
def test_every_registered_runner_obeys_the_contract(name, contract_phantom, tiny_phantom, tmp_path):
    """Deep runners train on the 12-patient phantom (half the time of the 24-patient one, which
    learners that cross-validate internally need)."""
    cls = available_runners()[name]
    cohort = tiny_phantom if cls.family == "deep" else contract_phantom
    check_runner(cls, load_cirrmri(cohort), tmp_cache=tmp_path)


def test_test_labels_are_hidden_from_runners(tiny_phantom):
    cohort = load_cirrmri(tiny_phantom)
    hidden = ScanSet(cohort.records, cohort.labels).hide_labels()
    with pytest.raises(PermissionError):
        _ = hidden.y
    assert {r.label_name for r in hidden} == {""}


def test_entry_point_plugins_are_registered(monkeypatch):
    class PluginRunner(runners_for_tests.FailingRunner):
        name = "plugin-runner"

    class FakeEntryPoint:
        value = "somepkg:PluginRunner"

        def load(self):
            return PluginRunner

    import cirrbench.benchmark.common.registry as common_registry

    monkeypatch.setattr(
        common_registry, "entry_points", lambda group: [FakeEntryPoint()] if group == "cirrbench.runners" else []
    )
    monkeypatch.setattr(registry_module._RUNNERS, "_loaded", False)  # read the entry points again
    monkeypatch.setattr(registry_module._RUNNERS, "_entry_points_loaded", False)
    assert available_runners()["plugin-runner"] is PluginRunner
    registry_module.unregister_runner("plugin-runner")


def test_duplicate_runner_names_are_refused():
    class Other(runners_for_tests.FailingRunner):
        name = "majority"

    with pytest.raises(ValueError, match="taken"):
        register_runner(Other)


def experiment(root: Path, **overrides) -> dict:
    grid = {
        "inputs": ["T1W", "T2W", "both"],
        "protocols": ["official", CV3],
        "runners": ["majority", "stratified-random"],
    }
    return experiment_config(root, **{**grid, **overrides})


def run(raw: dict, out: Path, **options):
    return run_experiment(parse_experiment(raw, "test.yaml"), RunOptions(out=out, progress=False, **options))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": 1}, "unknown key"),
        (
            {"figures": {"formats": ["pdf"]}},
            r"figures.formats: \['pdf'\] is not a list of png, pdf, svg that includes png",
        ),
        ({"figures": {"formats": ["png", "jpg"]}}, "figures.formats: .* is not a list of png, pdf, svg"),
        ({"figures": {"formats": ["png", "png"]}}, "each once"),
        ({"figures": {"size": 3}}, "figures.size: unknown key; known: formats, dpi"),
        ({"figures": {"dpi": 20}}, "figures.dpi: 20 is not an integer from 50 to 1200"),
        ({"figures": {"dpi": "high"}}, "figures.dpi: 'high' is not an integer from 50 to 1200"),
        ({"runners": ["nope"]}, "unknown runner"),
        ({"runners": [{"name": "majority", "variants": ["tiny"]}]}, "'tiny' is not a variant of majority"),
        ({"runners": [{"name": "majority", "params": {"depth": 3}}]}, "no parameter"),
        ({"runners": [{"name": "msa", "params": {"epoch": "slices"}}]}, "epoch must be one of"),
        ({"inputs": ["T3W"]}, "input"),
    ],
)
def test_config_errors_name_the_key(tiny_phantom, change, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiment(experiment(tiny_phantom, **change), "bad.yaml")


def test_run_writes_every_table_figure_and_manifest_then_reuses_everything(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw = experiment(tiny_phantom, figures={"formats": ["png", "pdf"]})
    summary, report = run(raw, out)
    assert summary.ok and len(summary.ran) == 2 * (2 + 3 * 3)  # official: T1W, T2W; cv: 3 folds x 3 inputs
    for name in ("main_official_patient", "main_cv_patient", "per_stage_official", "per_stage_cv"):
        for suffix in ("md", "tex", "csv"):
            assert (out / "tables" / f"{name}.{suffix}").is_file()
    for name in ("confusion_{}_reference", "roc_{}", "forest_{}", "pairwise_{}_T1W"):
        for protocol in ("official", "cv"):
            for suffix in ("png", "pdf"):
                assert (out / "figures" / f"{name.format(protocol)}.{suffix}").stat().st_size > 1000
    main = pd.read_csv(out / "tables" / "main_cv_patient.csv")
    assert list(main["id"]) == ["majority", "stratified-random"]  # CSV keeps ids next to display names
    assert list(main["Method"]) == ["Majority class", "Stratified random"]
    cv_rows = pd.concat(
        pd.read_csv(f, dtype={"patient_id": str}) for f in (out / "predictions").glob("*/predictions.csv")
    )
    cv_rows = cv_rows[cv_rows["protocol"] == "cv"]
    n = {i: cv_rows.loc[cv_rows["input"] == i, "patient_id"].nunique() for i in ("T1W", "T2W", "both")}
    assert list(main.columns) == ["kind", "id", "Method", *[f"{i} (n = {n[i]})" for i in ("T1W", "T2W", "both")]]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cohort"]["fingerprint"] and manifest["splits"]["cv"] and manifest["versions"]["numpy"]
    assert all(j["done"] and j["duration_s"] is not None for j in manifest["jobs"])
    predictions = pd.read_csv(next((out / "predictions").glob("*/predictions.csv")))
    for column in (
        "scan_id",
        "patient_id",
        "sequence",
        "true_label",
        "prob_mild",
        "prob_moderate",
        "prob_severe",
        "pred_label",
        "runner",
        "variant",
        "split_id",
        "seed",
    ):
        assert column in predictions.columns

    again, report_again = run(raw, out)  # the same config: every job and the report reused
    assert again.ran == [] and len(again.skipped) == len(summary.ran)
    assert not report.reused and report_again.reused


def test_failing_runner_is_recorded_not_cached_and_does_not_stop_others(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw = experiment(tiny_phantom, runners=["majority", "test-failing"], inputs=["T1W"], protocols=["official"])
    summary, report = run(raw, out)
    assert not summary.ok
    assert summary.ran == ["majority:default:T1W:official-T1W:s0"]
    assert list(summary.failed) == ["test-failing:default:T1W:official-T1W:s0"]
    (failure,) = (out / "failures").glob("*.json")
    record = json.loads(failure.read_text())
    assert "this runner always fails" in record["traceback"]
    assert report is not None  # the finished job is still reported
    again, _ = run(raw, out)
    assert list(again.failed) == ["test-failing:default:T1W:official-T1W:s0"]  # retried, not cached
    assert again.ran == []


def test_a_rerun_on_rewritten_or_changed_scans_says_why_no_job_is_reused(phantom_copy, tmp_path, capsys):
    """Every job's key holds the cohort's fingerprint (labels, splits, files' sizes and times): a
    rerun after the files were copied or the cohort changed runs every job again, and says which."""
    import os

    from cirrbench.cli import main

    config = config_file(phantom_copy, tmp_path, reference=None)
    run = ["run", str(config), "--out", str(tmp_path / "r"), "--jobs", "1", "-q", "--no-report"]
    for _ in range(2):  # the first run and an unchanged rerun: nothing to explain
        assert main(run) == 0
        assert "note:" not in capsys.readouterr().out
    for path in phantom_copy.rglob("*.nii.gz"):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # as a plain cp does
    assert main([*run, "--dry-run"]) == 0  # what a rerun would do, before it does it
    assert "the scan files have since been rewritten" in capsys.readouterr().out
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "were run on the same scans, labels and splits, but the scan files have since been rewritten" in out
    assert "1 ran, 0 already done" in out
    for metadata in (phantom_copy / "Metadata").glob("*age_gender_evaluation.csv"):  # every patient a year older
        header, *rows = metadata.read_text().splitlines()
        older = [",".join([patient, str(int(age) + 1), *rest]) for patient, age, *rest in (r.split(",") for r in rows)]
        metadata.write_text("\n".join([header, *older]) + "\n")
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "note: the cohort changed since this folder's last run (a label, split, scan or file" in out
    assert "1 ran, 0 already done" in out


def test_cli_exit_code_is_non_zero_when_a_job_fails(tiny_phantom, tmp_path):
    import yaml

    from cirrbench.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            experiment(tiny_phantom, runners=["test-failing"], inputs=["T1W"], protocols=["official"], reference=None)
        )
    )
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--jobs", "2", "-q"]) == 1
    # The runner is registered here by importing its module; the worker processes import it too,
    # so the job fails for the runner's own reason, not as an unknown runner.
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "failures").glob("*.json")]
    assert "this runner always fails" in record["traceback"]


def killer_config(root: Path, tmp_path: Path) -> tuple[dict, Path]:
    """Six jobs whose third fit kills its process; the config and its YAML file."""
    killer = {"name": "test-killer", "params": {"counter": str(tmp_path / "fits.txt"), "kill_at": 3}}
    cv = {"name": "cv", "folds": 3, "repeats": 2}
    raw = experiment(root, runners=[killer], reference=None, inputs=["T1W"], protocols=[cv])
    return raw, config_file(root, tmp_path, **raw)


def test_a_killed_worker_ends_the_run_with_advice_and_the_rerun_completes(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw, config = killer_config(tiny_phantom, tmp_path)
    ended = subprocess.run(
        cli_in_subprocess("run", str(config), "--out", str(out), "--jobs", "2", "-q"), capture_output=True, text=True
    )
    assert ended.returncode == 1 and "a worker process died" in ended.stderr and "--jobs" in ended.stderr, ended.stderr[
        -2000:
    ]
    assert "Traceback" not in ended.stderr
    summary, _ = run(raw, out)
    assert summary.ok and len(summary.skipped) + len(summary.ran) == 6


def test_killed_run_resumes_without_losing_or_corrupting_jobs(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw, config = killer_config(tiny_phantom, tmp_path)
    killed = subprocess.run(
        cli_in_subprocess("run", str(config), "--out", str(out), "--jobs", "1", "-q"), capture_output=True, text=True
    )
    assert killed.returncode == 137, killed.stderr
    finished = sorted(p.parent.name for p in (out / "predictions").glob("*/job.json"))
    assert len(finished) == 2  # the first two fits completed before the kill
    summary, report = run(raw, out)
    assert summary.ok and len(summary.skipped) == 2 and len(summary.ran) == 4
    assert not list((out / "predictions").glob(".partial-*"))
    for folder in (p for p in (out / "predictions").iterdir() if p.is_dir()):
        assert (folder / "job.json").is_file() and (folder / "predictions.csv").is_file()
    assert report is not None


def test_a_worker_imports_only_the_module_of_its_jobs_runner():
    """A fresh process given a job's runner module (as a pool worker is) imports that module
    alone: a reference or radiomics job never loads torch, no job loads the plotting library;
    a name that module does not register is still found among all runners."""
    code = (
        "import sys\n"
        "from cirrbench.benchmark.runners.registry import get_runner\n"
        "names = [get_runner('majority', 'cirrbench.benchmark.runners.reference').name,"
        " get_runner('radiomics-logreg', 'cirrbench.baselines.learners').name]\n"
        "print(*names, 'torch' in sys.modules, 'matplotlib' in sys.modules)\n"
        "print(get_runner('msa', 'cirrbench.benchmark.runners.reference').name, 'torch' in sys.modules)\n"
    )
    assert fresh_python(code) == ["majority radiomics-logreg False False", "msa True"]


def test_the_index_names_the_module_of_every_builtin_runner():
    """registry.BUILTIN_RUNNERS must list each built-in runner with the module that registers it;
    otherwise its lookup imports every module, and a plugin under its name goes unnoticed."""
    expected = {
        name: max((m for m in BUILTIN_MODULES if cls.__module__ == m or cls.__module__.startswith(f"{m}.")), key=len)
        for name, cls in available_runners().items()
        if cls.__module__.startswith("cirrbench.")
    }
    missing = {name: module for name, module in expected.items() if BUILTIN_RUNNERS.get(name) != module}
    assert not missing, f"add to BUILTIN_RUNNERS in benchmark/runners/registry.py: {missing}"
    assert set(BUILTIN_RUNNERS) == set(expected), set(BUILTIN_RUNNERS) - set(expected)


def test_a_config_without_deep_runners_is_checked_and_run_without_importing_torch(tiny_phantom, tmp_path):
    """A fresh process reads a config that names a reference and a radiomics learner: the
    registry imports their modules alone; `cirrbench run` of reference runners with device auto
    and no --jobs resolves no device. A deep runner's name then imports torch (but not MONAI, which
    only building a MONAI network or preprocessing a scan needs), and a plugin that took a built-in
    name still fails when that name is looked up."""
    raw = {"name": "lazy", "data": {"root": str(tiny_phantom)}, "inputs": ["T1W"], "protocols": ["official"]}
    config = config_file(tiny_phantom, tmp_path, **{**raw, "runners": ["majority", "stratified-random"]})
    run = ["run", str(config), "--out", str(tmp_path / "out"), "-q", "--no-report"]
    code = (
        "import sys\n"
        "from cirrbench.benchmark.execution.experiment import load_experiment, parse_experiment\n"
        "from cirrbench.benchmark.runners.registry import get_runner, register_runner\n"
        "from cirrbench.cli import main\n"
        f"raw = {raw!r}\n"
        "checked = parse_experiment({**raw, 'runners': ['majority', 'radiomics-logreg']}, 'lazy.yaml')\n"
        "print('lazy:', sorted(r.name for r in checked.runners), 'torch' in sys.modules)\n"
        f"device = load_experiment({str(config)!r}).device\n"
        f"print('lazy:', main({run!r}) == 0, device, 'torch' in sys.modules)\n"
        "class Taken(get_runner('majority')):\n"
        "    name = 'msa'\n"
        "register_runner(Taken)\n"
        "try:\n"
        "    get_runner('msa')\n"
        "except ValueError as error:\n"
        "    print('lazy:', 'taken' in str(error), 'torch' in sys.modules, 'monai' in sys.modules)\n"
    )
    said = [line.removeprefix("lazy: ") for line in fresh_python(code) if line.startswith("lazy: ")]
    assert said == ["['majority', 'radiomics-logreg'] False", "True auto False", "True True False"]


def test_a_runner_registered_in_the_process_resolves_without_importing_its_module():
    """A plugin file loaded in a worker registers its runner under a module name nothing can
    import; the job's module then only names where it came from."""

    class PluginFileRunner(runners_for_tests.FailingRunner):
        name = "test-plugin-file-runner"

    PluginFileRunner.__module__ = "cirrbench_plugin_no_such_module"
    register_runner(PluginFileRunner)
    try:
        assert get_runner("test-plugin-file-runner", "cirrbench_plugin_no_such_module") is PluginFileRunner
    finally:
        unregister_runner("test-plugin-file-runner")


def test_parallel_and_serial_runs_give_identical_predictions(tiny_phantom, tmp_path):
    raw = experiment(tiny_phantom, inputs=["T1W"])
    run(raw, tmp_path / "serial", report=False)  # the predictions are compared; the report is other tests'
    run(raw, tmp_path / "parallel", jobs=2, report=False)
    serial = sorted((tmp_path / "serial" / "predictions").glob("*/predictions.csv"))
    assert serial
    for path in serial:
        twin = tmp_path / "parallel" / "predictions" / path.parent.name / "predictions.csv"
        assert filecmp.cmp(path, twin, shallow=False)


def test_only_and_force_select_jobs(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw = experiment(tiny_phantom, inputs=["T1W"], protocols=["official"])
    summary, _ = run(raw, out, only="majority:*", report=False)  # which jobs run; no report needed
    assert summary.ran == ["majority:default:T1W:official-T1W:s0"]
    summary, _ = run(raw, out, report=False)
    assert summary.ran == ["stratified-random:default:T1W:official-T1W:s0"]
    summary, _ = run(raw, out, only="majority:*", force=True, report=False)
    assert summary.ran == ["majority:default:T1W:official-T1W:s0"]


def test_invalid_cohort_stops_the_run_before_any_job(phantom_copy, tmp_path):
    from cirrbench.benchmark.data.problems import CohortError

    mask = sorted((phantom_copy / "Cirrhosis_T1_3D" / "train_masks").glob("*.nii.gz"))[0]
    mask.unlink()
    with pytest.raises(CohortError, match="missing-mask"):
        run(experiment(phantom_copy), tmp_path / "results")
    assert not (tmp_path / "results" / "predictions").exists()
    summary, _ = run(
        experiment(phantom_copy, inputs=["T1W"], protocols=["official"]),
        tmp_path / "results",
        skip_checks=("missing-mask",),
        report=False,
    )
    assert summary.ok


def test_slice_level_ablation_and_reported_rows(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    reported = [
        {
            "method": "VGG-19",
            "source": "seed paper, arXiv:2502.18225",
            "input": "T1W",
            "protocol": "official",
            "level": "slice",
            "metric": "accuracy",
            "value": 0.728,
        }
    ]
    raw = experiment(
        tiny_phantom,
        inputs=["T1W"],
        protocols=["official"],
        runners=["majority", {"name": "test-slices", "variants": "all"}],
        reported=reported,
    )
    summary, report = run(raw, out)
    assert summary.ok
    slice_table = (out / "tables" / "main_official_slice.md").read_text()
    assert "test-slices" in slice_table  # no display name declared: the registry name is shown
    # the reported row sits in its own block, after the measured rows, and is labelled
    lines = slice_table.splitlines()
    marker = next(i for i, line in enumerate(lines) if "reported, not rerun" in line)
    assert any("VGG-19" in line and "0.728" in line for line in lines[marker:])
    assert not any("VGG-19" in line for line in lines[:marker])
    assert (
        "VGG-19" not in (out / "tables" / "main_official_patient.md").read_text()
    )  # patient-level table: not comparable
    csv = pd.read_csv(out / "tables" / "main_official_slice.csv")
    assert list(csv["kind"]) == ["measured", "reported, not rerun"]  # majority has no slices
    ablation = pd.read_csv(out / "tables" / "ablation_test-slices_official_patient.csv")
    assert list(ablation["Variant"]) == ["default", "blunt", "one-slice"]
    delta = "T1W Δ vs default (95 % CI)"
    assert ablation.loc[0, delta] == "(full model)" and ablation.loc[1, delta].startswith(
        ("+", "-")
    )  # each variant against its own default
    assert ablation["T1W p (Holm)"].iloc[1:].notna().all()
    tex = (out / "tables" / "main_official_slice.tex").read_text()
    assert "\\toprule" in tex and "\\emph{reported, not rerun}" in tex


def test_report_ignores_job_folders_of_an_earlier_config_with_the_same_labels(tiny_phantom, tmp_path):
    first, second = sharpness_pair(tiny_phantom)
    run(first, tmp_path / "shared")
    _, mixed = run(second, tmp_path / "shared")
    _, clean = run(second, tmp_path / "clean")
    columns = ["runner", "variant", "input", "level", "value", "low", "high"]
    pd.testing.assert_frame_equal(
        mixed.summary[columns].reset_index(drop=True), clean.summary[columns].reset_index(drop=True)
    )


def test_report_removes_tables_and_figures_an_earlier_config_left_but_keeps_other_files(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    run(experiment(tiny_phantom, inputs=["T1W"]), out)
    assert (out / "tables" / "main_cv_patient.csv").is_file() and (out / "figures" / "forest_cv.png").is_file()
    (out / "figures" / "my_notes.png").write_bytes(b"kept")
    run(experiment(tiny_phantom, inputs=["T1W"], protocols=["official"]), out)
    assert (out / "tables" / "main_official_patient.csv").is_file() and (
        out / "figures" / "forest_official.png"
    ).is_file()
    assert not list((out / "tables").glob("*_cv*")) and not list((out / "figures").glob("*_cv*"))
    assert (out / "figures" / "my_notes.png").read_bytes() == b"kept"


def test_prune_deletes_only_job_folders_the_current_manifest_does_not_list(tiny_phantom, tmp_path):
    from cirrbench.benchmark.execution.prune import prune

    out = tmp_path / "shared"
    first, second = sharpness_pair(tiny_phantom)

    def folders() -> set[str]:
        return {p.name for p in (out / "predictions").iterdir() if p.is_dir()}

    def index() -> dict[str, bool]:
        frame = pd.read_csv(out / "predictions" / "index.csv")
        return dict(zip(frame["folder"], frame["current"]))

    run(first, out)
    old = folders()
    run(second, out)
    current = folders() - old
    assert index() == {**{k: False for k in old}, **{k: True for k in current}}  # which folders the last run used
    tables = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    preview = prune(out, dry_run=True)
    assert {p.name for p in preview.removed} == old and preview.kept == len(current) and preview.bytes_freed > 0
    assert folders() == old | current  # a dry run deletes nothing
    prune(out)
    assert folders() == current and index() == {k: True for k in current}
    build_report(out)
    assert {p.name: p.read_bytes() for p in (out / "tables").iterdir()} == tables


@pytest.mark.parametrize("profile", ["cpu", "paper", "paper-cv", "tiny"])
def test_every_shipped_profile_parses_with_valid_runner_parameters(profile):
    from cirrbench.benchmark.execution.experiment import load_experiment

    experiment = load_experiment(profile)  # unknown runners, parameters or rejected values raise ConfigError
    assert experiment.runners and experiment.protocols
    if profile == "paper":  # slice CNNs train on every liver slice per epoch, as the released code
        epochs = {
            spec.name: spec.params.get("epoch", "scans")
            for spec in experiment.runners
            if spec.name.startswith(("cnn-", "msa"))
        }
        assert epochs.pop("msa") == "scans" and set(epochs.values()) == {"slices"} and len(epochs) == 8


def test_paper_and_paper_cv_split_one_grid_between_them():
    from cirrbench.benchmark.execution.experiment import load_experiment

    paper, cv = load_experiment("paper"), load_experiment("paper-cv")
    assert [p.name for p in paper.protocols] == ["paired", "official"] and [p.name for p in cv.protocols] == [
        "cv",
        "learning-curve",
    ]
    assert paper.runners == cv.runners and paper.compare == cv.compare  # the same methods, the other splits


def test_default_jobs_use_every_core_on_a_cpu_and_one_on_a_gpu():
    import os

    from cirrbench.benchmark.execution.job_execution import default_jobs

    assert default_jobs("cpu") == len(os.sched_getaffinity(0)) >= 1
    assert default_jobs("cuda") == 1


def test_a_runner_declaring_the_former_sequences_attribute_keeps_working():
    from cirrbench.benchmark.runners.contract import Runner

    class OldStyle(Runner):
        name = "test-old-style"
        sequences = "single+both"

        def fit(self, train, valid, context):  # pragma: no cover
            return self

        def predict(self, test):  # pragma: no cover
            raise NotImplementedError

    assert OldStyle.inputs == "single+both" and Runner.inputs == "single"

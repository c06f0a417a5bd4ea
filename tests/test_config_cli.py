"""The config's reference, dry runs, --set overrides, `cirrbench runners NAME` and the command registry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import runners_for_tests  # noqa: F401
import yaml
from helpers import config_file

from cirrbench.benchmark.common.config_keys import KEYS, REQUIRED, known_keys
from cirrbench.benchmark.execution.config_schema import check_config, config_reference
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import phantom_settings
from cirrbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_docs_config_reference_is_generated_from_the_schema():
    assert (ROOT / "docs" / "config.md").read_text() == config_reference(), (
        "run: cirrbench config-reference --out docs/config.md"
    )


def _explicit_defaults() -> dict:
    """A config that writes out every default the schema declares (outside list items)."""
    raw: dict = {}
    for key in KEYS:
        if "[]" in key.path or key.default is REQUIRED or key.default is None or key.default in ({}, []):
            continue
        *parents, leaf = key.path.split(".")
        target = raw
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = key.default
    return raw


def test_the_schema_defaults_are_what_a_config_without_them_gets():
    """One declaration drives the parser: writing every default out changes nothing, and each
    default passes the schema's own check."""
    runners = {"runners": ["majority", "radiomics-logreg", "cnn-resnet18"]}
    explicit = {**_explicit_defaults(), **runners}
    assert {"seed", "seeds", "metrics", "device", "reproducible", "reference", "inputs", "protocols"} <= set(explicit)
    assert check_config(explicit, "explicit.yaml") == []
    implied, written = parse_experiment(dict(runners), "a.yaml"), parse_experiment(explicit, "a.yaml")
    assert dataclasses.replace(written, raw={}, data={}) == dataclasses.replace(implied, raw={}, data={})
    # data: is read where the cohort is made; the same phantom either way
    assert phantom_settings(implied) == phantom_settings(written) == (120, 0, 1.0)


def test_unknown_keys_come_from_the_schema(tmp_path):
    """Every key of the shipped profiles is in the schema; a key the schema lacks is refused by name."""
    for profile in (ROOT / "benchmark" / "configs").glob("*.yaml"):
        raw = yaml.safe_load(profile.read_text())
        assert set(raw) <= set(known_keys("")), profile.name
        for entry in (e for e in raw["runners"] if isinstance(e, dict)):
            assert set(entry) <= set(known_keys("runners[]")), (profile.name, entry)
    problems = check_config(
        {"runners": ["majority"], "metrics": {"bootsrap": 10}, "data": {"phantom": {"size": 3}}}, "c"
    )
    assert (
        "c: metrics.bootsrap: unknown key (did you mean 'bootstrap'?); known: main, bootstrap, table, secondary"
        in problems
    )
    assert any(p.startswith("c: data.phantom.size: unknown key; known: patients, seed, scale") for p in problems)


def config(root: Path, tmp: Path, **raw) -> Path:
    return config_file(root, tmp, **{"runners": ["majority", "test-slices"], "metrics": {"bootstrap": 20}, **raw})


def test_dry_run_counts_jobs_and_writes_nothing(tiny_phantom, tmp_path, capsys):
    out = tmp_path / "results"
    path = config(tiny_phantom, tmp_path)
    assert main(["run", str(path), "--out", str(out), "--dry-run", "-q"]) == 0
    text = capsys.readouterr().out
    assert "majority" in text and "total" in text and "dry run: nothing was run or written" in text
    assert not out.exists()
    assert main(["run", str(path), "--out", str(out), "-q", "--jobs", "1", "--only", "majority:*"]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(out), "--dry-run", "-q"]) == 0
    lines = {
        line.split()[0]: line.split()[1:]
        for line in capsys.readouterr().out.splitlines()
        if line.split() and line.split()[0] in ("majority", "test-slices", "total")
    }
    assert (
        lines["majority"] == ["1", "1", "0"]
        and lines["test-slices"] == ["1", "0", "1"]
        and lines["total"] == ["2", "1", "1"]
    )


def test_set_overrides_a_runner_and_the_result_says_so(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    path = config(tiny_phantom, tmp_path)
    assert (
        main(
            [
                "run",
                str(path),
                "--out",
                str(out),
                "-q",
                "--jobs",
                "1",
                "--set",
                "runners.test-slices.params.sharpness=0.5",
                "--set",
                "metrics.bootstrap=30",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    runner = next(r for r in manifest["experiment"]["config"]["runners"] if isinstance(r, dict))
    assert runner == {"name": "test-slices", "params": {"sharpness": 0.5}} and manifest["report"]["bootstrap"] == 30


def test_runners_name_shows_meaning_and_allowed_values(capsys):
    assert main(["runners", "msa"]) == 0
    text = capsys.readouterr().out
    assert (
        "epochs = 100  (an integer)  [>= 1]  maximum training epochs" in text
        and "variant no-attention: attention=False" in text
    )
    assert main(["runners", "cnn-vgg19", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)["cnn-vgg19"]
    names = [p["name"] for p in described["params"]]
    assert (
        described["display_name"] == "VGG-19"
        and "pooling" not in names
        and "attention" not in names
        and "context" in names
    )


def test_runners_lists_one_line_per_runner_and_long_lists_their_parameters(capsys):
    from cirrbench.benchmark.runners.registry import available_runners

    assert main(["runners"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["runner", "family", "inputs", "variants", "shown", "as"]
    assert [line.split()[0] for line in lines[1:-1]] == list(available_runners())
    assert "cirrbench runners NAME" in lines[-1] and "--long" in lines[-1]
    assert main(["runners", "--long"]) == 0
    text = capsys.readouterr().out
    assert "    epochs = 100" in text and "    variants: default, " in text and len(text.splitlines()) > 3 * len(lines)


def test_cirrbench_data_env_is_honoured_by_data_commands(tiny_phantom, monkeypatch, capsys):
    monkeypatch.setenv("CIRRBENCH_DATA", str(tiny_phantom))
    assert main(["data", "info"]) == 0
    assert "labels: mild, moderate, severe (ordinal)" in capsys.readouterr().out
    assert main(["data", "validate", "-q"]) == 0


def test_data_manifest_paths_work_from_any_folder(tiny_phantom, tmp_path, monkeypatch, capsys):
    target = tmp_path / "elsewhere" / "cohort.csv"
    monkeypatch.chdir(tmp_path)
    assert main(["data", "manifest", str(tiny_phantom), "--out", str(target)]) == 0
    monkeypatch.chdir("/")
    assert main(["data", "info", str(target)]) == 0
    assert "scans:" in capsys.readouterr().out


def test_inputs_former_name_sequences_is_still_read_but_not_with_inputs(tiny_phantom, tmp_path, capsys):
    old = config(tiny_phantom, tmp_path)
    raw = yaml.safe_load(old.read_text())
    raw["sequences"] = raw.pop("inputs")
    old.write_text(yaml.safe_dump(raw))
    assert main(["run", str(old), "--out", str(tmp_path / "r"), "--dry-run", "-q"]) == 0
    assert "total" in capsys.readouterr().out
    raw["inputs"] = raw["sequences"]
    old.write_text(yaml.safe_dump(raw))
    assert main(["run", str(old), "--out", str(tmp_path / "r"), "--dry-run", "-q"]) == 2
    assert "sequences: is the former name of inputs; give only inputs:" in capsys.readouterr().err


def test_a_command_is_one_handler_whose_docstring_is_its_help(capsys):
    from cirrbench.cli import build_parser
    from cirrbench.cli.registry import command, unregister_command

    def options(p):
        p.add_argument("--name", default="world")

    def hello(args) -> int:
        """say hello (100% polite)

        Print a greeting to the name given.
        """
        print(f"hello {args.name}")
        return 0

    command("data hello", options)(hello)
    try:
        assert main(["data", "hello", "--name", "liver"]) == 0 and capsys.readouterr().out == "hello liver\n"
        with pytest.raises(SystemExit):
            build_parser().parse_args(["data", "--help"])
        assert "say hello (100% polite)" in capsys.readouterr().out
        with pytest.raises(SystemExit):
            build_parser().parse_args(["data", "hello", "--help"])
        assert "Print a greeting to the name given." in capsys.readouterr().out
    finally:
        unregister_command("data hello")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["data", "hello"])
    capsys.readouterr()
    with pytest.raises(TypeError, match="needs a docstring"):
        command("data silent", options)(lambda args: 0)


def test_no_report_runs_the_jobs_and_leaves_the_report_to_cirrbench_report(tiny_phantom, tmp_path, capsys):
    path = config(tiny_phantom, tmp_path)
    out = tmp_path / "r"
    assert main(["run", str(path), "--out", str(out), "-q", "--no-report"]) == 0
    assert "report: not built (--no-report)" in capsys.readouterr().out
    assert (out / "manifest.json").is_file() and list(out.glob("predictions/*/predictions.csv"))
    assert not (out / "tables").exists() and not (out / "REPORT.md").exists()
    assert main(["report", str(out)]) == 0
    assert (out / "tables" / "main_official_patient.csv").is_file()

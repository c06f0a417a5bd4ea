"""`cirrbench new runner`: the written runner obeys the contract, its config runs through the
checks, its test passes as written, and nothing is ever overwritten."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.runners.check import check_runner
from cirrbench.benchmark.runners.registry import get_runner, unregister_runner
from cirrbench.cli import main


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("family", ["radiomics", "deep"])
def test_a_new_runner_obeys_the_contract_and_its_config_passes_the_checks(family, contract_phantom, tmp_path, capsys):
    name = f"new-{family}-method"
    assert main(["new", "runner", name, "--family", family, "--dir", str(tmp_path)]) == 0
    stem = name.replace("-", "_")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.py", f"{stem}.yaml", f"test_{stem}.py"]
    lint = subprocess.run(  # pyflakes and pycodestyle: the rules any project keeps
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W", str(tmp_path)], capture_output=True
    )
    assert lint.returncode == 0, lint.stdout.decode()
    try:
        module = _import(tmp_path / f"{stem}.py", stem)
        runner = get_runner(name)
        assert runner.family == family and runner.__module__ == stem
        check_runner(runner, load_cirrmri(contract_phantom), tmp_cache=tmp_path / "cache")
        capsys.readouterr()
        config = tmp_path / f"{stem}.yaml"
        assert (
            main(["run", str(config), "--data", str(contract_phantom), "--dry-run", "--out", str(tmp_path / "r")]) == 0
        )
        assert name in capsys.readouterr().out
        assert module.__doc__ and f"cirrbench run {stem}.yaml" in module.__doc__
    finally:
        unregister_runner(name)
        sys.modules.pop(stem, None)


def test_the_written_test_passes_as_written(tmp_path):
    assert main(["new", "runner", "written-test", "--dir", str(tmp_path)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_written_test.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:]


@pytest.mark.parametrize(
    ("name", "message"),
    [("my runner", "does not match"), ("1st-try", "Python module name"), ("class", "Python module name")],
)
def test_a_name_that_cannot_be_a_runner_or_module_is_refused(name, message, tmp_path, capsys):
    assert main(["new", "runner", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


def test_existing_files_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "test_mine.py").write_text("# mine\n")
    assert main(["new", "runner", "mine", "--dir", str(tmp_path)]) == 2
    assert f"{tmp_path / 'test_mine.py'} exists" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["test_mine.py"] and (
        tmp_path / "test_mine.py"
    ).read_text() == "# mine\n"

"""cirrbench as a library: one namespace, the documented API, plugins without packaging, the example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from helpers import fresh_python

import cirrbench

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = """
from dataclasses import dataclass

import numpy as np

from cirrbench import Predictions, Runner, register_runner


@dataclass(frozen=True)
class Params:
    tilt: float = 0.6


@register_runner
class TiltRunner(Runner):
    name = "plugin-tilt"
    Params = Params

    def fit(self, train, valid, context):
        self.labels_ = train.labels
        return self

    def predict(self, test):
        k = self.labels_.n_classes
        p = np.full((len(test), k), (1 - self.params.tilt) / (k - 1))
        p[:, 0] = self.params.tilt
        return Predictions.from_array(test.scan_ids, p, self.labels_)
"""


def test_the_public_api_is_documented_and_complete():
    for name in cirrbench.__all__:
        item = getattr(cirrbench, name)
        if callable(item) and not isinstance(item, type):
            assert "Args:" in (item.__doc__ or "") and "Returns:" in (item.__doc__ or ""), name
    for name in (
        "Runner",
        "Predictions",
        "register_runner",
        "RunContext",
        "ScanSet",
        "load_experiment",
        "run",
        "report",
        "score_predictions",
        "check_runner",
        "load_plugin",
    ):
        assert name in cirrbench.__all__


def test_the_package_and_the_cli_help_load_no_heavy_library():
    """Every process imports cirrbench (the command line, each worker): the API's classes are
    imported on first use, so ``cirrbench --help`` answers at once; each name then resolves."""
    code = (
        "import contextlib, io, sys\n"
        "import cirrbench\n"
        "from cirrbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(*sorted(m for m in ('pandas', 'sklearn', 'scipy', 'matplotlib', 'torch') if m in sys.modules))\n"
        "print(all(getattr(cirrbench, name) is not None for name in cirrbench.__all__))\n"
        "print(cirrbench.Runner.__module__, set(cirrbench.__all__) <= set(dir(cirrbench)))\n"
    )
    assert fresh_python(code, timeout=120) == ["", "True", "cirrbench.benchmark.runners.contract True"]


def test_the_cli_in_a_folder_with_its_own_models_and_benchmark_packages_sees_every_runner(tmp_path):
    for shadow in ("models", "benchmark", "baselines"):
        (tmp_path / shadow).mkdir()
        (tmp_path / shadow / "__init__.py").write_text("raise ImportError('the user project, not cirrbench')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "cirrbench", "runners", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    names = set(json.loads(done.stdout))
    assert {"msa", "volumetric-3d", "radiomics-xgboost", "radiomics-ordinal", "majority"} <= names and len(
        [n for n in names if n.startswith("cnn-")]
    ) == 10


def test_generic_package_names_are_not_installed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import importlib.util as u; print([n for n in ('benchmark', 'baselines', 'models') if u.find_spec(n)])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_local_plugin_file_runs_in_parallel_workers(tiny_phantom, tmp_path):
    """Also: with the default device (auto), a worker running a job that needs no torch has not
    imported it (the run resolves the device once, in the main process)."""
    torch_free = PLUGIN.replace(
        "        self.labels_ = train.labels\n",
        "        import sys\n"
        "        assert 'torch' not in sys.modules, 'the worker imported torch for a job that needs none'\n"
        "        self.labels_ = train.labels\n",
    )
    assert torch_free != PLUGIN
    (tmp_path / "tilt_runner.py").write_text(torch_free)
    config = tmp_path / "plug.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "plug",
                "plugins": ["tilt_runner.py"],
                "data": {"root": str(tiny_phantom)},
                "inputs": ["T1W", "T2W"],
                "protocols": ["official"],
                "runners": ["majority", "plugin-tilt"],
                "metrics": {"bootstrap": 20},
            }
        )
    )
    code = f"from cirrbench.cli import main; raise SystemExit(main(['run', {str(config)!r}, '--out', {str(tmp_path / 'results')!r}, '--jobs', '2', '-q']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    main = pd.read_csv(tmp_path / "results" / "tables" / "main_official_patient.csv")
    assert "plugin-tilt" in set(main["id"])


def test_a_plugin_on_the_command_line_lists_its_runner_and_a_broken_one_is_named(tmp_path, capsys):
    from cirrbench.cli import main

    (tmp_path / "tilt_cli.py").write_text(PLUGIN.replace("plugin-tilt", "plugin-tilt-cli"))
    assert main(["runners", "plugin-tilt-cli", "--plugin", str(tmp_path / "tilt_cli.py")]) == 0
    assert "tilt = 0.6" in capsys.readouterr().out
    (tmp_path / "broken.py").write_text("import numpy as np\ndef oops(:\n")
    assert main(["runners", "--plugin", str(tmp_path / "broken.py")]) == 2
    err = capsys.readouterr().err
    assert "--plugin: plugin" in err and "broken.py: SyntaxError" in err
    assert main(["runners", "--plugin", "no_such_module_anywhere"]) == 2
    assert "cannot be imported" in capsys.readouterr().err


def test_the_quickstart_example_runs(tmp_path):
    env = {**os.environ, "CIRRBENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Verdict" in done.stdout and (tmp_path / "out" / "results" / "REPORT.md").is_file()

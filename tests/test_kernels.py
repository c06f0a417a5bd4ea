"""reproducible: bitwise: the same deep job gives the same prediction bytes whatever kernel level the
machine offers (simulated through the environment), thread count or --jobs; fast does not (the
control that shows the comparison can fail); provenance names the machine and the pins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from helpers import fresh_python

from cirrbench.benchmark.common.kernels import BITWISE_PINS, KernelError, check_process, kernel_report, pin_kernels
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.models.deep_runners import CPU_SMOKE
from cirrbench.perf.kernel_cost import run_fresh

TINY_DEEP = {"name": "cnn-resnet18", "params": {**CPU_SMOKE, "augment": True}}  # the smoke settings, augmented


@pytest.fixture(scope="module")
def deep_config(tiny_phantom, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kernels") / "deep.yaml"
    raw = {
        "name": "deep",
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "protocols": ["official"],
        "reference": None,
        "metrics": {"bootstrap": 20},
        "runners": [TINY_DEEP],
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(config: Path, out: Path, env: dict[str, str], *args: str) -> tuple[str, dict, dict]:
    """A fresh `cirrbench run` process: (prediction digest, job record, manifest)."""
    digest, record = run_fresh(config, out, env, *args)
    return digest, record, json.loads((out / "manifest.json").read_text())


def test_bitwise_predictions_are_identical_across_kernel_levels_threads_and_jobs(deep_config, tmp_path):
    wide, record, manifest = _run(
        deep_config, tmp_path / "a", {"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "1"}, "--jobs", "1"
    )
    narrow, _, _ = _run(
        deep_config,
        tmp_path / "b",
        {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "2"},
        "--jobs",
        "2",
    )
    assert wide == narrow
    kernels = record["kernels"]
    assert kernels["reproducible"] == "bitwise" and kernels["torch_cpu_capability"] == "AVX2"
    assert kernels["pinned"]["ONEDNN_MAX_CPU_ISA"] == "AVX2" and kernels["threads_per_job"] == 1
    assert kernels["cpu_model"]
    assert manifest["kernels"]["reproducible"] == "bitwise" and manifest["kernels"]["pinned"]["MKL_CBWR"]


def test_fast_lets_the_kernel_level_change_the_predictions(deep_config, tmp_path):
    """The control: without the pins, two kernel levels every AVX2 machine has give other bytes.
    One job each, in the main process (--jobs 1): a worker would import torch a second time."""
    fast = {"CIRRBENCH_REPRODUCIBLE": "fast"}
    arm = ("--set", "reproducible=fast", "--jobs", "1")
    plain, record, _ = _run(deep_config, tmp_path / "a", {**fast, "ATEN_CPU_CAPABILITY": "default"}, *arm)
    vector, _, _ = _run(deep_config, tmp_path / "b", {**fast, "ATEN_CPU_CAPABILITY": "avx2"}, *arm)
    assert plain != vector
    assert record["kernels"]["reproducible"] == "fast" and record["kernels"]["torch_cpu_capability"] == "DEFAULT"


def test_the_mode_enters_the_deep_jobs_keys_only(tiny_phantom):
    raw = {
        "data": {"root": str(tiny_phantom)},
        "runners": ["majority", TINY_DEEP],
        "protocols": ["official"],
    }
    from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
    from cirrbench.benchmark.execution.job_grid import build_jobs
    from cirrbench.benchmark.protocols.registry import make_splits

    cohort = load_cirrmri(tiny_phantom)
    splits = {"official": make_splits(cohort, "official")}
    keys = {}
    for mode in ("bitwise", "fast"):
        jobs = build_jobs(parse_experiment({**raw, "reproducible": mode}, "k.yaml"), splits, "fp")
        keys[mode] = {job.runner: job.key for job in jobs}
    assert keys["bitwise"]["majority"] == keys["fast"]["majority"]
    assert keys["bitwise"]["cnn-resnet18"] != keys["fast"]["cnn-resnet18"]


def test_a_bad_mode_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match="reproducible: 'exact' is not one of bitwise, fast"):
        parse_experiment({"runners": ["majority"], "reproducible": "exact"}, "k.yaml")


def test_a_process_whose_torch_chose_other_kernels_refuses_bitwise(monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    with pytest.raises(KernelError, match="this process imported it with AVX512"):
        check_process("bitwise")
    check_process("fast")  # fast takes whatever the process has


def test_fast_restores_the_environment_the_pins_replaced(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    from cirrbench.benchmark.common import kernels

    monkeypatch.setattr(kernels, "_SAVED", {})
    pin_kernels("bitwise")
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and os.environ["MKL_CBWR"] == "AVX2,STRICT"
    pin_kernels("fast")
    assert os.environ["ATEN_CPU_CAPABILITY"] == "default" and "MKL_CBWR" not in os.environ
    pin_kernels("bitwise")  # the suite's own runs stay pinned after this test
    report = kernel_report("bitwise")
    assert report["pinned"] == {k: v for k, v in BITWISE_PINS.items()}


def test_deterministic_algorithms_turn_on_without_loading_the_compiler_unless_compiling():
    """Every fresh process that trains sets the flag; the public call would import torch's
    compiler package first (~0.8 s each). A compiled model still gets the compiler's copy."""
    code = (
        "import sys, torch\n"
        "from cirrbench.benchmark.common.kernels import deterministic_algorithms\n"
        "deterministic_algorithms()\n"
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),"
        " 'torch._inductor' in sys.modules)\n"
        "deterministic_algorithms(compiling=True)\n"
        "import torch._inductor.config as compiler\n"
        "print(compiler.deterministic)\n"
    )
    assert fresh_python(code) == ["True True False", "True"]

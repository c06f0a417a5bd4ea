"""Which float kernels deep training runs on, pinned so that the same job gives the same bytes on
a CPU model whatever its wider vector units, threads or jobs (``reproducible: bitwise``). Across
CPU vendors (an AMD EPYC against an Intel Xeon, both pinned to AVX2) deep predictions have been
measured to differ: the pins fix the vector width, not oneDNN's and MKL's vendor code paths.

torch picks its CPU kernels by the vector units it finds (AVX2, AVX-512), oneDNN (convolutions) and
MKL (matrix products) do the same, each by its own switch, and each reads it once, when torch is
first imported. On a 12-patient test set the rounding of one kernel against another turns into
different stages. Pinning all three to AVX2, the widest level every such CPU has, removes that;
one intra-op thread per job (the runners' default) removes the thread-count dependence.

The switches must be in the environment before torch is imported: the ``cirrbench`` command
sets them first thing (``CIRRBENCH_REPRODUCIBLE=fast`` skips them), worker processes inherit
them, and :func:`check_process` refuses a bitwise run in a process whose torch was imported with
other kernels, before any job. On a GPU, bitwise asks torch for deterministic algorithms
(cuBLAS workspace, cuDNN without autotuning); what torch has no deterministic kernel for is
named in :func:`kernel_report`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from cirrbench.benchmark.common.provenance import cpu_model

__all__ = [
    "BITWISE_PINS",
    "MODES",
    "KernelError",
    "check_process",
    "configure_torch",
    "deterministic_algorithms",
    "kernel_report",
    "pin_kernels",
]

#: reproducible: bitwise | fast (the config key; ``CIRRBENCH_REPRODUCIBLE`` for the command line).
MODES = ("bitwise", "fast")

#: The environment of a bitwise run: torch's ATen kernels, oneDNN's ISA and MKL's conditional
#: numerical reproducibility, all at AVX2; cuBLAS's deterministic workspace for GPUs.
BITWISE_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN's former name for the same switch
    "MKL_CBWR": "AVX2,STRICT",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}


class KernelError(RuntimeError):
    """A bitwise run in a process whose kernels cannot be pinned any more."""


#: What the environment held before :func:`pin_kernels` replaced it (restored by ``fast``).
_SAVED: dict[str, str | None] = {}


def pin_kernels(mode: str = "bitwise") -> dict[str, str]:
    """Put the pins in this process's environment (bitwise) and return them; ``fast`` restores
    what the environment held before, so workers started later choose their own kernels.

    Effective for torch only if it has not been imported yet (here or in a worker started later).

    Args:
        mode: ``bitwise`` or ``fast`` (the config key ``reproducible``).

    Returns:
        The variables set (empty for ``fast``).
    """
    if mode not in MODES:
        raise ValueError(f"reproducible must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "fast":
        for name, value in _SAVED.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _SAVED.clear()
        return {}
    for name, value in BITWISE_PINS.items():
        if os.environ.get(name) != value:
            _SAVED.setdefault(name, os.environ.get(name))
            os.environ[name] = value
    return dict(BITWISE_PINS)


def _torch_capability() -> str | None:
    """The ATen CPU capability of this process's torch, or None where torch is not imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return str(torch.backends.cpu.get_cpu_capability())


def check_process(mode: str) -> None:
    """Refuse a bitwise run in a process whose torch already chose other kernels (the Python API
    after ``import torch``): its jobs would not give the bytes another machine gives."""
    if mode != "bitwise":
        return
    capability = _torch_capability()
    if capability is not None and capability.lower() != BITWISE_PINS["ATEN_CPU_CAPABILITY"]:
        raise KernelError(
            f"reproducible: bitwise needs torch's CPU kernels pinned to AVX2 before torch is imported, "
            f"but this process imported it with {capability}: run through the cirrbench command (it pins them), "
            "call cirrbench.pin_kernels() before importing torch, or set reproducible: fast"
        )


def configure_torch(mode: str, device: str) -> None:
    """In the process that trains: deterministic algorithms on a GPU under bitwise (CPU kernels are
    already pinned through the environment)."""
    if mode != "bitwise" or not device.startswith("cuda"):
        return
    import torch

    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def deterministic_algorithms(compiling: bool = False) -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without importing torch's
    compiler package: the public call imports ``torch._inductor`` to copy the flag into the
    compiler's settings, which costs ~0.8 s of CPU in every fresh process that trains (each pool
    worker, each test subprocess). Only ``torch.compile`` reads that copy, so the compiler's
    settings are set too when ``compiling`` or when the compiler is loaded already."""
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if compiling or "torch._inductor.config" in sys.modules or setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


def kernel_report(mode: str, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """What decided this process's float results: for provenance (the manifest and each job)."""
    report: dict[str, Any] = {
        "reproducible": mode,
        "cpu_model": cpu_model(),
        "pinned": {name: os.environ[name] for name in BITWISE_PINS if name in os.environ},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        report["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
        report["threads_per_job"] = int(threads if threads is not None else torch.get_num_threads())
        if device.startswith("cuda") and torch.cuda.is_available():
            report["gpu"] = torch.cuda.get_device_name(torch.device(device))
            report["cuda"] = torch.version.cuda
            report["cudnn"] = torch.backends.cudnn.version()
            report["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
            report["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
            report["not_deterministic"] = (
                "ops without a deterministic CUDA kernel (e.g. some scatter/index_add backward passes) warn and "
                "run as they are; bf16/fp16 autocast rounds as the GPU's tensor cores do"
            )
    return report

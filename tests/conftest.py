"""Shared fixtures: tiny phantoms generated once per test session, copied per test when mutated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cirrbench.benchmark.common.kernels import pin_kernels
from cirrbench.benchmark.data.phantom import PhantomConfig, write_phantom

# As the cirrbench command does, before any test imports torch: bitwise runs in this process too.
pin_kernels("bitwise")

TINY = PhantomConfig(patients=12, seed=7, healthy=2, scale=0.4, sub_slices=1)

#: Modules whose module-scoped fixture is a costly build (a run and its report, a study phantom and
#: its features, a clean run): under ``--dist loadgroup`` (``./run_all.sh --test``) all of a listed
#: module's tests go to one worker, so the fixture is built once instead of by each worker that
#: draws one of its tests (about 20 s of the suite's time, summed over workers). Whole modules,
#: not xdist_group marks: pytest-xdist 3.8 ignores the marks under pytest 9.2
#: (pytest-dev/pytest-xdist#1386).
ONE_WORKER_MODULES = frozenset({"tests/test_report.py", "tests/test_baselines.py", "tests/test_faults.py"})


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: without it, never called
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup`` as pytest-xdist's own, plus one work unit per module listed above."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class OneWorkerPerListedModule(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else super()._split_scope(nodeid)

    return OneWorkerPerListedModule(config, log)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache from tests."""
    monkeypatch.setenv("CIRRBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    """A read-only 12-patient phantom (with 2 healthy volunteers). Copy it before changing it."""
    return write_phantom(tmp_path_factory.mktemp("phantom") / "cohort", TINY, progress=False)


@pytest.fixture
def phantom_copy(tiny_phantom, tmp_path) -> Path:
    target = tmp_path / "cohort"
    shutil.copytree(tiny_phantom, target)
    return target


@pytest.fixture(scope="session")
def contract_phantom(tmp_path_factory) -> Path:
    """24 patients on small grids: enough per class for learners that cross-validate internally."""
    config = PhantomConfig(patients=24, seed=3, healthy=0, scale=0.3, sub_slices=1)
    return write_phantom(tmp_path_factory.mktemp("contract") / "cohort", config, progress=False)

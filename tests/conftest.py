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

"""House rules, checked: ruff lint and format (line length 120), no import cycle between modules,
no module importing another's private names, every public module declaring ``__all__``, mypy clean."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "benchmark": "cirrbench.benchmark",
    "baselines": "cirrbench.baselines",
    "models": "cirrbench.models",
    "cirrbench": "cirrbench",
}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *[p for p in parts if p != "__init__"]])
            found[name] = path
    return found


def ruff() -> list[str]:
    found = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(found).exists():
        pytest.skip("ruff is not installed (pip install -e .[test])")
    return [found]


def test_type_checker_passes_from_the_repository_root():
    """mypy, configured in pyproject.toml, resolves cirrbench.* through the links in cirrbench/
    (the way an IDE run from the checkout does) and finds no error."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e .[test])")
    for folder in ("benchmark", "baselines", "models"):
        link = ROOT / "cirrbench" / folder
        assert link.is_dir() and link.resolve() == (ROOT / folder).resolve(), (
            f"cirrbench/{folder} must link to ../{folder}"
        )
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert "Success" in done.stdout


def test_ruff_lint_passes():
    done = subprocess.run([*ruff(), "check", str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_ruff_format_is_applied():
    done = subprocess.run([*ruff(), "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + "\nrun: ruff format ."


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a file, inside functions too (an import deferred into a
    function is still a dependency; only ``if TYPE_CHECKING:`` blocks import nothing at run time)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for child in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_no_import_cycles():
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        for module, imported in imports_of(path):
            targets = [module] + [f"{module}.{n}" for n in imported]
            graph[name] |= {t for t in targets if t in known and t != name}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cirrbench"):
                offenders += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and a.name != "__version__"
                ]
    assert offenders == []


def test_every_public_module_declares_all():
    missing = [
        name
        for name, path in modules().items()
        if not path.name.startswith("_") and "__all__" not in path.read_text() and path.parent.name != "backbones"
    ]
    assert missing == [], f"add __all__ to: {missing}"


#: What each part may import (besides itself): data flows one way, cohort -> splits -> runners ->
#: predictions -> metrics -> tables, and the harness never imports a runner family. docs/architecture.md
#: draws the same rules; cirrbench's own API, command line and perf sit above everything.
ALLOWED_IMPORTS = {
    "benchmark.common": set(),
    "benchmark.data": {"benchmark.common"},
    "benchmark.protocols": {"benchmark.common", "benchmark.data"},
    "benchmark.runners": {"benchmark.common", "benchmark.data"},
    "benchmark.reporting": {"benchmark.common", "benchmark.data", "benchmark.protocols", "benchmark.runners"},
    "benchmark.execution": {
        "benchmark.common",
        "benchmark.data",
        "benchmark.protocols",
        "benchmark.runners",
        "benchmark.reporting",
    },
    "baselines": {"benchmark.common", "benchmark.data", "benchmark.runners"},
    # the foundation family (models/foundation) puts the radiomics heads on frozen embeddings
    "models": {"benchmark.common", "benchmark.data", "benchmark.runners", "baselines"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    if parts[:2] == ["cirrbench", "benchmark"]:
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else "cirrbench"


def test_each_part_imports_only_the_parts_below_it():
    offenders = []
    for name, path in modules().items():
        allowed = ALLOWED_IMPORTS.get(_part(name))
        if allowed is None:
            continue  # the API, the command line and perf may use every part
        for module, _ in imports_of(path):
            if module.startswith("cirrbench.") and _part(module) not in allowed | {_part(name)}:
                offenders.append(f"{name} imports {module}")
    assert offenders == [], "\n".join(offenders)


def test_no_function_is_longer_than_80_lines():
    """A function that no longer fits on a screen does several jobs: split it (decorators excluded)."""
    long = [
        f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == [], "\n".join(long)


def test_tests_import_the_installed_names_only():
    """``import baselines...`` from a test loads a second copy of the module beside
    ``cirrbench.baselines...``: its runners replace the registered ones, and a monkeypatch of the
    installed module then misses them (tests failed by the order xdist ran them in)."""
    bare = ("benchmark", "baselines", "models")
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in bare]
    assert found == [], "import cirrbench.<part>... instead:\n" + "\n".join(found)


def test_each_module_run_on_one_worker_exists_and_shares_a_module_fixture():
    """A renamed module would silently drop out of conftest.ONE_WORKER_MODULES (its fixture then
    built per worker again); a module without a module-scoped fixture gains nothing from it."""
    from conftest import ONE_WORKER_MODULES

    for name in sorted(ONE_WORKER_MODULES):
        path = ROOT / name
        assert path.is_file(), f"conftest.ONE_WORKER_MODULES lists {name}, which does not exist"
        assert '@pytest.fixture(scope="module")' in path.read_text(), f"{name} has no module-scoped fixture"


def test_the_tests_run_without_pytest_xdist():
    """conftest.py implements a pytest-xdist hook; without the plugin, pytest must still run."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "tests/test_splits.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

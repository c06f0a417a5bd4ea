"""Every repository path, `cirrbench` command and `./run_all.sh` flag that README.md, results/README.md
and docs/ name exists: a renamed module or a removed option cannot leave the docs behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "results" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("benchmark", "baselines", "models", "results", "tests", "docs", "scripts", "examples", "cirrbench", ".ci")
FILES = ("pyproject.toml", "run_all.sh", "README.md")
#: Files a run writes (named in the docs, absent from a clean checkout).
WRITTEN = ("results/predictions", "results/cache", "results/jobs", "results/failures", "results/.report.json")


def _quoted(path: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", path.read_text(encoding="utf-8"))


def _repository_paths(doc: Path) -> set[str]:
    """Backquoted names that are paths of this repository (no placeholders, globs or options)."""
    found = set()
    for text in _quoted(doc):
        for token in text.split():
            token = token.strip("(),;:'\"").removeprefix("./")
            if any(c in token for c in "<>{}*$[]|=") or token.startswith(("-", "~", "/", "http")):
                continue
            if token in FILES or (token.split("/")[0] in TOP and "/" in token):
                found.add(token.split("::")[0].split(":")[0].rstrip("/."))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_the_docs_name_exists(doc):
    missing = sorted(p for p in _repository_paths(doc) if not p.startswith(WRITTEN) and not (ROOT / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cirrbench_command_the_docs_name_exists(doc):
    from cirrbench.cli import build_parser

    parser = build_parser()
    for line in re.findall(r"`cirrbench ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", doc.read_text(encoding="utf-8")):
        words = line.split()
        try:
            parser.parse_args([*words, "--help"])
        except SystemExit as exc:
            # "cirrbench run tiny": the second word may be an argument, not a subcommand
            if exc.code != 0:
                parser.parse_args([words[0], "--help"])
        except Exception as error:  # pragma: no cover - names the failing line
            raise AssertionError(f"{doc.name}: `cirrbench {line}`: {error}") from error


def test_every_run_all_flag_the_docs_name_is_in_its_help():
    usage = (ROOT / "run_all.sh").read_text()
    for doc in DOCS:
        for flags in re.findall(r"`\./run_all\.sh([^`]*)`", doc.read_text(encoding="utf-8")):
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", flags):
                if flag.startswith("--") and flag not in usage:
                    # options after --test go to pytest, after other flags to cirrbench reproduce
                    assert "--test" in flags or flag in _reproduce_help(), f"{doc.name}: ./run_all.sh {flag} unknown"


def _reproduce_help() -> str:
    import contextlib
    import io

    from cirrbench.cli import build_parser

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        build_parser().parse_args(["reproduce", "--help"])
    return buffer.getvalue()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_in_page_link_reaches_a_heading(doc):
    """GitHub's anchors: lower case, punctuation dropped, spaces as hyphens."""
    text = doc.read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"(?m)^#+ (.+)$", text)}
    broken = sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors)
    assert not broken, f"{doc.relative_to(ROOT)}: links to missing headings {broken}"


#: A module path the code's docstrings and the docs name: ``cirrbench.benchmark.data.validate``,
#: a Sphinx role's target (``:func:`cirrbench.models.train.train```), or one written without the
#: package prefix (``benchmark.evaluation``, which no longer resolves).
_DOTTED = re.compile(
    r":(?:mod|func|class|data|meth|attr):`~?((?:cirrbench|benchmark|baselines|models)\.[\w.]+)`"
    r"|(?<![\w/.`-])(cirrbench\.(?:benchmark|baselines|models|cli|perf)\.[a-z_][\w.]*[a-z_])"
)


def _resolves(name: str) -> bool:
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_module_path_named_in_code_and_docs_resolves():
    """Dotted names in docstrings, comments and docs import (a rename cannot leave them stale),
    and each carries the installed prefix cirrbench."""
    sources = [p for folder in ("benchmark", "baselines", "models", "cirrbench") for p in (ROOT / folder).rglob("*.py")]
    sources = [
        p for p in sources if p.relative_to(ROOT).parts[1:2] not in (("benchmark",), ("baselines",), ("models",))
    ]
    stale = []
    for path in [*sources, *DOCS]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _DOTTED.finditer(line):
                name = (match.group(1) or match.group(2)).rstrip(".")
                if not name.startswith("cirrbench.") or not _resolves(name):
                    stale.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not stale, "names that do not resolve (write cirrbench.<package>.<module>):\n" + "\n".join(stale)

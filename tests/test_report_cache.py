"""The warm rerun: a report is reused only when nothing it reads changed, and a rebuild after any
change gives the bytes of a full build."""

from __future__ import annotations

from pathlib import Path

import runners_for_tests  # noqa: F401  (registers the stand-in runners)
from helpers import experiment_config

from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment
from cirrbench.benchmark.reporting import report_cache
from cirrbench.benchmark.reporting.report import build_report


def _run(root: Path, out: Path, **overrides):
    raw = experiment_config(root, **{"inputs": ["T1W"], "metrics": {"bootstrap": 50}, **overrides})
    return run_experiment(parse_experiment(raw, "c.yaml"), RunOptions(out=out, progress=False, jobs=1))


def _outputs(out: Path) -> dict[str, tuple[int, bytes]]:
    files = [
        *out.glob("tables/*"),
        *out.glob("figures/*"),
        *out.glob("metrics/*"),
        out / "REPORT.md",
        out / "manifest.json",
    ]
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes()) for p in files}


def test_an_unchanged_rerun_keeps_every_file_and_says_so(tiny_phantom, tmp_path, capsys):
    out = tmp_path / "results"
    _, first = _run(tiny_phantom, out)
    assert not first.reused and (out / report_cache.STATE_NAME).is_file()
    before = _outputs(out)
    _, again = _run(tiny_phantom, out)
    assert again.reused and "report: up to date, nothing it reads changed" in capsys.readouterr().out
    assert _outputs(out) == before  # not one file rewritten, the manifest included
    assert again.main_markdown() == first.main_markdown()  # the run prints the same verdict and tables


def test_a_deleted_or_edited_output_or_a_changed_setting_rebuilds_to_a_full_builds_bytes(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    _run(tiny_phantom, out)
    table = next(out.glob("tables/main_*.md"))
    expected = table.read_bytes()
    table.unlink()
    _, report = _run(tiny_phantom, out)
    assert not report.reused and table.read_bytes() == expected
    table.write_text("edited by hand")
    _, report = _run(tiny_phantom, out)
    assert not report.reused and table.read_bytes() == expected
    _, report = _run(tiny_phantom, out, metrics={"bootstrap": 60})
    assert not report.reused


def test_a_changed_source_file_rebuilds(tiny_phantom, tmp_path, monkeypatch):
    out = tmp_path / "results"
    plugin = tmp_path / "drawing.py"
    plugin.write_text("# a figure's code\n")
    sources = report_cache._sources
    monkeypatch.setattr(report_cache, "_sources", lambda plugins: [*sources(plugins), plugin])
    _run(tiny_phantom, out)
    assert _run(tiny_phantom, out)[1].reused
    plugin.write_text("# the figure's code, changed\n")
    assert not _run(tiny_phantom, out)[1].reused


def test_cirrbench_report_always_rebuilds(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    _run(tiny_phantom, out)
    assert not build_report(out).reused

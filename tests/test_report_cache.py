"""The warm rerun: a report is reused only when nothing it reads changed, and a rebuild after any
change gives the bytes of a full build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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


def _written(out: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes()) for p in _report_files(out)}


def _report_files(out: Path) -> list[Path]:
    return sorted(
        [*out.glob("tables/*"), *out.glob("figures/*"), *out.glob("metrics/*"), out / "REPORT.md", out / "report.html"]
    )


def test_a_changed_runner_redraws_only_its_figures_and_matches_a_full_build(tiny_phantom, tmp_path, caplog):
    out = tmp_path / "results"

    def runners(sharpness: float) -> list:
        return ["majority", {"name": "test-slices", "params": {"sharpness": sharpness}}, "test-deep"]

    _run(tiny_phantom, out, runners=runners(2.0), compare=[["test-slices", "test-deep"]])
    before = _written(out)
    with caplog.at_level("INFO", logger="cirrbench.benchmark.reporting.report"):
        _, report = _run(tiny_phantom, out, runners=runners(0.1), compare=[["test-slices", "test-deep"]])
    assert not report.reused and "figure(s) kept (nothing they show changed)" in caplog.text
    after = _written(out)
    redrawn = {name for name in after if name.startswith("figures/") and after[name][0] != before[name][0]}
    figures = {name for name in after if name.startswith("figures/") and not name.startswith("figures/cohort")}
    # test-slices is in the declared pair's differences, the forest plot, the pairwise matrix, the ROC and its
    # family's confusion figure; the reference's and the deep stand-in's confusion figures are kept.
    shows_it = {
        "declared_official",
        "forest_official",
        "pairwise_official_T1W",
        "roc_official",
        "confusion_official_other",
    }
    assert redrawn == {name for name in figures if Path(name).stem in shows_it}
    assert after["tables/main_official_patient.csv"][1] != before["tables/main_official_patient.csv"][1]

    partial = {name: content for name, (_, content) in after.items()}
    build_report(out)  # every figure drawn again
    assert {name: content for name, (_, content) in _written(out).items()} == partial


def test_a_memo_returns_what_an_earlier_build_computed_from_the_same_inputs_only():
    frame = pd.DataFrame({"patient_id": ["p1", "p2"], "prob_mild": [0.2, 0.9]})
    first = report_cache.Memo("code")
    assert first.value("metrics", ("patient", frame), lambda: {"accuracy": 0.5}) == {"accuracy": 0.5}
    later = report_cache.Memo("code", json.loads(json.dumps(first.current)))
    assert later.value("metrics", ("patient", frame.copy()), lambda: pytest.fail("recomputed")) == {"accuracy": 0.5}
    changed = frame.assign(prob_mild=[0.2, 0.8])
    assert later.value("metrics", ("patient", changed), lambda: {"accuracy": 1.0}) == {"accuracy": 1.0}
    assert report_cache.Memo("other code", later.current).value("metrics", ("patient", frame), lambda: 7) == 7
    # what has no stable hash is computed every time and never kept
    assert later.value("metrics", (np.array([object()]),), lambda: 3) == 3 and len(later.current["metrics"]) == 2


def test_content_hash_sees_values_and_order_not_identity():
    from cirrbench.benchmark.common.hashing import content_hash

    a = pd.DataFrame({"x": [1.0, 2.0]}, index=[3, 4])
    assert content_hash(a) == content_hash(a.copy())
    assert content_hash(a) != content_hash(a.set_axis([4, 3]))  # same values, other row labels
    assert content_hash({"a": 1, "b": 2}) != content_hash({"b": 2, "a": 1})  # insertion order can matter
    assert content_hash([1, 2]) != content_hash((1, 2)) and content_hash(1) != content_hash(1.0)
    assert content_hash(np.zeros(3, np.float32)) != content_hash(np.zeros(3, np.float64))
    assert content_hash(object()) is None


def test_other_figure_formats_redraw_every_figure_and_remove_the_files_of_the_old_ones(tiny_phantom, tmp_path):
    """Figures are keyed by their formats too: asking for SVG draws it, and PDFs the config no
    longer asks for go, as files of an earlier config do; the PNGs stay the same bytes."""
    out = tmp_path / "results"
    _run(tiny_phantom, out, figures={"formats": ["png", "pdf"]})
    pngs = {p.name: p.read_bytes() for p in out.glob("figures/forest_*.png")}
    assert pngs and {p.stem for p in out.glob("figures/forest_*.pdf")} == {p.removesuffix(".png") for p in pngs}
    _, report = _run(tiny_phantom, out, figures={"formats": ["svg", "png"]})
    assert not report.reused
    assert not list(out.glob("figures/*.pdf"))
    svgs = sorted(out.glob("figures/forest_*.svg"))
    assert [p.stem for p in svgs] == sorted(p.removesuffix(".png") for p in pngs)
    assert {p.name: p.read_bytes() for p in out.glob("figures/forest_*.png")} == pngs
    assert all(p.read_text().lstrip().startswith("<?xml") and "<dc:date>" not in p.read_text() for p in svgs)
    files = [p for p in report.files if p.parent.name == "figures" and p.name.startswith("forest_")]
    assert [p.suffix for p in files[:2]] == [".png", ".svg"]  # the PNG first, whatever the config's order


def test_another_resolution_redraws_the_pngs_at_that_many_pixels_per_inch(tiny_phantom, tmp_path):
    from PIL import Image

    out = tmp_path / "results"
    _run(tiny_phantom, out, figures={"formats": ["png"], "dpi": 60})
    with Image.open(next(out.glob("figures/forest_*.png"))) as image:
        low = image.size
    _, report = _run(tiny_phantom, out, figures={"formats": ["png"], "dpi": 120})
    assert not report.reused
    with Image.open(next(out.glob("figures/forest_*.png"))) as image:
        high = image.size
    assert all(1.9 < h / lo < 2.1 for h, lo in zip(high, low)), (low, high)
    assert json.loads((out / "manifest.json").read_text())["report"]["figure_dpi"] == 120

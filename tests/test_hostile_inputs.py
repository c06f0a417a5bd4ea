"""Hostile inputs (issue "Hostile inputs: names, signals and faults"): names that would leave the
results folder or trip a shell, display names that carry HTML, formulas for spreadsheets."""

from __future__ import annotations

import dataclasses

import pytest

from cirrbench.benchmark.common.escaping import csv_cell, html_text, latex_text, markdown_cell, markdown_text
from cirrbench.benchmark.common.paths import NAME_PATTERN, name_problem
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.reporting.table_format import Table
from cirrbench.benchmark.runners.contract import Runner
from cirrbench.benchmark.runners.registry import register_runner

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    "text, expected",
    [
        (HOSTILE, "&lt;img src=x onerror=alert(1)>"),
        ("</script>", "&lt;/script>"),
        ("<!-- hidden -->", "&lt;!-- hidden -->"),
        ("a &amp; b", "a &amp;amp; b"),
        ("p < 0.05, <0.001, A & B", "p < 0.05, <0.001, A & B"),  # the suite's own text stays as it is
        ("**0.583 [0.417, 0.750]**†", "**0.583 [0.417, 0.750]**†"),
    ],
)
def test_markdown_text_passes_no_html(text, expected):
    assert markdown_text(text) == expected


def test_a_markdown_cell_cannot_end_early():
    assert markdown_cell("a | b") == r"a \| b"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+cmd", "'+cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-x", "'-x"),
        ("-0.333 [-0.5, 0.1]", "-0.333 [-0.5, 0.1]"),  # a negative number is data
        ("-.5", "-.5"),
        ("+0.113 [-0.043, +0.269]", "+0.113 [-0.043, +0.269]"),
        ("0.583", "0.583"),
        ("a=b", "a=b"),
        (0.5, 0.5),
    ],
)
def test_csv_cells_never_start_a_formula(value, expected):
    assert csv_cell(value) == expected


def test_html_and_latex_forms():
    assert html_text(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;"
    assert latex_text("deep$x$ 50% #1") == r"deep\$x\$ 50\% \#1"


def test_a_hostile_display_name_is_inert_in_every_rendering():
    table = Table("main", f"{HOSTILE} caption", ["Method", "T1W"], [[HOSTILE, "0.5"], ["=HYPERLINK(1)", "0.4"]])
    assert "<img" not in table.to_markdown()
    assert "<img" not in table.to_html()
    frame = table.to_frame()
    assert list(frame["Method"]) == [HOSTILE, "'=HYPERLINK(1)"]


@pytest.mark.parametrize(
    "alias", ["../../../../../escaped", "deep$x$ 50%", ".hidden", "=HYPERLINK(1)", "a/b", "x" * 65]
)
def test_an_alias_that_is_no_file_name_is_a_config_error_naming_the_key(alias):
    raw = {"runners": ["majority", {"name": "radiomics-logreg", "as": alias}]}
    with pytest.raises(ConfigError) as caught:
        parse_experiment(raw, "c.yaml")
    (line,) = [p for p in caught.value.problems if ".as" in p]
    assert "runners[1] (radiomics-logreg).as" in line and NAME_PATTERN in line


@pytest.mark.parametrize("name", ["radiomics-logreg-defaultfeatures", "deep_2.5d", "msa+clinical", "A1"])
def test_ordinary_names_pass(name):
    assert name_problem(name) is None


def test_the_config_name_follows_the_pattern():
    with pytest.raises(ConfigError, match=r"name: '\.\./x' does not match"):
        parse_experiment({"name": "../x", "runners": ["majority"]}, "c.yaml")


def test_a_plugin_runner_whose_name_or_variant_is_no_file_name_is_refused():
    @dataclasses.dataclass
    class Params:
        pass

    with pytest.raises(ValueError, match=r"runner name '\.\./up' does not match"):
        register_runner(type("Up", (Runner,), {"name": "../up", "Params": Params}))
    with pytest.raises(ValueError, match=r"runner variant 'a b' does not match"):
        register_runner(type("Spaced", (Runner,), {"name": "spaced", "Params": Params, "variants": {"a b": {}}}))


# ---- one path builder: nothing is written outside the results folder ------------------------------
def test_inside_refuses_every_way_out(tmp_path):
    from cirrbench.benchmark.common.paths import UnsafePathError, inside

    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "tables", "main_cv_patient.csv") == out / "tables" / "main_cv_patient.csv"
    for parts in [
        ("../escaped.csv",),
        ("top_features_../../../x_official.csv",),
        ("/etc/passwd",),
        ("a", "..", "..", "b"),
    ]:
        with pytest.raises(UnsafePathError, match="outside"):
            inside(out, *parts)
    (out / "linked").symlink_to(tmp_path)  # a link out of the folder, followed
    with pytest.raises(UnsafePathError, match="outside"):
        inside(out, "linked", "x.csv")


def test_a_table_or_store_folder_that_would_leave_the_results_folder_is_refused(tmp_path):
    from cirrbench.benchmark.common.paths import UnsafePathError
    from cirrbench.benchmark.common.results_store import ResultsStore

    folder = tmp_path / "results" / "tables"
    folder.mkdir(parents=True)
    with pytest.raises(UnsafePathError):
        Table("ablation_../../../../escaped_official_patient", "c", ["Method"], [["x"]]).write(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    (tmp_path / "results" / "figures").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="figures"):
        _ = ResultsStore(tmp_path / "results").figures_dir


def test_docs_robustness_lists_every_fault_case_and_is_current():
    """docs/robustness.md is generated from the tests: at least 150 cases, none missing."""
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = runpy.run_path(str(root / "scripts" / "robustness_table.py"))
    assert script["main"](["--check"]) == 0, "docs/robustness.md is out of date: run scripts/robustness_table.py"
    text = (root / "docs" / "robustness.md").read_text()
    total = int(text.rsplit("Total: ", 1)[1].split()[0])
    assert total >= 150 and total == text.count("\n| `")
    assert "[docs/robustness.md](docs/robustness.md)" in (root / "README.md").read_text()


def test_a_plugin_protocol_whose_name_is_no_file_name_is_refused():
    from cirrbench.benchmark.protocols.registry import register_protocol

    with pytest.raises(ValueError, match=r"protocol name '\.\./splits' does not match"):
        register_protocol("../splits", description="x")

"""LaTeX tables fit a two-column paper: one column when narrow, both when wide, CIs under their
values (top-aligned, on the row's baseline) when even both would shrink them, long names wrapped,
and a short note in the float with every note kept as a comment."""

from __future__ import annotations

from cirrbench.benchmark.reporting.table_format import COLUMN_CHARACTERS, Table

ESTIMATE = "0.624 ± 0.019 [0.398, 0.850]"


def _table(columns: int, lead: str = "XGBoost", notes: list[str] | None = None) -> Table:
    header = ["Method", *[f"C{i}" for i in range(columns)]]
    return Table("t", "A caption", header, [[lead, *[ESTIMATE] * columns]], notes=notes or [])


def test_the_float_and_the_cells_follow_the_width():
    narrow, wide, widest = _table(1), _table(4), _table(8)
    assert narrow.text_width() <= COLUMN_CHARACTERS and "\\begin{table}[t]" in narrow.to_latex()
    assert "\\begin{table*}[t]" in wide.to_latex() and "\\end{table*}" in wide.to_latex()
    inline = "0.624\\,{\\scriptsize $\\pm$0.019\\,[0.398, 0.850]}"
    assert inline in wide.to_latex() and "tabular}[t]" not in wide.to_latex()
    stacked = widest.to_latex()
    assert "\\begin{tabular}[t]{@{}r@{}}0.624\\,{\\scriptsize$\\pm$0.019}\\\\ \\scriptsize [0.398, 0.850]" in stacked
    assert "CIs under their values" in stacked and widest.text_width(stacked=True) < widest.text_width()


def test_long_names_wrap_and_notes_stay_short():
    long_name = "best radiomics: Ordinal logistic (radiomics) vs best deep: Multi-scale sequence attention"
    notes = ["BANNER.", "What the numbers are.", "A third, long note that belongs in the .md."]
    latex = _table(2, long_name, notes).to_latex()
    assert ">{\\raggedright\\arraybackslash}p{18em}" in latex and "\\usepackage{array}" in latex
    shown = next(line for line in latex.splitlines() if line.startswith("\\par\\smallskip"))
    assert "BANNER. What the numbers are. All notes: tables/t.md." in shown and "third" not in shown
    assert "% A third, long note that belongs in the .md." in latex


def _grouped(rows: int) -> Table:
    header = ["Method", *[f"{metric}" for _ in range(3) for metric in ("Acc", "Prec", "Rec", "Spec", "F1")]]
    groups = [(f"{name} (n = 12)", 5) for name in ("T1W", "T2W", "both")]
    rows_ = [[f"M{i}", *[ESTIMATE] * 15] for i in range(rows)]
    return Table("p", "Paper", header, rows_, groups=groups, notes=["BANNER.", "What the numbers are."])


def test_a_table_too_wide_for_a_page_becomes_one_panel_per_input():
    few = _grouped(4).to_latex()
    assert few.count("\\begin{tabular}{") == 3 and few.count("\\begin{table") == 1 and "in one float" in few
    assert few.count("\\label{") == 1 and "\\par\\medskip" in few
    many = _grouped(19).to_latex()  # too tall for one page: a float per panel, the first keeps the label
    assert many.count("\\begin{table*}") == 3 and many.count("\\end{table*}") == 3
    assert "\\label{tab:p}" in many and "\\label{tab:p-2}" in many and "continued: T2W (n = 12)" in many
    assert many.index("All notes: tables/p.md") > many.rindex("\\begin{table*}")  # notes under the last panel

"""Free text made inert for each format it reaches: Markdown, HTML, LaTeX and CSV.

Display names are free text (a plugin's ``display_name``, an alias); they reach ``REPORT.md``,
``tables/*.md`` (rendered by editors, notebooks and static-site generators, which pass raw HTML
through), the HTML page, LaTeX tables and CSV files opened in spreadsheets. Each writer passes its
text through the function for its format, here and nowhere else. The Markdown and CSV forms only
touch what could act (a tag, an entity, a cell separator, a formula), so the suite's own text,
such as ``p < 0.05`` or ``-0.333``, is written unchanged.
"""

from __future__ import annotations

import html as _html
import re

__all__ = ["csv_cell", "html_text", "latex_text", "markdown_cell", "markdown_text"]

#: What pdflatex cannot take as it is, and what it needs instead.
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "±": r"$\pm$",
    "<": r"$<$",
    ">": r"$>$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "†": r"$^\dagger$",
    "—": "---",
    "–": "--",
    "−": "$-$",
    "→": r"$\rightarrow$",
}

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what a Markdown renderer would pass on as HTML
_ENTITY = re.compile(r"&(?=#?\w+;)")
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d.]))")  # OWASP's CSV-injection triggers; -0.333 and +0.1 are numbers


def latex_text(text: str) -> str:
    """Text as pdflatex reads it literally (special characters escaped, symbols in math mode)."""
    out = "".join(_LATEX.get(ch, ch) for ch in str(text))
    if any(ord(ch) > 127 for ch in out):
        bad = sorted({ch for ch in out if ord(ch) > 127})
        raise ValueError(f"no LaTeX form for {''.join(bad)!r} in {text!r}; add it to escaping._LATEX")
    return out


def html_text(text: str) -> str:
    """Text inside an HTML element or attribute."""
    return _html.escape(str(text), quote=True)


def markdown_text(text: str) -> str:
    """Markdown prose with no raw HTML: a ``<`` that would open a tag and a ``&`` that would start
    an entity become entities; Markdown emphasis is left alone (the suite writes ``**bold**``)."""
    return _TAG_START.sub("&lt;", _ENTITY.sub("&amp;", str(text)))


def markdown_cell(text: str) -> str:
    """A Markdown table cell: :func:`markdown_text`, and a ``|`` cannot end the cell."""
    return markdown_text(text).replace("|", r"\|")


def csv_cell(value: object) -> object:
    """A CSV value a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value

"""A table and its renderings: Markdown, LaTeX (booktabs, compiles with pdflatex), CSV and HTML.

A cell is plain text with two optional marks: ``**bold**`` for the best value of a column and a
trailing ``*`` (or ``†`` for worse) for a significant paired test. Rows come in blocks: the
measured rows first, then titled blocks such as "reported, not rerun" or "exploratory", each
under its own rule, never mixed with measured rows. CSV keeps row ids (registry names) next to
the display names that Markdown, LaTeX and HTML show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.escaping import csv_cell, html_text, latex_text, markdown_cell, markdown_text
from cirrbench.benchmark.common.paths import inside

__all__ = ["Block", "Table", "INPUT_ORDER", "latex_escape"]

latex_escape = latex_text  # the name the table writers and plugins use

INPUT_ORDER = ["T1W", "T2W", "both"]

# ``0.583 [0.417, 0.750]``, with the SD over training seeds where there are several:
# ``0.583 ± 0.048 [0.417, 0.750]``; a trailing ``*`` / ``†`` marks a difference from the reference.
_ESTIMATE = re.compile(
    r"^(?P<value>[+-]?\d+\.\d+)(?: ± (?P<spread>\d+\.\d+))? \[(?P<low>[+-]?\d+\.\d+), (?P<high>[+-]?\d+\.\d+)\](?P<mark>[*†]?)$"
)


#: Estimated natural widths (characters of body text) up to which a table fits one column of a
#: two-column paper (about 3.3 in at 10 pt); wider tables span both columns (``table*``).
COLUMN_CHARACTERS = 58
#: Above this many characters even both columns (about 7 in) would shrink the table to an
#: illegible size: each CI then goes under its value (top-aligned, so the value keeps the row's
#: baseline), about halving the width.
PAGE_CHARACTERS = 150
#: A first column longer than this (long pair names) wraps in a paragraph column of this width.
LEAD_CHARACTERS = 36
#: Lines of table text a float may hold (a page of a two-column paper at 10 pt, caption and notes aside).
PAGE_LINES = 50


def _tex_cell(cell: str, stacked: bool = False) -> str:
    """A cell with its marks: ``**x**`` -> bold, a trailing ``*`` -> superscript star; an estimate
    keeps its spread and CI on the value's line in a smaller font (one baseline per row)."""
    cell = str(cell)
    bold = cell.startswith("**") and "**" in cell[2:]
    plain = cell.replace("**", "")
    match = _ESTIMATE.match(plain)
    if match:
        value = match["value"]
        value = r"\textbf{" + value + "}" if bold else value
        mark = latex_escape(match["mark"]).replace("*", "$^*$") if match["mark"] else ""
        interval = f"[{match['low']}, {match['high']}]".replace("-", "$-$")
        value = value.replace("-", "$-$")
        if stacked:
            spread = r"\,{\scriptsize$\pm$" + match["spread"] + "}" if match["spread"] else ""
            return (
                r"\begin{tabular}[t]{@{}r@{}}"
                + value
                + mark
                + spread
                + r"\\ \scriptsize "
                + interval
                + r"\end{tabular}"
            )
        spread = r"$\pm$" + match["spread"] + r"\," if match["spread"] else ""
        return value + mark + r"\,{\scriptsize " + spread + interval + "}"
    bold = cell.startswith("**") and "**" in cell[2:]
    if bold:
        end = cell.index("**", 2)
        inner, rest = cell[2:end], cell[end + 2 :]
    else:
        inner, rest = cell, ""
    star = ""
    if (rest or inner).endswith("*") and not (rest or inner).endswith("**"):
        if rest:
            rest, star = rest[:-1], "$^*$"
        else:
            inner, star = inner[:-1], "$^*$"
    text = latex_escape(inner)
    if bold:
        text = r"\textbf{" + text + "}"
    return text + latex_escape(rest) + star


def _plain(cell: str) -> str:
    return str(cell).replace("**", "")


@dataclass
class Block:
    """A titled group of rows below the measured ones (``reported, not rerun``, ``exploratory``)."""

    title: str
    rows: list[list[str]]
    ids: list[str] = field(default_factory=list)


@dataclass
class Table:
    """A rendered table.

    Args:
        name: file stem (``main_cv_patient``); also the LaTeX label ``tab:<name>``.
        caption: one line saying what the table shows.
        header: column names; with ``groups``, the names under each group.
        rows: measured rows (display names in the first column).
        ids: per measured row, the id kept in CSV (registry name, variant); empty: none.
        blocks: further titled blocks of rows.
        notes: lines under the table (CI method, tests, marks, the phantom banner).
        groups: column groups above ``header`` as (label, span); the first ``lead`` columns
            have no group.
        lead: leading columns outside any group.
    """

    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    ids: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    groups: list[tuple[str, int]] = field(default_factory=list)
    lead: int = 1
    #: Files written: a long per-item listing (one row per radiomics feature) is CSV only, and
    #: stays off the page (the page shows tables whose name starts with a family's prefix and "_").
    formats: tuple[str, ...] = ("md", "tex", "csv")

    # ---- renderings -----------------------------------------------------------------------------
    def flat_header(self) -> list[str]:
        """Column names with their group (``T1W accuracy``) for formats with one header row."""
        if not self.groups:
            return list(self.header)
        names = list(self.header[: self.lead])
        index = self.lead
        for label, span in self.groups:
            names += [f"{label} {h}".strip() for h in self.header[index : index + span]]
            index += span
        return names + list(self.header[index:])

    def to_markdown(self) -> str:
        header = self.flat_header()

        def row(cells: list[str]) -> str:
            return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"

        lines = [
            f"**{markdown_text(self.caption)}**",
            "",
            row(header),
            "|" + "|".join("---" for _ in header) + "|",
        ]
        lines += [row(r) for r in self.rows]
        for block in self.blocks:
            lines.append(row([f"*{block.title}*"] + [""] * (len(header) - 1)))
            lines += [row(r) for r in block.rows]
        lines += [""] + [f"{markdown_text(n)}  " for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def text_width(self, stacked: bool = False) -> int:
        """The table's natural width in characters of body text (a CI in the smaller font counts
        three quarters; ``stacked``: each CI under its value), to choose the layout."""
        rows = [self.header, *self.rows, *[r for b in self.blocks for r in b.rows]]
        widths = [0] * len(self.header)
        for row in rows:
            for i, cell in enumerate(row[: len(widths)]):
                plain = str(cell).replace("**", "")
                match = _ESTIMATE.match(plain)
                if match and stacked:
                    size = max(len(plain.split(" [")[0]), round(0.75 * (len(match["low"]) + len(match["high"]) + 4)))
                elif match:
                    size = len(match["value"]) + 1 + round(0.75 * (len(plain) - len(match["value"])))
                else:
                    size = len(plain)
                widths[i] = max(widths[i], size)
        widths[0] = min(widths[0], LEAD_CHARACTERS)  # wraps (see to_latex)
        return sum(widths) + 2 * len(widths)

    def _lead_wraps(self) -> bool:
        rows = [self.header, *self.rows, *[r for b in self.blocks for r in b.rows]]
        return max((len(str(r[0]).replace("**", "")) for r in rows if r), default=0) > LEAD_CHARACTERS

    def to_latex(self) -> str:
        stacked = self.text_width() > PAGE_CHARACTERS
        panels = self._panels() if stacked and self.text_width(stacked) > PAGE_CHARACTERS else [self]
        width = max(panel.text_width(stacked) for panel in panels)
        float_ = "table" if width <= COLUMN_CHARACTERS else "table*"
        # Panels share one float while they fit a page's height, else each gets its own float.
        lines_per_row = 2 if stacked else 1
        height = sum(4 + lines_per_row * (len(p.rows) + sum(len(b.rows) + 1 for b in p.blocks)) for p in panels)
        one_float = height <= PAGE_LINES
        layout = "; CIs under their values" if stacked else ""
        if len(panels) > 1:
            layout += (
                f"; {len(panels)} panels, one per column group, {'in one float' if one_float else 'one float each'}"
            )
        lines = [
            "% Needs \\usepackage{booktabs}, \\usepackage{graphicx} and \\usepackage{array}. One column of a two-column paper when it",
            f"% fits (table), else both (table*); estimated width {width} characters{layout}.",
        ]
        for index, panel in enumerate(panels):
            if index and one_float:
                lines.append("\\par\\medskip")
            elif index:
                group = panel.groups[0][0] if panel.groups else str(index + 1)
                lines += [
                    f"\\end{{{float_}}}",
                    f"\\begin{{{float_}}}[t]",
                    "\\centering",
                    f"\\caption{{{latex_escape(self.caption)}, continued: {latex_escape(group)}}}",
                    f"\\label{{tab:{self.name}-{index + 1}}}",
                ]
            else:
                lines += [
                    f"\\begin{{{float_}}}[t]",
                    "\\centering",
                    f"\\caption{{{latex_escape(self.caption)}}}",
                    f"\\label{{tab:{self.name}}}",
                ]
            lines += panel._tabular(stacked)
        if self.notes:
            # A paper's table note is short: the phantom banner, what the numbers are and where
            # the rest is; every note stays below as a comment (and in the .md and .csv).
            shown = [note for note in self.notes[:2]] + [f"All notes: tables/{self.name}.md."]
            lines.append(
                "\\par\\smallskip{\\raggedright\\footnotesize "
                + " ".join(latex_escape(note) for note in shown)
                + "\\par}"
            )
            lines += [f"% {line}" for note in self.notes for line in latex_escape(note).splitlines()]
        lines.append(f"\\end{{{float_}}}")
        return "\n".join(lines) + "\n"

    def _panels(self) -> list[Table]:
        """One table per column group (input), each with the leading columns: a table too wide
        for a page even with its CIs stacked becomes panels one above the other."""
        if len(self.groups) < 2 or self.lead + sum(span for _, span in self.groups) != len(self.header):
            return [self]
        panels, column = [], self.lead
        for label, span in self.groups:
            keep = [*range(self.lead), *range(column, column + span)]
            column += span
            panels.append(
                Table(
                    self.name,
                    self.caption,
                    [self.header[i] for i in keep],
                    [[row[i] for i in keep] for row in self.rows],
                    blocks=[Block(b.title, [[row[i] for i in keep] for row in b.rows]) for b in self.blocks],
                    groups=[(label, span)],
                    lead=self.lead,
                )
            )
        return panels

    def _tabular(self, stacked: bool) -> list[str]:
        """The tabular of this table (its header groups, rows and blocks), shrunk to the line's width
        and then to the page's height only where larger (never enlarged)."""
        n = len(self.header)
        spec = "l" * self.lead + "r" * (n - self.lead)
        if self._lead_wraps():  # long names wrap instead of widening the table (needs array)
            spec = f">{{\\raggedright\\arraybackslash}}p{{{LEAD_CHARACTERS // 2}em}}" + spec[1:]
        lines = [
            "\\setbox0=\\hbox{%",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
        ]
        if self.groups:
            cells, rules, column = [""] * self.lead, [], self.lead + 1
            for label, span in self.groups:
                cells.append(f"\\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
                rules.append(f"\\cmidrule(lr){{{column}-{column + span - 1}}}")
                column += span
            cells += [""] * (n - column + 1)
            lines.append(" & ".join(cells) + " \\\\")
            lines.append(" ".join(rules))
        lines.append(" & ".join(latex_escape(h) for h in self.header) + " \\\\")
        lines.append("\\midrule")
        lines += [" & ".join(_tex_cell(c, stacked) for c in r) + " \\\\" for r in self.rows]
        for block in self.blocks:
            lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{n}}}{{l}}{{\\emph{{{latex_escape(block.title)}}}}} \\\\")
            lines += [" & ".join(_tex_cell(c, stacked) for c in r) + " \\\\" for r in block.rows]
        return [
            *lines,
            "\\bottomrule",
            "\\end{tabular}}%",
            # Shrink to the width, then to the page's height, only where larger (never enlarge).
            "\\ifdim\\wd0>\\linewidth\\setbox0=\\hbox{\\resizebox{\\linewidth}{!}{\\copy0}}\\fi",
            "\\ifdim\\dimexpr\\ht0+\\dp0\\relax>0.8\\textheight\\resizebox*{!}{0.8\\textheight}{\\copy0}\\else\\copy0\\fi",
        ]

    def to_frame(self) -> pd.DataFrame:
        header = self.flat_header()
        parts = []
        for kind, rows, ids in [("measured", self.rows, self.ids), *[(b.title, b.rows, b.ids) for b in self.blocks]]:
            if not rows:
                continue
            frame = pd.DataFrame(
                [[csv_cell(_plain(c)) for c in r] for r in rows], columns=[csv_cell(h) for h in header]
            )
            frame.insert(0, "kind", csv_cell(kind))
            if self.ids or any(b.ids for b in self.blocks):
                frame.insert(1, "id", [csv_cell(i) for i in ids] if len(ids) == len(rows) else [""] * len(rows))
            parts.append(frame)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["kind", *map(csv_cell, header)])

    def to_html(self) -> str:
        """A ``<table>`` for the report page (marks rendered, notes as a caption footer)."""

        def cell(text: str, tag: str = "td") -> str:
            bold = str(text).startswith("**")
            match = _ESTIMATE.match(str(text).replace("**", ""))
            if match and tag == "td":  # the interval under the value, smaller: half the width
                value = f"<b>{match['value']}</b>" if bold else match["value"]
                spread = f" <small>± {match['spread']}</small>" if match["spread"] else ""
                return f"<td>{value}{html_text(match['mark'])}{spread}<br><small>[{match['low']}, {match['high']}]</small></td>"
            text = html_text(str(text))
            text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
            return f"<{tag}>{text}</{tag}>"

        head = []
        if self.groups:
            row = "".join("<th></th>" for _ in range(self.lead))
            row += "".join(f'<th colspan="{span}" class="group">{html_text(label)}</th>' for label, span in self.groups)
            row += "<th></th>" * (len(self.header) - self.lead - sum(span for _, span in self.groups))
            head.append(f"<tr>{row}</tr>")
        head.append("<tr>" + "".join(cell(h, "th") for h in self.header) + "</tr>")
        body = ["<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in self.rows]
        for block in self.blocks:
            body.append(f'<tr class="block"><td colspan="{len(self.header)}"><i>{html_text(block.title)}</i></td></tr>')
            body += ["<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in block.rows]
        notes = "".join(f"<p class='note'>{html_text(n)}</p>" for n in self.notes)
        return (
            f'<figure class="table" id="{html_text(self.name)}"><figcaption>{html_text(self.caption)}</figcaption>'
            f"<div class='scroll'><table><thead>{''.join(head)}</thead><tbody>{''.join(body)}</tbody></table></div>{notes}</figure>"
        )

    def write(self, folder: Path) -> list[Path]:
        renderers = {"md": self.to_markdown, "tex": self.to_latex, "csv": lambda: self.to_frame().to_csv(index=False)}
        return [
            atomic_write_text(inside(folder, f"{self.name}.{suffix}"), renderers[suffix]()) for suffix in self.formats
        ]

"""One page to read it all: ``REPORT.md`` and a self-contained ``report.html``.

The verdict comes first, in words generated from the numbers of the declared comparisons, then
the seed paper's table, the main and verdict tables, confusion tables, ablations, figures and
provenance. The HTML embeds every figure (base64 PNG) and needs no network; the embedded copies
are reduced to a 256-colour palette so the page stays a few MB, while the PNG and PDF files keep
full colour for papers.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from cirrbench.benchmark.common.atomic import atomic_write_text
from cirrbench.benchmark.common.escaping import html_text, markdown_cell, markdown_text
from cirrbench.benchmark.data.labels import LabelSet
from cirrbench.benchmark.protocols.registry import protocol_description
from cirrbench.benchmark.reporting.evaluation import Comparison, Evaluation
from cirrbench.benchmark.reporting.metric_registry import favours_first, metric_display
from cirrbench.benchmark.reporting.output_registry import figure_families, table_families
from cirrbench.benchmark.reporting.table_builders import (
    RowNames,
    format_difference,
    format_with_spread,
    n_splits,
    p_phrase,
)
from cirrbench.benchmark.reporting.table_format import Table

if TYPE_CHECKING:
    from cirrbench.benchmark.reporting.report import ReportSettings
    from cirrbench.benchmark.reporting.report_cache import Memo

__all__ = ["embedded_png", "verdict_in_words", "write_page"]


def _design(evaluation: Evaluation, protocol: str) -> str:
    n = n_splits(evaluation, protocol)
    words = protocol_description(protocol)
    return words if n == 1 else f"{words}, {n} splits"


def _not_excluded(c: Comparison) -> str:
    """What a non-significant comparison cannot exclude: its CI, and what the design could detect."""
    d = c.difference
    if not (np.isfinite(d.low) and np.isfinite(d.high)):
        return "inconclusive"
    if d.low == d.high == d.value == 0:
        return "the two agree on every test patient: no difference on this test set, and none it could measure"
    text = f"inconclusive: differences from {d.low:+.3f} to {d.high:+.3f} are not excluded"
    if np.isfinite(c.detectable):
        text += f"; this design detects ±{c.detectable:.3f} with 80 % power"
    return text


def _sentence(c: Comparison, adjusted: float, names: RowNames, evaluation: Evaluation, metric: str) -> str:
    a, b = names.show(c.a.runner, c.a.variant), names.show(c.b.runner, c.b.variant)
    if not np.isfinite(adjusted):
        outcome = "not testable"
    elif adjusted < 0.05:
        outcome = f"{a if favours_first(metric, c.difference.value) else b} better"
    else:
        outcome = _not_excluded(c)
    return (
        f"{c.a.input}, {c.level} level, {_design(evaluation, c.a.protocol)}: {a} {format_with_spread(c.a_estimate, c.a_spread)} "
        f"vs {b} {format_with_spread(c.b_estimate, c.b_spread)}; "
        f"difference {format_difference(c.difference)}, {c.test} {p_phrase(c.p)} (Holm-adjusted {p_phrase(adjusted)}): {outcome}"
        f"{_seed_words(c)}."
    )


def _seed_words(c: Comparison) -> str:
    """What the training seeds say about a difference: nothing with one seed per method."""
    if not np.isfinite(c.seed_sd):
        return ""
    seeds = "/".join(str(s.n) for s in (c.a_spread, c.b_spread) if s is not None)
    if c.within_seed_spread:
        return (
            f"; the difference ({c.difference.value:+.3f}) is smaller than the spread over training seeds "
            f"(SD {c.seed_sd:.3f}, {seeds} seeds), so it is not a finding"
        )
    return f" (SD over training seeds at most {c.seed_sd:.3f}, {seeds} seeds)"


def verdict_in_words(
    verdicts: dict[str, list[tuple[Comparison, float]]],
    names: RowNames,
    evaluation: Evaluation,
    metric: str,
    declared: list[list[str]] | None = None,
) -> list[str]:
    """Sentences from the declared comparisons: a headline for the first declared pair under the
    design with the most splits, then one sentence per comparison at patient level. ``declared``:
    the pairs the config declared (None: not known), so an untested verdict says the real reason."""
    lines: list[str] = []
    if not any(verdicts.values()):
        if declared is not None and not declared:
            return [
                "No comparison was declared: the config has no compare: and not both a radiomics and a deep runner "
                "for the default pair; add compare: [[A, B]] naming two of its runners."
            ]
        pairs = "; ".join(" vs ".join(pair) for pair in declared or [])
        return [
            "No declared comparison could be tested"
            + (f" ({pairs})" if pairs else "")
            + ": both runners of a pair must run under the same protocol and input."
        ]
    protocol = max((p for p, v in verdicts.items() if v), key=lambda p: (n_splits(evaluation, p), p == "cv"))
    first = verdicts[protocol][0][0]
    headline = [
        (c, q)
        for c, q in verdicts[protocol]
        if (c.a.runner, c.a.variant, c.b.runner, c.b.variant)
        == (first.a.runner, first.a.variant, first.b.runner, first.b.variant)
        and c.level == "patient"
    ]
    a, b = names.show(first.a.runner, first.a.variant), names.show(first.b.runner, first.b.variant)
    significant = [(c, q) for c, q in headline if np.isfinite(q) and q < 0.05]
    better = [c.a.input for c, q in significant if favours_first(metric, c.difference.value)]
    worse = [c.a.input for c, q in significant if c.a.input not in better]
    neutral = [c for c, q in headline if c.a.input not in better + worse]
    parts = []
    if better:
        parts.append(f"{a} was significantly better than {b} for {', '.join(better)}")
    if worse:
        parts.append(f"{a} was significantly worse than {b} for {', '.join(worse)}")
    if neutral:
        widest = max((max(abs(c.difference.low), abs(c.difference.high)) for c in neutral), default=float("nan"))
        reach = f" (differences of up to {widest:.3f} are not excluded)" if np.isfinite(widest) else ""
        parts.append(f"inconclusive for {', '.join(c.a.input for c in neutral)}{reach}")
    within = [c.a.input for c, q in headline if c.within_seed_spread]
    if within:
        parts.append(f"for {', '.join(within)} the difference is smaller than the spread over training seeds")
    lines.append(
        f"**Verdict ({metric_display(metric).lower()}, patient level, {_design(evaluation, protocol)}; the pair {a} vs {b} was declared before the results existed):** "
        + "; ".join(parts)
        + (" (significant: Holm-adjusted p < 0.05)." if better or worse else ".")
    )
    for p in sorted(verdicts, key=lambda p: p != protocol):
        for c, q in verdicts[p]:
            lines.append("- " + _sentence(c, q, names, evaluation, metric))
    return lines


def _grouped(tables: list[Table]) -> list[tuple[str, list[Table]]]:
    out = []
    for family in table_families():
        prefix, title = f"{family.name}_", family.section
        chosen = [t for t in tables if t.name.startswith(prefix)]
        if chosen:
            out.append((title, chosen))
    return out


#: The figure family and table family the page puts in its verdict section.
DECLARED_FIGURES, VERDICT_TABLES = "declared", "verdict"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _caption(png: Path) -> str:
    """The caption of the figure family whose prefix names ``png`` (the longest match)."""
    families = [f for f in figure_families() if png.name.startswith(f"{f.name}_")]
    return max(families, key=lambda f: len(f.name)).caption if families else ""


def _figures(pngs: list[Path]) -> list[Path]:
    ordered = []
    for family in figure_families():
        ordered += sorted(p for p in pngs if p.name.startswith(f"{family.name}_"))
    return ordered


def _kernels_text(kernels: dict) -> str:
    """The reproducibility mode and what decided the deep jobs' float results (manifest ``kernels``)."""
    if not kernels:
        return "n/a (a run before kernels were recorded)"
    pinned = ", ".join(f"{k}={v}" for k, v in (kernels.get("pinned") or {}).items()) or "none"
    return f"reproducible: {kernels.get('reproducible', '?')}; CPU {kernels.get('cpu_model', '?')}; pinned {pinned}"


def _provenance(settings: ReportSettings, labels: LabelSet) -> list[tuple[str, str]]:
    p = settings.provenance or {}
    cohort, experiment = p.get("cohort") or {}, p.get("experiment") or {}
    versions = p.get("versions") or {}
    rows = [
        (
            "cohort",
            f"{cohort.get('source', 'n/a')} ({'synthetic phantom' if cohort.get('phantom') else 'as given'}); {cohort.get('scans', '?')} scans, {cohort.get('patients', '?')} patients",
        ),
        ("cohort fingerprint", str(cohort.get("fingerprint", "n/a"))),
        ("labels", f"{', '.join(labels.names)} ({'ordinal' if labels.ordinal else 'nominal'})"),
        ("experiment", f"{experiment.get('name', 'n/a')} ({experiment.get('source', 'n/a')})"),
        ("run", f"{p.get('created', 'n/a')}, git commit {p.get('git_commit') or 'n/a'}"),
        ("machine", ", ".join(f"{k} {v}" for k, v in (p.get("machine") or {}).items())),
        ("float kernels", _kernels_text(p.get("kernels") or {})),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        (
            "statistics",
            f"{settings.bootstrap} bootstrap resamples (seed {settings.seed}); main metric {settings.metric}; reference {settings.reference}",
        ),
    ]
    return rows


def _markdown(
    tables: list[Table], pngs: list[Path], words: list[str], settings: ReportSettings, labels: LabelSet, out: Path
) -> str:
    lines = ["# cirrbench report", ""]
    if settings.banner:
        lines += [
            f"> **{settings.banner}.** These numbers check the suite's machinery; they are not clinical evidence.",
            "",
        ]
    lines += ["## Verdict", "", *map(markdown_text, words), ""]
    for png in (p for p in _figures(pngs) if p.name.startswith(f"{DECLARED_FIGURES}_")):
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", "", markdown_text(_caption(png)), ""]
    for title, chosen in _grouped(tables):
        lines += [f"## {title}", ""]
        for table in chosen:
            lines += [table.to_markdown(), ""]
    lines += ["## Figures", ""]
    for png in _figures(pngs):
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", ""]
    lines += ["## Provenance", "", "| | |", "|---|---|"]
    lines += [
        f"| {markdown_cell(k)} | {markdown_cell(v.replace('|', '/'))} |" for k, v in _provenance(settings, labels)
    ]
    return "\n".join(lines).rstrip() + "\n"


STYLE = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.7em 1em;font-weight:600}
.verdict{background:#eef5fb;border-left:4px solid #0072B2;padding:.6em 1em}
.verdict li{margin:.3em 0}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #444}th.group{text-align:center;border-bottom:1px solid #999}
tr.block td{text-align:left;background:#f6f6f6}
figure{margin:1.2em 0}figcaption{font-weight:600;margin-bottom:.3em}.caption{font-size:.85em;color:#444;margin:.3em 0 0;max-width:60em}
nav.toc{font-size:.9em;margin:1em 0}details{margin:1em 0}summary{cursor:pointer;font-weight:600}
.scroll{overflow-x:auto}.note{font-size:.8em;color:#555;margin:.2em 0}
img{max-width:100%;border:1px solid #eee}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;font-size:.85em}dt{font-weight:600}
"""


def _inline(text: str) -> str:
    escaped = html_text(text)
    while "**" in escaped:
        escaped = escaped.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return escaped


def embedded_png(png: Path) -> str:
    """The figure as a base64 palette PNG: a deterministic, visually identical copy about a third
    of the size, since plots use few colours and the page must stay small enough to share."""
    with Image.open(png) as image:
        opaque = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    reduced = opaque.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    reduced.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html(
    tables: list[Table],
    pngs: list[Path],
    words: list[str],
    settings: ReportSettings,
    labels: LabelSet,
    memo: Memo | None = None,
) -> str:
    def figure(png: Path) -> str:
        data = (
            embedded_png(png)
            if memo is None
            else memo.value("embedded_png", (png.read_bytes(),), functools.partial(embedded_png, png))
        )
        caption = _caption(png)
        below = f"<p class='caption'>{html_text(caption)}</p>" if caption else ""
        return (
            f"<figure><figcaption>{html_text(png.stem)}</figcaption>"
            f"<img alt='{html_text(png.stem)}' src='data:image/png;base64,{data}'>{below}</figure>"
        )

    head, items = (words[0], words[1:]) if words else ("", [])
    figures = _figures(pngs)
    declared = [p for p in figures if p.name.startswith(f"{DECLARED_FIGURES}_")]
    verdict_tables = [t for t in tables if t.name.startswith(f"{VERDICT_TABLES}_")]
    shown_first = {t.name for t in verdict_tables}
    sections = [
        (title, [t for t in chosen if t.name not in shown_first])
        for title, chosen in _grouped(tables)
        if any(t.name not in shown_first for t in chosen)
    ]
    titles = ["Verdict", *[title for title, _ in sections], "Figures", "Provenance"]
    body = ["<h1>cirrbench report</h1>"]
    if settings.banner:
        body.append(
            f"<p class='banner'>{html_text(settings.banner)}. These numbers check the suite's machinery; they are not clinical evidence.</p>"
        )
    body.append(
        "<nav class='toc'>Contents: "
        + " · ".join(f"<a href='#{_anchor(t)}'>{html_text(t)}</a>" for t in titles)
        + "</nav>"
    )
    # The verdict first: one sentence, the picture of the declared differences, their table,
    # and every comparison in words for whoever wants them.
    body.append(f"<h2 id='{_anchor('Verdict')}'>Verdict</h2><div class='verdict'><p>{_inline(head)}</p></div>")
    body += [figure(png) for png in declared]
    body += [t.to_html() for t in verdict_tables]
    if items:
        body.append(
            f"<details><summary>Every declared comparison in words ({len(items)})</summary><ul>"
            + "".join(f"<li>{_inline(i[2:] if i.startswith('- ') else i)}</li>" for i in items)
            + "</ul></details>"
        )
    for title, chosen in sections:
        body.append(f"<h2 id='{_anchor(title)}'>{html_text(title)}</h2>")
        body += [t.to_html() for t in chosen]
    body.append(f"<h2 id='{_anchor('Figures')}'>Figures</h2>")
    body += [figure(png) for png in figures if png not in declared]
    body.append(
        f"<h2 id='{_anchor('Provenance')}'>Provenance</h2><dl>"
        + "".join(f"<dt>{html_text(k)}</dt><dd>{html_text(v)}</dd>" for k, v in _provenance(settings, labels))
        + "</dl>"
    )
    return f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>cirrbench report</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"


def write_page(
    out: Path,
    tables: list[Table],
    pngs: list[Path],
    words: list[str],
    settings: ReportSettings,
    labels: LabelSet,
    memo: Memo | None = None,
) -> list[Path]:
    """Write ``REPORT.md`` and ``report.html`` into the results folder (with a ``memo``, a figure
    whose PNG an earlier build embedded is not re-encoded)."""
    return [
        atomic_write_text(out / "REPORT.md", _markdown(tables, pngs, words, settings, labels, out)),
        atomic_write_text(out / "report.html", _html(tables, pngs, words, settings, labels, memo)),
    ]

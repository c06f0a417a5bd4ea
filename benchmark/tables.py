"""Tables as Markdown, LaTeX (booktabs) and CSV, built from summaries only.

A cell is plain text with two optional marks: ``**bold**`` for the best value of a column and a
trailing ``*`` (or ``†`` for worse) where the Holm-adjusted paired test against the reference
runner gives p < 0.05. Rows for figures reported elsewhere are labelled "reported, not rerun" and
sit in their own block under a rule, never mixed with measured rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import LOWER_IS_BETTER, METRIC_NAMES
from .stats import Estimate

INPUT_ORDER = ["T1W", "T2W", "both"]


@dataclass
class Table:
    """A rendered table: header, measured rows, reported rows, caption and notes."""

    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    reported: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.header) + " |", "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.reported:
            lines.append("| " + " | ".join(["*reported, not rerun*"] + [""] * (len(self.header) - 1)) + " |")
            lines += ["| " + " | ".join(r) + " |" for r in self.reported]
        lines += [""] + [f"{n}  " for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_latex(self) -> str:
        def tex(cell: str) -> str:
            cell = cell.replace("\\", "\\textbackslash{}").replace("&", "\\&").replace("%", "\\%").replace("_", "\\_").replace("#", "\\#")
            cell = cell.replace("†", "$^\\dagger$")
            if cell.startswith("**") and "**" in cell[2:]:
                end = cell.index("**", 2)
                cell = "\\textbf{" + cell[2:end] + "}" + cell[end + 2 :]
            return cell.replace("*", "$^*$")

        spec = "l" * 1 + "r" * (len(self.header) - 1)
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{tex(self.caption)}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
        lines.append(" & ".join(tex(h) for h in self.header) + " \\\\")
        lines.append("\\midrule")
        lines += [" & ".join(tex(c) for c in r) + " \\\\" for r in self.rows]
        if self.reported:
            lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{len(self.header)}}}{{l}}{{\\emph{{reported, not rerun}}}} \\\\")
            lines += [" & ".join(tex(c) for c in r) + " \\\\" for r in self.reported]
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            lines.append("\\par\\footnotesize " + " ".join(tex(n) for n in self.notes))
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=self.header)
        frame.insert(0, "kind", "measured")
        if self.reported:
            extra = pd.DataFrame(self.reported, columns=self.header)
            extra.insert(0, "kind", "reported, not rerun")
            frame = pd.concat([frame, extra], ignore_index=True)
        return frame

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for suffix, text in (("md", self.to_markdown()), ("tex", self.to_latex()), ("csv", self.to_frame().to_csv(index=False))):
            path = folder / f"{self.name}.{suffix}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            paths.append(path)
        return paths


def _row_label(runner: str, variant: str) -> str:
    return runner if variant == "default" else f"{runner} [{variant}]"


def _significance(comparisons: pd.DataFrame, key: dict, metric: str) -> str:
    if comparisons.empty:
        return ""
    hit = comparisons[np.logical_and.reduce([comparisons[k] == v for k, v in key.items()])]
    if hit.empty or not np.isfinite(hit["p_holm"].iloc[0]) or hit["p_holm"].iloc[0] >= 0.05:
        return ""
    better = hit["difference"].iloc[0] < 0 if metric in LOWER_IS_BETTER else hit["difference"].iloc[0] > 0
    return "*" if better else "†"


def main_table(summary: pd.DataFrame, comparisons: pd.DataFrame, protocol: str, level: str, metric: str, reference: str, reported: list[dict], families: dict[str, str], name: str) -> Table | None:
    part = summary[(summary["protocol"] == protocol) & (summary["level"] == level) & (summary["variant"] == "default")]
    if part.empty:
        return None
    inputs = [i for i in INPUT_ORDER if i in set(part["input"])]
    order = {"reference": 0, "radiomics": 1, "deep": 2}
    runners = sorted(set(part["runner"]), key=lambda r: (order.get(families.get(r, ""), 3), r))
    best = {}
    for column in inputs:
        values = part[part["input"] == column].set_index("runner")["value"]
        values = values[values.index != reference]
        if len(values) > 1:  # "best" needs at least two compared methods
            best[column] = values.min() if metric in LOWER_IS_BETTER else values.max()
    rows = []
    for runner in runners:
        row = [runner]
        for column in inputs:
            hit = part[(part["runner"] == runner) & (part["input"] == column)]
            if hit.empty:
                row.append("—")
                continue
            r = hit.iloc[0]
            text = Estimate(r["value"], r["low"], r["high"], r["ci"]).format()
            if runner != reference and np.isclose(r["value"], best.get(column, np.nan)):
                text = f"**{text}**"
            text += _significance(comparisons, {"runner": runner, "variant": "default", "input": column, "protocol": protocol, "level": level}, metric)
            row.append(text)
        rows.append(row)
    reported_rows = []
    for item in reported:
        if item.get("protocol", protocol) != protocol or item.get("level", "patient") != level or item.get("metric", "accuracy") != metric:
            continue
        row = [f"{item['method']} ({item.get('source', 'reported')})"]
        for column in inputs:
            row.append(f"{item['value']:.3f}" if item.get("input") == column else "—")
        reported_rows.append(row)
    ci_kind = "patient bootstrap (percentile)" if part["ci"].iloc[0] == "bootstrap" else "Nadeau-Bengio corrected resampled t over repeated CV"
    notes = [
        f"{METRIC_NAMES.get(metric, metric)} at {level} level, protocol {protocol}; 95 % CI: {ci_kind}.",
        f"Bold: best measured value per column (reference excluded). * / †: better / worse than {reference} (Holm-adjusted p < 0.05; "
        + ("exact McNemar" if part["ci"].iloc[0] == "bootstrap" else "corrected paired t") + ").",
    ]
    caption = f"{METRIC_NAMES.get(metric, metric)} ({level} level, {protocol} protocol)"
    return Table(name, caption, ["Method", *inputs], rows, reported_rows, notes)


def per_stage_table(split_metrics: pd.DataFrame, labels, protocol: str, level: str, name: str) -> Table | None:
    part = split_metrics[(split_metrics["protocol"] == protocol) & (split_metrics["level"] == level) & (split_metrics["variant"] == "default")]
    if part.empty:
        return None
    header = ["Method", "Input"] + [f"Recall {n}" for n in labels.names] + [f"Specificity {n}" for n in labels.names] + [f"F1 {n}" for n in labels.names]
    rows = []
    for (runner, column), group in part.groupby(["runner", "input"], sort=True):
        means = group.mean(numeric_only=True)
        row = [runner, column]
        for kind in ("recall", "specificity", "f1"):
            row += [f"{means[f'{kind}_{n}']:.3f}" if np.isfinite(means[f"{kind}_{n}"]) else "—" for n in labels.names]
        rows.append(row)
    rows.sort(key=lambda r: (r[0], INPUT_ORDER.index(r[1]) if r[1] in INPUT_ORDER else 9))
    notes = [f"Per-stage one-vs-rest metrics at {level} level, protocol {protocol}, averaged over splits and seeds; — where a stage is absent from a test set."]
    return Table(name, f"Per-stage recall, specificity and F1 ({level} level, {protocol} protocol)", header, rows, [], notes)


def ablation_table(summary: pd.DataFrame, runner: str, protocol: str, level: str, metric: str, name: str) -> Table | None:
    part = summary[(summary["runner"] == runner) & (summary["protocol"] == protocol) & (summary["level"] == level)]
    if part.empty or part["variant"].nunique() < 2:
        return None
    inputs = [i for i in INPUT_ORDER if i in set(part["input"])]
    variants = ["default"] + sorted(v for v in set(part["variant"]) if v != "default")
    rows = []
    for variant in variants:
        row = [variant]
        for column in inputs:
            hit = part[(part["variant"] == variant) & (part["input"] == column)]
            base = part[(part["variant"] == "default") & (part["input"] == column)]
            if hit.empty:
                row += ["—", "—"]
                continue
            r = hit.iloc[0]
            row.append(Estimate(r["value"], r["low"], r["high"], r["ci"]).format())
            row.append(f"{r['value'] - base.iloc[0]['value']:+.3f}" if variant != "default" and not base.empty else "")
        rows.append(row)
    header = ["Variant"] + [h for column in inputs for h in (column, f"Δ {column}")]
    notes = [f"{METRIC_NAMES.get(metric, metric)} at {level} level, protocol {protocol}; Δ: difference to the default (full) variant."]
    return Table(name, f"Ablation of {runner}: {METRIC_NAMES.get(metric, metric)} ({level} level, {protocol} protocol)", header, rows, [], notes)

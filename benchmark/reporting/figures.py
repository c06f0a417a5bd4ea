"""Figures (PNG, and PDF or SVG as ``figures.formats`` asks): forest plot, confusion matrices per
family, per-stage ROC of the declared comparison, pairwise difference matrix, top radiomics
features, attention maps.

Conventions every figure keeps: colour by family (reference grey, radiomics orange, deep blue,
Okabe-Ito hues that survive colour blindness and greyscale), rows in one order (reference,
radiomics, deep; config order within a family) in every protocol, display names, the phantom
banner on top where the phantom was used.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from cirrbench.benchmark.common.decision import decide, row_keys  # noqa: E402
from cirrbench.benchmark.data.labels import LabelSet  # noqa: E402
from cirrbench.benchmark.reporting import figure_writer  # noqa: E402
from cirrbench.benchmark.reporting.figure_cache import FigureCache, reusable_figure  # noqa: E402
from cirrbench.benchmark.reporting.metric_registry import direction, metric_display  # noqa: E402
from cirrbench.benchmark.reporting.metric_values import binary_auc, confusion  # noqa: E402
from cirrbench.benchmark.reporting.table_builders import RowNames  # noqa: E402
from cirrbench.benchmark.reporting.table_format import INPUT_ORDER  # noqa: E402

__all__ = [
    "FAMILY_COLOURS",
    "learning_curve_figure",
    "FigureTarget",
    "save",
    "forest_plot",
    "confusion_figure",
    "roc_figure",
    "pairwise_levels",
    "pairwise_matrix",
    "top_features",
    "attention_maps",
    "declared_differences",
]

FAMILY_COLOURS = {
    "reference": "#7f7f7f",
    "radiomics": "#E69F00",
    "foundation": "#CC79A7",
    "deep": "#0072B2",
    "other": "#009E73",
}
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P"]  # levels of one perturbation, told apart in point plots
MARKER_GLYPHS = ["\u25cf", "\u25a0", "\u25b2", "\u25c6", "\u25bc", "\u271a"]  # the same shapes, for titles


def save(fig: plt.Figure, path_stem: Path) -> list[Path]:
    """``stem.png`` and ``stem.pdf``, or the report's ``figures.formats``
    (:func:`cirrbench.benchmark.reporting.figure_writer.save`: rendered here, or on a worker
    inside ``rendering_in_workers``)."""
    return figure_writer.save(fig, path_stem)


@dataclass(frozen=True)
class FigureTarget:
    """Where a figure goes (``stem``.png, .pdf, ...) and its title, under the phantom banner.

    Args:
        stem: path without suffix.
        title: what the figure shows.
        banner: the phantom warning printed above the title (None: real data).
        cache: the previous build's figures; with one, an unchanged figure is kept, not redrawn.
    """

    stem: Path
    title: str
    banner: str | None = None
    cache: FigureCache | None = field(default=None, compare=False, repr=False)

    @property
    def heading(self) -> str:
        return f"{self.banner}\n{self.title}" if self.banner else self.title

    def save(self, fig: plt.Figure) -> list[Path]:
        return save(fig, self.stem)


@reusable_figure
def forest_plot(
    rows: pd.DataFrame,
    order: list[str],
    names: RowNames,
    metric: str,
    target: FigureTarget,
    reference: str | None = None,
) -> list[Path]:
    """Point estimate and 95 % CI per method, one panel per input on a shared x axis.

    ``rows``: runner, input, value, low, high. The reference value is a labelled dotted line.
    """
    inputs = [i for i in INPUT_ORDER if i in set(rows["input"])]
    runners = [r for r in order if r in set(rows["runner"])]
    if not inputs or not runners:
        return []
    fig, axes = plt.subplots(
        1,
        len(inputs),
        figsize=(3.4 * len(inputs) + 1.6, 0.36 * len(runners) + 1.7),
        squeeze=False,
        sharey=True,
        sharex=True,
    )
    for j, column in enumerate(inputs):
        ax = axes[0, j]
        for y, runner in enumerate(runners):
            hit = rows[(rows["runner"] == runner) & (rows["input"] == column)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            colour = FAMILY_COLOURS.get(names.family(runner), FAMILY_COLOURS["other"])
            if np.isfinite(r["low"]) and np.isfinite(r["high"]):
                ax.plot([r["low"], r["high"]], [y, y], color=colour, lw=1.8, solid_capstyle="butt")
            ax.plot(r["value"], y, "o", color=colour, ms=5, zorder=3)
            if runner == reference:
                ax.axvline(r["value"], color=FAMILY_COLOURS["reference"], ls=":", lw=1)
                ax.annotate(
                    names.show(runner),
                    (r["value"], 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(2, -2),
                    textcoords="offset points",
                    fontsize=6.5,
                    color="0.35",
                    va="top",
                )
        ax.set_yticks(range(len(runners)), [names.show(r) for r in runners], fontsize=8)
        ax.set_title(column, fontsize=10)
        ax.set_xlabel(metric_display(metric), fontsize=8)
        ax.grid(axis="x", color="0.92")
        ax.tick_params(axis="x", labelsize=7)
    axes[0, 0].invert_yaxis()
    handles = [
        plt.Line2D([], [], color=c, marker="o", lw=1.8, label=f)
        for f, c in FAMILY_COLOURS.items()
        if f in {names.family(r) for r in runners}
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.01)
    )
    fig.suptitle(target.heading, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return target.save(fig)


@reusable_figure
def confusion_figure(
    frame: pd.DataFrame, labels: LabelSet, runners: list[str], names: RowNames, target: FigureTarget
) -> list[Path]:
    """Rows = methods, columns = inputs; counts summed over splits and seeds, colour = row share.

    One figure per family keeps each legible at 16+ methods.
    """
    inputs = [i for i in INPUT_ORDER if i in set(frame["input"])]
    runners = [r for r in runners if r in set(frame["runner"])]
    if not inputs or not runners:
        return []
    k = labels.n_classes
    cols = [f"prob_{n}" for n in labels.names]
    fig, axes = plt.subplots(
        len(runners),
        len(inputs),
        figsize=(2.5 * len(inputs) + 1.2, 2.3 * len(runners) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for i, runner in enumerate(runners):
        for j, column in enumerate(inputs):
            ax = axes[i, j]
            rows = frame[(frame["runner"] == runner) & (frame["input"] == column)]
            if rows.empty:
                ax.axis("off")
                continue
            cm = confusion(rows["true_label"].to_numpy(), decide(rows[cols].to_numpy(), row_keys(rows)), k)
            share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
            image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for a in range(k):
                for b in range(k):
                    ax.text(
                        b,
                        a,
                        f"{cm[a, b]}\n{share[a, b]:.0%}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if share[a, b] > 0.6 else "black",
                    )
            ax.set_xticks(range(k), labels.names, fontsize=7)
            ax.set_yticks(range(k), labels.names, fontsize=7)
            if i == 0:
                ax.set_title(column, fontsize=10)
            if i == len(runners) - 1:
                ax.set_xlabel("predicted", fontsize=7)
            if j == 0:
                name = "\n".join(textwrap.wrap(names.show(runner), 26))  # fits the panel's height
                ax.set_ylabel(f"{name}\ntrue", fontsize=8)
    if image is not None:
        fig.colorbar(
            image, ax=axes.ravel().tolist(), location="bottom", shrink=0.5, aspect=30, label="share of the true stage"
        )
    fig.suptitle(target.heading, fontsize=10)
    return target.save(fig)


@reusable_figure
def roc_figure(
    frame: pd.DataFrame, labels: LabelSet, runners: list[str], names: RowNames, target: FigureTarget
) -> list[Path]:
    """One panel per input (rows) and stage (columns): one-vs-rest ROC of a few runners (the
    declared comparison and the reference), pooled over test splits; AUC in each panel's legend."""
    inputs = [i for i in INPUT_ORDER if i in set(frame["input"])]
    runners = [r for r in runners if r in set(frame["runner"])]
    if not inputs or not runners:
        return []
    style = {}
    per_family: dict[str, int] = {}
    for runner in runners:
        family = names.family(runner)
        style[runner] = (
            FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"]),
            LINE_STYLES[per_family.get(family, 0) % len(LINE_STYLES)],
        )
        per_family[family] = per_family.get(family, 0) + 1
    fig, axes = plt.subplots(
        len(inputs),
        labels.n_classes,
        # each row: a square panel, its labels and a legend line per runner below it
        figsize=(3.3 * labels.n_classes, (3.65 + 0.15 * len(runners)) * len(inputs) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for i, column in enumerate(inputs):
        for k, name in enumerate(labels.names):
            ax = axes[i, k]
            ax.plot([0, 1], [0, 1], color="0.8", lw=0.8, ls=":")
            for runner in runners:
                rows = frame[(frame["runner"] == runner) & (frame["input"] == column)]
                positive = rows["true_label"].to_numpy() == k
                if rows.empty or positive.all() or not positive.any():
                    continue
                scores = rows[f"prob_{name}"].to_numpy()
                fpr, tpr, _ = roc_curve(positive, scores)
                auc = binary_auc(positive, scores)  # the tables' AUC, to the bit
                colour, line = style[runner]
                ax.plot(fpr, tpr, color=colour, ls=line, lw=1.4, label=f"{names.show(runner)} (AUC {auc:.2f})")
            ax.set_title(f"{column}: {name} vs rest", fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_aspect("equal")
            ax.set_xlabel("1 - specificity", fontsize=8)
            if k == 0:
                ax.set_ylabel("sensitivity", fontsize=8)
            ax.tick_params(labelsize=7)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=6.5, frameon=False)
    fig.suptitle(target.heading, fontsize=10)
    return target.save(fig)


def pairwise_levels(difference: np.ndarray, p_holm: np.ndarray, metric: str) -> np.ndarray:
    """Per cell: +1..+3 where the row is better (p < 0.05, 0.01, 0.001), -1..-3 where it is worse,
    0 where not significant; "better" follows the metric's direction (a lower MAE is better)."""
    level = np.zeros(difference.shape)
    for cut, value in ((0.05, 1), (0.01, 2), (0.001, 3)):
        level[np.nan_to_num(p_holm, nan=1.0) < cut] = value
    signed = np.sign(np.nan_to_num(difference)) * direction(metric) * level
    np.fill_diagonal(signed, 0)
    return signed


@reusable_figure
def pairwise_matrix(
    difference: np.ndarray, p_holm: np.ndarray, names: list[str], families: list[str], metric: str, target: FigureTarget
) -> list[Path]:
    """Cell (row i, column j, below the diagonal only: the upper half would repeat it with the sign
    flipped): metric of i minus metric of j, coloured by which of the two is better (the metric's
    direction: a lower MAE is better) and by its Holm-adjusted p (darker = smaller p; white = not
    significant)."""
    n = len(names)
    if n < 2:
        return []
    signed = pairwise_levels(difference, p_holm, metric)[1:, :-1]  # rows 1..n-1, columns 0..n-2
    shown = np.tril(np.ones((n - 1, n - 1), dtype=bool))  # cell (r, c) is pair (r + 1, c), c <= r
    colours = ["#b2182b", "#ef8a62", "#fddbc7", "#ffffff", "#d1e5f0", "#67a9cf", "#2166ac"]
    cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(-3.5, 4.5, 1), 7)
    cmap.set_bad("white")
    size = 0.5 * (n - 1) + 2.6
    fig, ax = plt.subplots(figsize=(size + 1.4, size))
    image = ax.imshow(np.ma.masked_where(~shown, signed), cmap=cmap, norm=norm)
    for r in range(n - 1):
        for c in range(r + 1):
            value = difference[r + 1, c]
            if np.isfinite(value):
                colour = "white" if abs(signed[r, c]) >= 3 else "black"
                ax.text(c, r, f"{value + 0.0:+.2f}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(n - 1), names[:-1], rotation=60, ha="right", fontsize=8.5)
    ax.set_yticks(range(n - 1), names[1:], fontsize=8.5)
    for ticks, kept in ((ax.get_xticklabels(), families[:-1]), (ax.get_yticklabels(), families[1:])):
        for tick, family in zip(ticks, kept):
            tick.set_color(FAMILY_COLOURS.get(family, "black") if family != "reference" else "0.35")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.6, ticks=range(-3, 4))
    bar.ax.set_yticklabels(
        [
            "row worse, p<0.001",
            "row worse, p<0.01",
            "row worse, p<0.05",
            "p ≥ 0.05",
            "row better, p<0.05",
            "row better, p<0.01",
            "row better, p<0.001",
        ],
        fontsize=8,
    )
    ax.set_xlabel(f"column method (cell: row minus column, {metric_display(metric)}; Holm-adjusted p)", fontsize=9)
    ax.set_title(target.heading, fontsize=9)
    fig.tight_layout()
    return target.save(fig)


def importance_measure(rows: pd.DataFrame) -> tuple[str, str | None, str] | None:
    """(value column, error column, axis label) to chart: permutation importance where permuting
    some feature lowered validation accuracy, else the model's own importance, else None."""
    permuted = rows["permutation_mean"].dropna()
    if (permuted > 0).any():
        return "permutation_mean", "permutation_sd", "drop in validation accuracy when permuted"
    if rows["gain_mean"].notna().any():
        # A small validation part often leaves accuracy unchanged by every single permutation:
        # an all-zero chart says nothing, while the model's own importance still ranks the features.
        note = "\n(permuting no single feature lowered validation accuracy)" if len(permuted) else ""
        return "gain_mean", None, "model importance (gain / impurity)" + note
    return None


@reusable_figure
def top_features(
    importance: pd.DataFrame, target: FigureTarget, top: int = 15, family: str = "radiomics"
) -> list[Path]:
    """Bar chart of the most important features per input (mean over splits; error bar = SD over
    splits), in the colour of the runner's family."""
    inputs = [i for i in INPUT_ORDER if i in set(importance["input"])]
    if not inputs:
        return []
    fig, axes = plt.subplots(1, len(inputs), figsize=(5.2 * len(inputs), 0.28 * top + 1.6), squeeze=False)
    for j, column in enumerate(inputs):
        ax = axes[0, j]
        rows = importance[importance["input"] == column]
        choice = importance_measure(rows)
        if choice is not None:
            value, error, xlabel = choice
        else:
            ax.text(
                0.5,
                0.5,
                "no importance available\n(validation part too small to permute)",
                ha="center",
                va="center",
                fontsize=8,
                transform=ax.transAxes,
            )
            ax.set_axis_off()
            ax.set_title(column, fontsize=10)
            continue
        part = rows.sort_values(value, ascending=False).head(top)
        y = np.arange(len(part))
        ax.barh(
            y,
            part[value],
            xerr=part[error].fillna(0) if error else None,
            color=FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"]),
            alpha=0.9,
            error_kw={"lw": 0.8},
        )
        ax.set_yticks(y, [_short_feature(f) for f in part["feature"]], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # narrow panels: fewer ticks, no overlapping labels
        ax.set_title(column, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(target.heading, fontsize=10)
    fig.tight_layout()
    return target.save(fig)


def _short_feature(name: str) -> str:
    return name.replace("log-sigma-", "LoG ").replace("-mm-3D", "mm").replace("wavelet-", "wav ")


def radiological(slice_ras: np.ndarray) -> np.ndarray:
    """A RAS-ordered axial slice (first axis toward R, second toward A) as radiologists view it:
    anterior at the top, the patient's right on the viewer's left (as the cohort montage)."""
    return np.asarray(slice_ras).T[::-1, ::-1]


def _orientation_letters(ax) -> None:
    for text, xy in (("A", (0.5, 0.98)), ("P", (0.5, 0.02)), ("R", (0.02, 0.5)), ("L", (0.98, 0.5))):
        ax.text(
            *xy, text, transform=ax.transAxes, ha="center", va="center", fontsize=6, color="yellow", fontweight="bold"
        )


@reusable_figure
def attention_maps(entries: list[dict], labels: LabelSet, target: FigureTarget, per_stage: int = 3) -> list[Path]:
    """Rows: true stages; each scan shows its most attended liver slice and the model's spatial
    attention blended on it (MONAI's ``blend_images``), in radiological orientation with a
    colourbar of the attention scale. ``entries``: scan_id, input, true label, predicted label,
    image (H, W) and map (H, W), both RAS-ordered slices."""
    import torch
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from monai.visualize import blend_images

    if not entries:
        return []
    rows = labels.n_classes
    per_stage = max(1, min(per_stage, max(sum(e["true"] == k for e in entries) for k in range(rows))))
    fig, axes = plt.subplots(
        rows, 2 * per_stage, figsize=(1.9 * 2 * per_stage + 0.8, 2.1 * rows + 0.8), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel():
        ax.axis("off")
    for k, name in enumerate(labels.names):
        mine = [e for e in entries if e["true"] == k][:per_stage]
        axes[k, 0].text(
            -0.15, 0.5, name, transform=axes[k, 0].transAxes, rotation=90, va="center", ha="right", fontsize=10
        )
        for j, entry in enumerate(mine):
            image = radiological(entry["image"])
            lo, hi = np.percentile(image, [1, 99])
            scaled = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
            heat = radiological(entry["map"]) / max(float(entry["map"].max()), 1e-6)
            blended = blend_images(
                torch.from_numpy(scaled[None].copy()),
                torch.from_numpy(heat[None].copy()),
                alpha=0.45,
                cmap="inferno",
                rescale_arrays=False,
            )
            axes[k, 2 * j].imshow(scaled, cmap="gray")
            axes[k, 2 * j].set_title(f"{entry['scan_id']} ({entry['input']})", fontsize=7)
            _orientation_letters(axes[k, 2 * j])
            axes[k, 2 * j + 1].imshow(np.moveaxis(np.asarray(blended), 0, -1))
            axes[k, 2 * j + 1].set_title(f"predicted {labels.names[entry['pred']]}", fontsize=7)
            _orientation_letters(axes[k, 2 * j + 1])
    fig.colorbar(
        ScalarMappable(Normalize(0, 1), cmap="inferno"),
        ax=axes.ravel().tolist(),
        shrink=0.5,
        label="spatial attention (scaled to its maximum)",
    )
    fig.suptitle(target.heading, fontsize=9)
    return target.save(fig)


@reusable_figure
def declared_differences(rows: pd.DataFrame, metric: str, target: FigureTarget) -> list[Path]:
    """The declared comparisons at a glance: each pair's difference (A minus B) with its 95 % CI,
    one line per pair and input, a line at 0, dark where the Holm-adjusted p is below 0.05.

    ``rows``: pair (``A vs B``), a, b (display names), input, value, low, high, p_holm.
    """
    if rows.empty:
        return []
    labels = [f"{r.pair}\n{r.input}" for r in rows.itertuples()]
    fig, ax = plt.subplots(figsize=(8.0, 0.55 * len(rows) + 1.6))
    for y, r in enumerate(rows.itertuples()):
        significant = np.isfinite(r.p_holm) and r.p_holm < 0.05
        colour = FAMILY_COLOURS["deep"] if significant else "#7f7f7f"
        if np.isfinite(r.low) and np.isfinite(r.high):
            ax.plot([r.low, r.high], [y, y], color=colour, lw=2, solid_capstyle="butt")
        ax.plot(r.value, y, "o", color=colour, ms=6, zorder=3)
        ax.annotate(f"Holm p {r.p_holm:.3f}", (r.high if np.isfinite(r.high) else r.value, y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=7, color=colour)  # fmt: skip
    ax.axvline(0, color="0.3", lw=0.8, ls=":")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_ylim(len(rows) - 0.5, -0.5)
    first = rows.iloc[0]
    better, worse = ("A", "B") if direction(metric) > 0 else ("B", "A")
    ax.set_xlabel(
        f"difference in {metric_display(metric).lower()}, A minus B (95 % CI); right of 0: {better} better, left: {worse} better",
        fontsize=8,
    )
    ax.margins(x=0.25)
    ax.grid(axis="x", color="0.92")
    ax.set_title(f"A = {first['a']}, B = {first['b']}" if rows["pair"].nunique() == 1 else "", fontsize=8)
    fig.suptitle(target.heading, fontsize=10)
    fig.tight_layout()
    return target.save(fig)


@reusable_figure
def learning_curve_figure(rows: pd.DataFrame, names: RowNames, metric: str, target: FigureTarget) -> list[Path]:
    """Metric against training patients (log scale), one panel per input, a CI band per method."""
    inputs = [i for i in INPUT_ORDER if i in set(rows["input"])]
    if not inputs:
        return []
    fig, axes = plt.subplots(1, len(inputs), figsize=(5.0 * len(inputs), 4.2), squeeze=False, sharey=True)
    styles: dict[str, int] = {}
    for j, column in enumerate(inputs):
        ax = axes[0, j]
        part = rows[rows["input"] == column]
        for runner in sorted(set(part["runner"]), key=names.sort_key):
            line = part[part["runner"] == runner].sort_values("share")
            family = names.family(runner)
            style = styles.setdefault(runner, sum(names.family(r) == family for r in styles))
            colour = FAMILY_COLOURS.get(family, FAMILY_COLOURS["other"])
            if family != "reference":  # chance rows: a line, no band
                ax.fill_between(line["patients"], line["low"], line["high"], color=colour, alpha=0.12, lw=0)
            ax.plot(
                line["patients"],
                line["value"],
                color=colour,
                ls=LINE_STYLES[style % len(LINE_STYLES)],
                marker="o",
                ms=4,
                label=names.show(runner) if j == 0 else None,
            )
        sizes = sorted(set(part["patients"].dropna()))
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{s:.0f}" for s in sizes])
        ax.minorticks_off()
        ax.set_title(column, fontsize=10)
        ax.set_xlabel("training patients (log scale)", fontsize=8)
        ax.grid(color="0.92")
    axes[0, 0].set_ylabel(metric_display(metric), fontsize=8)
    fig.legend(loc="lower center", ncol=min(3, len(styles)), fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(target.heading, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(styles) - 1) // 3), 1, 1))
    return target.save(fig)


def robustness_figure(rows: pd.DataFrame, names: RowNames, metric: str, target: FigureTarget) -> list[Path]:
    """Perturbed minus clean metric with its CI, one panel per input (rows) and perturbation
    (columns), one line per method (colour = family), one marker per level; a line at no change.
    Methods read off the axis, so any number of them (variants included) stays legible."""
    inputs = [i for i in INPUT_ORDER if i in set(rows["input"])]
    if not inputs:
        return []
    kinds = sorted(set(rows["perturbation"]))
    ranked = rows.drop_duplicates("method").reset_index(drop=True)  # rows come in table order
    methods = list(ranked["method"])
    runner_of = dict(zip(ranked["method"], ranked["runner"]))
    fig, axes = plt.subplots(
        len(inputs),
        len(kinds),
        figsize=(2.4 * len(kinds) + 3.2, 0.26 * len(methods) * len(inputs) + 1.4 * len(inputs) + 0.6),
        squeeze=False,
        sharey=True,
        sharex=True,
    )
    for j, kind in enumerate(kinds):
        levels = sorted(set(rows.loc[rows["perturbation"] == kind, "level"]))
        offsets = np.linspace(-0.22, 0.22, len(levels)) if len(levels) > 1 else np.zeros(1)
        for i, column in enumerate(inputs):
            ax = axes[i, j]
            part = rows[(rows["input"] == column) & (rows["perturbation"] == kind)]
            for index, (level, offset) in enumerate(zip(levels, offsets)):
                at = part[part["level"] == level]
                y = np.array([methods.index(m) for m in at["method"]]) + offset
                values, low, high = (at[c].to_numpy(dtype=float) for c in ("value", "low", "high"))
                colours = [
                    FAMILY_COLOURS.get(names.family(runner_of[m]), FAMILY_COLOURS["other"]) for m in at["method"]
                ]
                for k in range(len(at)):
                    ax.errorbar(
                        values[k],
                        y[k],
                        xerr=np.abs([[values[k] - low[k]], [high[k] - values[k]]]),
                        fmt=MARKERS[index % len(MARKERS)],
                        ms=4,
                        capsize=1.5,
                        lw=0.9,
                        color=colours[k],
                    )
            ax.axvline(0.0, color="0.4", lw=0.8)
            ax.grid(axis="x", color="0.92")
            key = ", ".join(f"{MARKER_GLYPHS[n % len(MARKER_GLYPHS)]} {lv:g}" for n, lv in enumerate(levels))
            ax.set_title(f"{column}: {kind}" + (f"\n({key})" if len(levels) > 1 else f" {levels[0]:g}"), fontsize=8)
            if i == len(inputs) - 1:
                ax.set_xlabel(f"change in {metric_display(metric)}", fontsize=8)
    axes[0, 0].set_yticks(range(len(methods)), methods)
    axes[0, 0].set_ylim(len(methods) - 0.5, -0.5)
    for row in axes:
        row[0].tick_params(axis="y", labelsize=7)
    fig.suptitle(target.heading, fontsize=10)
    fig.tight_layout()
    return target.save(fig)

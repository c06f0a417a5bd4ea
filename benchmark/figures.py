"""Figures (PNG and PDF) from prediction rows and summaries: confusion grid, per-stage ROC, forest plot."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from .labels import LabelSet  # noqa: E402
from .metrics import METRIC_NAMES, confusion, probability_columns  # noqa: E402
from .tables import INPUT_ORDER  # noqa: E402


def save(fig: plt.Figure, path_stem: Path) -> list[Path]:
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "pdf"):
        path = path_stem.with_suffix(f".{suffix}")
        # No creation date in the PDF: the same predictions give byte-identical figures.
        metadata = {"CreationDate": None} if suffix == "pdf" else None
        fig.savefig(path, dpi=130, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths


def _title(base: str, banner: str | None) -> str:
    return f"{banner}\n{base}" if banner else base


def confusion_grid(frame: pd.DataFrame, labels: LabelSet, protocol: str, level: str, out: Path, banner: str | None = None, order: list[str] | None = None) -> list[Path]:
    """One panel per (runner, input), wrapped into rows: counts summed over splits/seeds, colour = row share."""
    part = frame[(frame["protocol"] == protocol) & (frame["variant"] == "default")]
    runners = [r for r in (order or sorted(set(part["runner"]))) if r in set(part["runner"])]
    inputs = [i for i in INPUT_ORDER if i in set(part["input"])]
    panels = [(r, i) for r in runners for i in inputs if not part[(part["runner"] == r) & (part["input"] == i)].empty]
    if not panels:
        return []
    per_row = len(inputs) * max(1, 6 // len(inputs))
    n_rows = int(np.ceil(len(panels) / per_row))
    k = labels.n_classes
    fig, axes = plt.subplots(n_rows, per_row, figsize=(2.3 * per_row, 2.5 * n_rows + 0.9), squeeze=False)
    cols = probability_columns(part, labels)
    short = [n[:3] for n in labels.names]
    for ax in axes.ravel():
        ax.axis("off")
    for index, (runner, column) in enumerate(panels):
        ax = axes.ravel()[index]
        ax.axis("on")
        rows = part[(part["runner"] == runner) & (part["input"] == column)]
        cm = confusion(rows["true_label"].to_numpy(), rows[cols].to_numpy().argmax(axis=1), k)
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for a in range(k):
            for b in range(k):
                ax.text(b, a, f"{cm[a, b]}\n{share[a, b]:.0%}", ha="center", va="center", fontsize=7, color="white" if share[a, b] > 0.6 else "black")
        ax.set_xticks(range(k), short, fontsize=7)
        ax.set_yticks(range(k), short, fontsize=7)
        ax.set_title(f"{runner}\n{column}", fontsize=8)
        if index % per_row == 0:
            ax.set_ylabel("true", fontsize=7)
        ax.set_xlabel("predicted", fontsize=7)
    fig.suptitle(_title(f"Confusion matrices ({level} level, {protocol}; counts over all test splits and seeds, colour = row share)", banner), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if n_rows > 2 else 0.93))
    return save(fig, out)


def roc_per_stage(frame: pd.DataFrame, labels: LabelSet, protocol: str, level: str, out: Path, banner: str | None = None) -> list[Path]:
    """One panel per (input, stage): one-vs-rest ROC of each runner, predictions pooled over splits."""
    part = frame[(frame["protocol"] == protocol) & (frame["variant"] == "default")]
    inputs = [i for i in INPUT_ORDER if i in set(part["input"])]
    runners = sorted(set(part["runner"]))
    if not inputs:
        return []
    fig, axes = plt.subplots(len(inputs), labels.n_classes, figsize=(3.2 * labels.n_classes, 3.0 * len(inputs) + 0.6), squeeze=False)
    colours = plt.get_cmap("tab10")
    for i, column in enumerate(inputs):
        for k, name in enumerate(labels.names):
            ax = axes[i, k]
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
            for r, runner in enumerate(runners):
                rows = part[(part["runner"] == runner) & (part["input"] == column)]
                positive = rows["true_label"].to_numpy() == k
                if rows.empty or positive.all() or not positive.any():
                    continue
                fpr, tpr, _ = roc_curve(positive, rows[f"prob_{name}"].to_numpy())
                ax.plot(fpr, tpr, color=colours(r % 10), lw=1.2, label=runner)
            ax.set_title(f"{column}: {name} vs rest", fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_aspect("equal")
            if i == len(inputs) - 1:
                ax.set_xlabel("1 - specificity", fontsize=8)
            if k == 0:
                ax.set_ylabel("sensitivity", fontsize=8)
            ax.tick_params(labelsize=7)
    handles, names = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(_title(f"Per-stage ROC ({level} level, {protocol}; pooled over test splits)", banner), fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, out)


def forest_plot(summary: pd.DataFrame, protocol: str, level: str, metric: str, out: Path, reference: str | None = None, banner: str | None = None, order: list[str] | None = None) -> list[Path]:
    """Point estimate and 95 % CI per runner, one panel per input; the reference value as a line."""
    part = summary[(summary["protocol"] == protocol) & (summary["level"] == level) & (summary["variant"] == "default")]
    inputs = [i for i in INPUT_ORDER if i in set(part["input"])]
    if not inputs:
        return []
    runners = [r for r in (order or sorted(set(part["runner"]), key=lambda r: (r != reference, r))) if r in set(part["runner"])]
    fig, axes = plt.subplots(1, len(inputs), figsize=(3.6 * len(inputs), 0.42 * len(runners) + 1.6), squeeze=False, sharey=True)
    for j, column in enumerate(inputs):
        ax = axes[0, j]
        for y, runner in enumerate(runners):
            hit = part[(part["runner"] == runner) & (part["input"] == column)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            colour = "0.5" if runner == reference else "C0"
            if np.isfinite(r["low"]) and np.isfinite(r["high"]):
                ax.plot([r["low"], r["high"]], [y, y], color=colour, lw=1.6)
            ax.plot(r["value"], y, "o", color=colour, ms=5)
            if runner == reference:
                ax.axvline(r["value"], color="0.6", ls=":", lw=1)
        ax.set_yticks(range(len(runners)), runners, fontsize=8)
        ax.set_title(column, fontsize=10)
        ax.set_xlabel(METRIC_NAMES.get(metric, metric), fontsize=8)
        ax.grid(axis="x", color="0.92")
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
    ci = "bootstrap" if (part["ci"] == "bootstrap").all() else "corrected t"
    fig.suptitle(_title(f"{METRIC_NAMES.get(metric, metric)} with 95 % CI ({ci}; {level} level, {protocol})", banner), fontsize=10)
    fig.tight_layout()
    return save(fig, out)


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


def top_features(importance: pd.DataFrame, runner: str, protocol: str, out: Path, top: int = 15, banner: str | None = None) -> list[Path]:
    """Bar chart of the most important features per input (mean over splits; error bar = SD over splits)."""
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
            ax.text(0.5, 0.5, "no importance available\n(validation part too small to permute)", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            ax.set_axis_off()
            ax.set_title(column, fontsize=10)
            continue
        part = rows.sort_values(value, ascending=False).head(top)
        y = np.arange(len(part))
        ax.barh(y, part[value], xerr=part[error].fillna(0) if error else None, color="C0", alpha=0.85, error_kw={"lw": 0.8})
        ax.set_yticks(y, [_short_feature(f) for f in part["feature"]], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # narrow panels: fewer ticks, no overlapping labels
        ax.set_title(column, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(_title(f"{runner}: top {top} features ({protocol}; mean over splits)", banner), fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def _short_feature(name: str) -> str:
    return name.replace("log-sigma-", "LoG ").replace("-mm-3D", "mm").replace("wavelet-", "wav ")


def attention_maps(entries: list[dict], labels: LabelSet, title: str, out: Path, per_stage: int = 3, banner: str | None = None) -> list[Path]:
    """Rows: true stages; each scan shows its most attended liver slice and the model's spatial
    attention blended on it (MONAI's ``blend_images``). ``entries``: scan_id, input, true label,
    predicted label, image (H, W) and map (H, W)."""
    import torch
    from monai.visualize import blend_images

    if not entries:
        return []
    rows = labels.n_classes
    fig, axes = plt.subplots(rows, 2 * per_stage, figsize=(1.9 * 2 * per_stage, 2.1 * rows + 0.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, name in enumerate(labels.names):
        mine = [e for e in entries if e["true"] == k][:per_stage]
        axes[k, 0].text(-0.15, 0.5, name, transform=axes[k, 0].transAxes, rotation=90, va="center", ha="right", fontsize=10)
        for j, entry in enumerate(mine):
            image = entry["image"]
            lo, hi = np.percentile(image, [1, 99])
            scaled = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
            heat = entry["map"] / max(float(entry["map"].max()), 1e-6)
            blended = blend_images(torch.from_numpy(scaled.T[None].copy()), torch.from_numpy(heat.T[None].copy()), alpha=0.45, cmap="inferno", rescale_arrays=False)
            axes[k, 2 * j].imshow(scaled.T, cmap="gray")
            axes[k, 2 * j].set_title(f"{entry['scan_id']} ({entry['input']})", fontsize=7)
            axes[k, 2 * j + 1].imshow(np.moveaxis(np.asarray(blended), 0, -1))
            axes[k, 2 * j + 1].set_title(f"predicted {labels.names[entry['pred']]}", fontsize=7)
    fig.suptitle(_title(title, banner), fontsize=9)
    fig.tight_layout()
    return save(fig, out)

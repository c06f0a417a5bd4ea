"""A montage of liver slices per stage and sequence: the first thing to look at in a cohort."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cirrbench.benchmark.data.cohort import Cohort, ScanRecord  # noqa: E402
from cirrbench.benchmark.data.imageio import liver_slice_index, read_array_radiological  # noqa: E402

__all__ = ["montage"]


def montage(cohort: Cohort, out: str | Path, per_stage: int = 2, title: str | None = None, seed: int = 0) -> Path:
    """Rows are stages, columns ``per_stage`` patients x sequences; the liver outline is drawn in.

    Patients with both sequences are preferred, so a row shows the same patient in T1W and T2W.
    Slices are shown in the radiological view (anterior up, the patient's right on the left), as
    the attention figure shows the deep runners' input.
    Each panel is windowed to 0..2.2x its own liver median (scanner gains differ between centres).
    """
    rng = np.random.default_rng(seed)
    sequences = cohort.sequences
    by_patient: dict[str, dict[str, ScanRecord]] = {}
    for r in cohort.records:
        if r.image is not None:
            by_patient.setdefault(r.patient_id, {})[r.sequence] = r
    if not by_patient:
        raise ValueError(f"{cohort.source}: no images to draw (a feature table has none)")
    names = cohort.labels.names
    fig, axes = plt.subplots(
        len(names),
        per_stage * len(sequences),
        figsize=(2.6 * per_stage * len(sequences), 2.4 * len(names)),
        squeeze=False,
    )
    for row, name in enumerate(names):
        candidates = [p for p, s in by_patient.items() if next(iter(s.values())).label_name == name]
        paired = [p for p in candidates if len(by_patient[p]) == len(sequences)]
        pool = paired if len(paired) >= per_stage else candidates
        chosen = list(rng.choice(sorted(pool), size=min(per_stage, len(pool)), replace=False)) if pool else []
        for col in range(per_stage * len(sequences)):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            which, seq = divmod(col, len(sequences))
            record = by_patient[chosen[which]].get(sequences[seq]) if which < len(chosen) else None
            if record is None:
                ax.set_facecolor("0.9")
                continue
            image_path, mask_path = record.files()
            image = read_array_radiological(image_path).astype(np.float32)
            mask = read_array_radiological(mask_path) > 0
            k = liver_slice_index(mask)
            liver = image[k][mask[k]]
            centre = float(np.median(liver)) if liver.size else float(np.percentile(image[k], 90))
            ax.imshow(image[k], cmap="gray", vmin=0.0, vmax=2.2 * centre, interpolation="nearest")
            ax.contour(mask[k], levels=[0.5], colors=["#ff7f0e"], linewidths=0.6)
            ax.set_title(f"{record.sequence} patient {record.patient_id}", fontsize=8)
            for text, xy in (("A", (0.5, 0.97)), ("P", (0.5, 0.03)), ("R", (0.03, 0.5)), ("L", (0.97, 0.5))):
                ax.text(
                    *xy,
                    text,
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="yellow",
                    fontweight="bold",
                )
            if col == 0:
                ax.set_ylabel(name, fontsize=11)
    fig.suptitle(title or f"{Path(cohort.source).name}: largest liver slice per stage", fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out

"""Cohort summary: counts per sequence x split x stage, pairing, and grid geometry from headers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from cirrbench.benchmark.data.cohort import Cohort
from cirrbench.benchmark.data.imageio import read_header

__all__ = ["count_table", "format_info", "geometry_table", "summary"]


def count_table(cohort: Cohort) -> pd.DataFrame:
    """Rows (sequence, split), one column per label, plus a total; splits in official order."""
    frame = cohort.to_frame()
    frame["official_split"] = frame["official_split"].fillna("none")
    table = pd.crosstab([frame["sequence"], frame["official_split"]], frame["label_name"])
    table = table.reindex(columns=[n for n in cohort.labels.names if n in table.columns], fill_value=0)
    order = {"train": 0, "valid": 1, "test": 2, "none": 3}
    table = table.sort_index(
        key=lambda idx: idx.map(lambda v: order.get(v, v) if isinstance(v, str) and v in order else v)
    )
    table["total"] = table.sum(axis=1)
    return table


def geometry_table(cohort: Cohort) -> pd.DataFrame:
    """Per sequence: in-plane and slice spacing (min / median / max), slice count and most common size."""
    rows = []
    for sequence in cohort.sequences:
        spacings, sizes = [], []
        for record in cohort.records:
            if record.sequence != sequence or record.image is None:
                continue
            header = read_header(record.image)
            spacings.append(header.GetSpacing())
            sizes.append(header.GetSize())
        if not sizes:
            rows.append({"sequence": sequence, "scans": 0, "note": "feature table: no images"})
            continue
        spacing = np.array(spacings)
        slices = np.array([s[2] for s in sizes])
        common, count = Counter(sizes).most_common(1)[0]
        rows.append(
            {
                "sequence": sequence,
                "scans": len(sizes),
                "in-plane mm (min/median/max)": f"{spacing[:, 0].min():.2f} / {np.median(spacing[:, 0]):.2f} / {spacing[:, 0].max():.2f}",
                "slice mm (min/median/max)": f"{spacing[:, 2].min():.2f} / {np.median(spacing[:, 2]):.2f} / {spacing[:, 2].max():.2f}",
                "slices (min/median/max)": f"{slices.min()} / {int(np.median(slices))} / {slices.max()}",
                "most common size": f"{'x'.join(map(str, common))} ({count} scans)",
            }
        )
    return pd.DataFrame(rows).set_index("sequence")


def summary(cohort: Cohort) -> dict:
    patients = cohort.patients
    paired = cohort.paired_patients() if len(cohort.sequences) > 1 else ()
    return {
        "source": cohort.source,
        "scans": len(cohort),
        "patients": len(patients),
        "patients_with_all_sequences": len(paired),
        "labels": list(cohort.labels.names),
        "ordinal": cohort.labels.ordinal,
        "left_out": len(cohort.problems),
    }


def format_info(cohort: Cohort) -> str:
    s = summary(cohort)
    lines = [
        f"cohort: {s['source']}",
        f"scans: {s['scans']}   patients: {s['patients']}   with both sequences: {s['patients_with_all_sequences']}",
        f"labels: {', '.join(s['labels'])} ({'ordinal' if s['ordinal'] else 'nominal'})",
    ]
    if s["left_out"]:
        lines.append(f"left out while indexing: {s['left_out']} problem(s); run `cirrbench data validate` for the list")
    lines += ["", "scans per sequence x official split x stage:", count_table(cohort).to_string(), ""]
    lines += ["geometry (from headers):", geometry_table(cohort).to_string()]
    return "\n".join(lines)

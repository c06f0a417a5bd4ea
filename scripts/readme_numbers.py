"""Write the README's phantom numbers from the committed tables, so no number there is typed by hand.

    python scripts/readme_numbers.py            # rewrite the block between the README's markers
    python scripts/readme_numbers.py --check    # exit 1 if the README differs from the tables

The block lies between ``<!-- phantom-numbers:start -->`` and ``<!-- phantom-numbers:end -->``.
``./run_all.sh`` users rerun it after regenerating results/; the tests run ``--check``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- phantom-numbers:start -->", "<!-- phantom-numbers:end -->"
ABLATIONS = ("no-selection", "harmonised", "clinical", "shape-only", "firstorder-only")
INPUTS = ("T1W", "T2W")


def _value(cell: str) -> str:
    """The estimate of a table cell ``0.619 [0.512, 0.726]*``."""
    match = re.match(r"\s*([+-]?\d+\.\d+)", str(cell))
    if match is None:
        raise ValueError(f"no number in table cell {cell!r}")
    return match.group(1)


def _column(frame: pd.DataFrame, start: str, end: str) -> str:
    matches = [c for c in frame.columns if c.startswith(start) and c.endswith(end)]
    if len(matches) != 1:
        raise ValueError(f"expected one column {start}...{end}, found {matches}")
    return matches[0]


def cv_grid(tables: Path) -> str:
    """``5x1``: folds x repeats of the run's cv protocol, from its manifest."""
    manifest = json.loads((tables.parent / "manifest.json").read_text())
    for item in manifest["experiment"]["config"]["protocols"]:
        if isinstance(item, dict) and item.get("name") == "cv":
            return f"{item.get('folds', 5)}x{item.get('repeats', 3)}"
    return "5x3"  # cv listed by name: the protocol's defaults


def paragraph(tables: Path) -> str:
    """The README's sentences on the phantom's radiomics numbers, from the cv tables."""
    ablation = pd.read_csv(tables / "ablation_radiomics-xgboost_cv_patient.csv", dtype=str).set_index("Variant")
    secondary = pd.read_csv(tables / "secondary_cv_patient.csv", dtype=str).set_index("id")
    full = " / ".join(_value(ablation.loc["default", f"{i} Accuracy"]) for i in INPUTS)
    deltas, significant = [], []
    for variant in ABLATIONS:
        if variant not in ablation.index:
            continue
        deltas.append(
            f"`{variant}` " + " / ".join(_value(ablation.loc[variant, f"{i} Δ vs default (95 % CI)"]) for i in INPUTS)
        )
        significant += [
            f"`{variant}` ({i})" for i in INPUTS if float(ablation.loc[variant, f"{i} p (Holm)"] or "nan") < 0.05
        ]
    holm = "none significant after Holm" if not significant else "significant after Holm: " + ", ".join(significant)

    def metric(runner: str, input_: str, name: str) -> str:
        return _value(secondary.loc[runner, _column(secondary, f"{input_} (n = ", f") {name}")])

    ordinal = "; ".join(
        f"{i}: QWK {metric('radiomics-ordinal', i, 'QWK')} vs {metric('radiomics-xgboost', i, 'QWK')}, "
        f"stage MAE {metric('radiomics-ordinal', i, 'MAE')} vs {metric('radiomics-xgboost', i, 'MAE')}"
        for i in INPUTS
    )
    return (
        f"On the phantom (cpu profile, {cv_grid(tables)} CV, patient accuracy, T1W / T2W), XGBoost reaches "
        f"{full}; against it, {', '.join(deltas)}, {holm} "
        "(`results/tables/ablation_radiomics-xgboost_cv_patient.md`). The ordinal learner against "
        f"XGBoost ({ordinal}; `secondary_cv_patient`). Generated from the committed tables by "
        "`scripts/readme_numbers.py`. Phantom numbers, never clinical evidence."
    )


def render(readme: str, tables: Path) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"README.md lacks the markers {START} ... {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    indent = head[len(head.rstrip(" ")) :]  # the markers sit inside a list item: keep its indentation
    return f"{head}{START}\n{indent}{paragraph(tables)}\n{indent}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the tables")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--tables", type=Path, default=ROOT / "results" / "tables")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    wanted = render(text, args.tables)
    if args.check:
        if wanted != text:
            print(f"{args.readme}: the phantom numbers differ from {args.tables}; run scripts/readme_numbers.py")
            return 1
        return 0
    args.readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Comparing results folders cell by cell (`cirrbench compare`) and rerunning a folder's own config
against it (`cirrbench reproduce --check`): equal, within the seed spread, outside."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cirrbench.benchmark.reporting.compare_runs import compare_runs, seed_spreads
from cirrbench.cli import main
from cirrbench.models.deep_runners import CPU_SMOKE


def _folder(root: Path, main_rows: list[list[str]], seeds_rows: list[list[str]] | None = None) -> Path:
    tables = root / "tables"
    tables.mkdir(parents=True)
    header = ["kind", "id", "Method", "T1W (n = 40)", "T2W (n = 41)"]
    pd.DataFrame(main_rows, columns=header).to_csv(tables / "main_cv_patient.csv", index=False)
    if seeds_rows is not None:
        pd.DataFrame(seeds_rows, columns=["kind", "id", "Method", "T1W", "T2W"]).to_csv(
            tables / "seeds_cv_patient.csv", index=False
        )
    return root


def test_cells_are_equal_within_the_seed_spread_or_outside(tmp_path):
    reference = _folder(
        tmp_path / "a",
        [
            ["measured", "majority", "Majority class", "0.419 [0.378, 0.459]", "0.388 [0.343, 0.433]"],
            ["measured", "msa", "MSA", "0.527 [0.374, 0.680]", "0.574 [0.463, 0.686]"],
        ],
        [["measured", "msa", "MSA", "0.527 ± 0.020 (3 seeds, 0.505-0.548)", "0.574 ± 0.010 (3 seeds, 0.566-0.585)"]],
    )
    new = _folder(
        tmp_path / "b",
        [
            ["measured", "majority", "Majority class", "0.419 [0.378, 0.459]", "0.390 [0.343, 0.433]"],
            ["measured", "msa", "MSA", "0.560 [0.400, 0.700]", "0.620 [0.500, 0.700]"],
        ],
    )
    assert seed_spreads(reference / "tables")[("main_cv_patient", "msa|T1W")] == pytest.approx(0.043)
    cells = compare_runs(reference, new).cells
    status = {(c.row, c.column.split()[0]): c.status for c in cells if c.table == "main_cv_patient"}
    assert {c.status for c in cells if c.table == "seeds_cv_patient"} == {"removed"}
    assert status[("measured:majority", "T1W")] == "equal"
    assert status[("measured:majority", "T2W")] == "outside"  # no seed spread for a chance row: any move is outside
    assert status[("measured:msa", "T1W")] == "within seed spread"  # +0.033 <= 0.043
    assert status[("measured:msa", "T2W")] == "outside"  # +0.046 > 0.019
    assert ("measured:msa", "Method") in status and status[("measured:msa", "Method")] == "equal"


def test_compare_command_exits_1_and_writes_every_cell(tmp_path, capsys):
    row = ["measured", "majority", "Majority class", "0.419 [0.378, 0.459]", "0.388 [0.343, 0.433]"]
    reference = _folder(tmp_path / "a", [row])
    same = _folder(tmp_path / "b", [row])
    assert main(["compare", str(reference), str(same)]) == 0
    moved = _folder(tmp_path / "c", [[*row[:3], "0.500 [0.378, 0.559]", row[4]]])
    assert main(["compare", str(reference), str(moved), "--out", str(tmp_path / "cells.csv")]) == 1
    out = capsys.readouterr().out
    assert "1 outside" in out and "main_cv_patient | measured:majority | T1W (n = 40)" in out
    assert len(pd.read_csv(tmp_path / "cells.csv")) == 3
    assert main(["compare", str(reference), str(tmp_path / "missing")]) == 2


def test_runs_on_other_cpu_models_say_so(tmp_path, capsys):
    row = ["measured", "majority", "Majority class", "0.419 [0.378, 0.459]", "0.388 [0.343, 0.433]"]
    folders = [_folder(tmp_path / name, [row]) for name in ("amd", "intel", "intel-again")]
    for folder, cpu in zip(folders, ("AMD EPYC", "Intel(R) Xeon(R) Processor", "Intel(R) Xeon(R) Processor")):
        (folder / "manifest.json").write_text(json.dumps({"kernels": {"cpu_model": cpu}}))
    assert main(["compare", str(folders[0]), str(folders[1])]) == 0
    out = capsys.readouterr().out
    assert "note: the runs used different CPUs (AMD EPYC vs Intel(R) Xeon(R) Processor)" in out
    assert main(["compare", str(folders[1]), str(folders[2])]) == 0
    assert "note:" not in capsys.readouterr().out


def test_reproduce_check_reruns_the_folders_config_and_finds_a_changed_cell(tiny_phantom, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "check",
                "data": {"root": str(tiny_phantom)},
                "inputs": ["T1W"],
                "protocols": ["official"],
                "metrics": {"bootstrap": 50},
                "runners": [
                    "majority",
                    {"name": "cnn-resnet18", "params": {**CPU_SMOKE, "epochs": 1, "augment": True}},
                ],
            }
        )
    )
    reference = tmp_path / "ref"
    assert main(["run", str(config), "--out", str(reference), "-q", "--jobs", "1"]) == 0
    check = tmp_path / "again"
    assert main(["reproduce", "--check", str(reference), "--out", str(check), "-q", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "0 outside" not in text and "outside" not in text.split("against")[-1]  # every cell equal, deep included
    cells = pd.read_csv(check / "check.csv")
    assert set(cells["status"]) == {"equal"} and len(cells) > 20

    main_table = reference / "tables" / "main_official_patient.csv"
    frame = pd.read_csv(main_table, dtype=str)
    column = [c for c in frame.columns if c.startswith("T1W")][0]
    frame.loc[frame["id"] == "cnn-resnet18", column] = "0.999 [0.990, 1.000]"
    frame.to_csv(main_table, index=False)
    assert main(["reproduce", "--check", str(reference), "--out", str(check), "-q", "--jobs", "1"]) == 1  # warm rerun
    text = capsys.readouterr().out
    assert "1 cell(s) differ beyond the seed spread" in text and "measured:cnn-resnet18" in text

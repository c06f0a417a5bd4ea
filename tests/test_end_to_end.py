"""run_all.sh end to end on the tiny profile: every table and figure, with the expected rows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def run_tiny(out: Path, env: dict) -> subprocess.CompletedProcess:
    """``./run_all.sh --profile tiny`` into ``out``, as a user runs it."""
    return subprocess.run(
        [str(ROOT / "run_all.sh"), "--profile", "tiny", "--out", str(out), "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_all_tiny_profile_writes_every_table_and_figure(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, "CIRRBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("CIRRBENCH_DATA", None)
    done = run_tiny(out, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SYNTHETIC PHANTOM" in done.stdout.splitlines()[0]  # said first, before anything else
    assert "Where everything is" in done.stdout
    after = done.stdout.split("Where everything is:")[1].splitlines()
    assert "start here" in after[1] and str(out / "REPORT.md") in after[1] and "report.html" in after[1]

    main = pd.read_csv(out / "tables" / "main_official_patient.csv")
    assert list(main["id"]) == ["majority", "radiomics-logreg", "msa"]  # reference, radiomics, deep
    assert list(main["Method"]) == [
        "Majority class",
        "Logistic regression (radiomics)",
        "Multi-scale sequence attention (from scratch)",
    ]
    assert list(main.columns[:3]) == ["kind", "id", "Method"] and [c.split()[0] for c in main.columns[3:]] == [
        "T1W",
        "T2W",
    ]
    assert set(pd.read_csv(out / "tables" / "main_official_slice.csv")["id"]) == {"msa"}
    per_stage = pd.read_csv(out / "tables" / "per_stage_official.csv")
    assert len(per_stage) == 3 * 2 and {"mild Recall", "moderate Recall", "severe Recall"} <= set(per_stage.columns)
    assert list(pd.read_csv(out / "tables" / "ablation_radiomics-logreg_official_patient.csv")["Variant"]) == [
        "default",
        "shape-only",
    ]
    assert list(pd.read_csv(out / "tables" / "ablation_msa_official_patient.csv")["Variant"]) == [
        "default",
        "mean-pooling",
    ]
    verdict = pd.read_csv(out / "tables" / "verdict_official.csv")
    declared = verdict[verdict["kind"] == "measured"]
    assert list(declared["id"]) == ["radiomics-logreg:default vs msa:default"] * 2 and list(declared["Input"]) == [
        "T1W",
        "T2W",
    ]
    assert set(declared["Test"]) == {"paired bootstrap"}  # 3 seeds a side: resampled, never McNemar
    for table in (
        "main_official_patient",
        "per_stage_official",
        "ablation_msa_official_patient",
        "verdict_official",
        "paper_official_patient",
        "confusion_official",
    ):
        for suffix in ("md", "tex", "csv"):
            assert (out / "tables" / f"{table}.{suffix}").stat().st_size > 100
        assert "SYNTHETIC PHANTOM" in (out / "tables" / f"{table}.md").read_text()
    for figure in (
        "confusion_official_deep",
        "roc_official",
        "forest_official",
        "pairwise_official_T1W",
        "top_features_radiomics-logreg_official",
        "attention_msa_official",
    ):
        for suffix in ("png", "pdf"):
            assert (out / "figures" / f"{figure}.{suffix}").stat().st_size > 5000
    assert (out / "figures" / "cohort_montage.png").is_file()
    page = (out / "REPORT.md").read_text()
    assert page.index("SYNTHETIC PHANTOM") < page.index("## Verdict") < page.index("## The seed paper's table")
    assert "data:image/png;base64," in (out / "report.html").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cohort"]["phantom"] and all(j["done"] for j in manifest["jobs"])

    again = run_tiny(out, env)
    assert again.returncode == 0
    assert "0 ran" in again.stdout  # a second run reuses every finished job

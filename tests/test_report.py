"""The verdict and the report: declared comparisons, ablations against their own full model, the
seed paper's table, confusion tables, the report page (rendered in Chromium), LaTeX that compiles,
and a rebuild that is byte-identical."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import runners_for_tests  # noqa: F401  (registers the stand-in runners)
from helpers import CV3, experiment_config
from PIL import Image

from cirrbench.benchmark.data.labels import CIRRHOSIS_STAGES
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment
from cirrbench.benchmark.reporting.evaluation import Evaluation, MethodKey
from cirrbench.benchmark.reporting.page import embedded_png
from cirrbench.benchmark.reporting.report import build_report
from cirrbench.benchmark.reporting.table_builders import RowNames, exploratory_comparisons


def config(root: Path, **overrides) -> dict:
    grid = {
        "inputs": ["T1W", "T2W", "both"],
        "protocols": ["official", CV3],
        "runners": ["majority", "test-radiomics", {"name": "test-deep", "variants": "all"}],
        "figures": {"formats": ["png", "pdf"]},  # the rebuild test compares the PDFs too
    }
    return experiment_config(root, **{"name": "report-test", **grid, **overrides})


@pytest.fixture(scope="module")
def results(tiny_phantom, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "results"
    summary, _ = run_experiment(
        parse_experiment(config(tiny_phantom), "report-test.yaml"), RunOptions(out=out, progress=False, jobs=1)
    )
    assert summary.ok
    return out


def read(results: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(results / "tables" / f"{name}.csv")


def test_declared_pair_defaults_to_first_radiomics_vs_first_deep(results):
    import json

    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["report"]["compare"] == [["test-radiomics", "test-deep"]]


@pytest.mark.parametrize(
    "protocol, inputs, test",
    [("official", ["T1W", "T2W"], "exact McNemar"), ("cv", ["T1W", "T2W"], "corrected resampled t")],
)
def test_verdict_rows_per_input_with_the_test_that_fits_the_design(results, protocol, inputs, test):
    verdict = read(results, f"verdict_{protocol}")
    declared = verdict[verdict["kind"] == "measured"]
    assert list(declared["Input"]) == inputs  # test-radiomics takes single sequences only: no "both" pair
    assert set(declared["Test"]) == {test} and set(declared["Level"]) == {"patient"}
    assert list(declared["id"]) == ["test-radiomics:default vs test-deep:default"] * len(inputs)
    for _, row in declared.iterrows():
        assert re.match(r"^[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]$", row["Δ A − B (95 % CI)"])
        p, holm = (1.0 if v == "<0.001" else float(v) for v in (row["p"], row["p (Holm)"]))
        assert holm >= p
    exploratory = verdict[verdict["kind"].str.startswith("exploratory")]
    assert len(exploratory) == len(inputs) and exploratory["Comparison"].str.startswith("best radiomics: ").all()
    assert "held-out accuracy" in (results / "tables" / f"verdict_{protocol}.md").read_text()


def test_comparisons_csv_holds_every_test_with_its_holm_family(results):
    comparisons = pd.read_csv(results / "metrics" / "comparisons.csv")
    assert {"declared", "vs reference", "ablation"} <= set(comparisons["kind"])
    for _, part in comparisons.groupby("holm_family"):
        assert (part["p_holm"].dropna() >= part["p"].dropna().reindex(part["p_holm"].dropna().index) - 1e-12).all()
    ablation = comparisons[comparisons["kind"] == "ablation"]
    assert set(ablation["b_variant"]) == {"default"} and set(ablation["a_runner"]) == {
        "test-deep"
    }  # against its own full model, never majority


@pytest.mark.parametrize(
    "protocol, level", [("official", "patient"), ("official", "slice"), ("cv", "patient"), ("cv", "slice")]
)
def test_ablation_tables_show_difference_to_the_full_model_with_ci_and_p(results, protocol, level):
    table = read(results, f"ablation_test-deep_{protocol}_{level}")
    assert list(table["Variant"]) == ["default", "blunt", "one-slice"]
    for column in [c for c in table.columns if c.endswith("Δ vs default (95 % CI)")]:
        assert table.loc[0, column] == "(full model)"
        assert table[column].iloc[1:].str.match(r"^[+-]\d\.\d{3}").all()


def test_paper_table_has_five_metrics_per_input_with_cis_and_n(results):
    table = read(results, "paper_cv_patient")
    metric_columns = [c for c in table.columns if c not in ("kind", "id", "Method")]
    assert len(metric_columns) == 3 * 5
    assert [c.split(") ")[1] for c in metric_columns[:5]] == ["Accuracy", "Precision", "Recall", "Specificity", "F1"]
    assert all(re.match(r"^(T1W|T2W|both) \(n = \d+\) ", c) for c in metric_columns)
    assert list(table["id"]) == ["majority", "test-radiomics", "test-deep"]  # reference, radiomics, deep
    radiomics = table[table["id"] == "test-radiomics"].iloc[0]
    assert re.match(r"^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$", radiomics[metric_columns[0]])


def test_paper_table_metrics_are_chosen_in_the_config(tiny_phantom, tmp_path):
    raw = config(
        tiny_phantom,
        inputs=["T1W"],
        protocols=["official"],
        runners=["majority", "test-radiomics"],
        metrics={"bootstrap": 50, "table": ["balanced_accuracy", "auc", "qwk", "ece", "brier"]},
    )
    run_experiment(parse_experiment(raw, "t.yaml"), RunOptions(out=tmp_path / "r", progress=False))
    table = read(tmp_path / "r", "paper_official_patient")
    assert [c.split(") ")[1] for c in table.columns[3:]] == ["Bal. accuracy", "AUC", "QWK", "ECE", "Brier"]


def test_confusion_table_counts_every_test_patient_once_per_split(results):
    table = read(results, "confusion_cv")
    counts = table[["Predicted stage mild", "Predicted stage moderate", "Predicted stage severe"]].apply(
        lambda c: c.str.extract(r"^(\d+)")[0].astype(int)
    )
    per_method = counts.sum(axis=1).groupby([table["id"], table["Input"]]).sum()
    predictions = pd.concat(
        pd.read_csv(p, dtype={"patient_id": str}) for p in (results / "predictions").glob("*/predictions.csv")
    )
    cv = predictions[(predictions["protocol"] == "cv") & (predictions["variant"] == "default")]
    expected = cv.groupby(["runner", "input"])["patient_id"].nunique()
    for (runner, column), total in per_method.items():
        assert total == expected[(runner, column)]
    first = table.iloc[0]
    assert first["True stage"] == "mild" and "%" in first["Predicted stage mild"]


def test_per_stage_table_has_cis_in_the_main_tables_row_order(results):
    table = read(results, "per_stage_cv")
    assert list(dict.fromkeys(table["id"])) == ["majority", "test-radiomics", "test-deep"]
    assert table["mild Recall"].str.match(r"^\d\.\d{3} \[").all()


def test_report_page_verdict_first_and_self_contained(results):
    page = (results / "REPORT.md").read_text()
    assert (
        page.index("SYNTHETIC PHANTOM")
        < page.index("## Verdict")
        < page.index("## The seed paper's table")
        < page.index("## Figures")
        < page.index("## Provenance")
    )
    verdict = page[page.index("## Verdict") : page.index("## The seed paper's table")]
    assert (
        "Radiomics stand-in" in verdict
        and "Deep stand-in" in verdict
        and "corrected resampled t" in verdict
        and "exact McNemar" in verdict
    )
    assert re.search(r"repeated CV, 3 splits", verdict)
    html = (results / "report.html").read_text()
    assert "<img" in html and not re.search(r"""(src|href)=['"]?https?://""", html)  # no network needed
    assert html.count("data:image/png;base64,") == len(list((results / "figures").glob("*.png"))) - (
        1 if (results / "figures" / "cohort_montage.png").exists() else 0
    )


def test_the_page_opens_with_contents_headline_declared_differences_and_their_table(results):
    html = (results / "report.html").read_text()
    nav = re.search(r"<nav class='toc'>(.*?)</nav>", html).group(1)
    anchors = re.findall(r"href='#([^']+)'", nav)
    assert anchors[0] == "verdict" and anchors[-2:] == ["figures", "provenance"]
    assert all(f"id='{a}'" in html for a in anchors)  # every link reaches its section
    verdict = html[html.index("id='verdict'") : html.index(f"id='{anchors[1]}'")]
    headline = verdict.index("class='verdict'")
    declared = [m.start() for m in re.finditer(r"<img alt='declared_", verdict)]
    table = verdict.index("<table")
    details = verdict.index("<details>")
    assert declared and headline < declared[0] < table < details  # sentence, picture, table, words
    sentences = len(re.findall(r"<li>", verdict[details:]))
    assert f"Every declared comparison in words ({sentences})" in verdict and sentences >= 2
    assert html.count("id='verdict'") == 1 and "Declared comparisons</h2>" not in html  # the table is not shown twice
    figures = re.findall(r"<figure><figcaption>([^<]+)</figcaption><img[^>]+>(.*?)</figure>", html)
    assert figures and all("class='caption'" in below for _, below in figures)  # a caption under every figure


def test_page_embeds_each_figure_as_a_same_size_palette_copy(results):
    """The embedded copies keep every figure's size and only reduce its colours to a palette."""
    html = (results / "report.html").read_text()
    embedded = re.findall(r"<img alt='([^']+)' src='data:image/png;base64,([^']+)'>", html)
    assert embedded
    for stem, data in embedded:
        with (
            Image.open(io.BytesIO(base64.b64decode(data))) as copy,
            Image.open(results / "figures" / f"{stem}.png") as original,
        ):
            assert copy.mode == "P" and copy.size == original.size


def test_embedded_figure_turns_transparency_white(tmp_path):
    png = tmp_path / "clear.png"
    Image.new("RGBA", (4, 3), (0, 0, 0, 0)).save(png)
    with Image.open(io.BytesIO(base64.b64decode(embedded_png(png)))) as copy:
        assert copy.size == (4, 3) and copy.convert("RGB").getcolors() == [(12, (255, 255, 255))]


def _rename_job_folders(results: Path) -> None:
    """Give every job folder another name, sorting in the opposite order, as another cohort
    fingerprint does (the same scans copied or generated again: other file times)."""
    import json

    flipped = str.maketrans("0123456789abcdef", "fedcba9876543210")
    manifest = json.loads((results / "manifest.json").read_text())
    for job in manifest["jobs"]:
        old = results / "predictions" / job["key"]
        job["key"] = job["key"].translate(flipped)
        record = json.loads((old / "job.json").read_text())
        (old / "job.json").write_text(json.dumps({**record, "key": job["key"]}, indent=2))
        old.rename(old.with_name(job["key"]))
    (results / "manifest.json").write_text(json.dumps(manifest, indent=2))


def test_report_rebuild_is_byte_identical_with_figures_rendered_on_workers(results, tmp_path):
    """The fixture's report was built in one process; this rebuild renders its figures on two
    worker processes (pickled figures), from job folders renamed as another cohort fingerprint
    names them, and every file comes out the same."""
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    _rename_job_folders(copy)
    generated = [
        *(copy / "tables").iterdir(),
        *(copy / "metrics").iterdir(),
        copy / "REPORT.md",
        copy / "report.html",
        *(copy / "figures").glob("*.pdf"),
        *(copy / "figures").glob("*.png"),
    ]
    before = {p.relative_to(copy): p.read_bytes() for p in generated}
    for path in generated:
        path.unlink()
    build_report(copy, jobs=2)
    after = {p: (copy / p).read_bytes() for p in before}
    assert [p for p in before if before[p] != after[p]] == []


PDFLATEX = shutil.which("pdflatex")


COMMITTED = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex not installed (Debian: apt-get install texlive-latex-recommended)"
)
@pytest.mark.parametrize("which", ["this run", "committed results"])
def test_every_table_compiles_with_pdflatex(results, tmp_path, which):
    tables = sorted(((results if which == "this run" else COMMITTED) / "tables").glob("*.tex"))
    assert len(tables) >= 12
    compile_tables(tables, tmp_path)


def compile_tables(tables: list[Path], tmp_path: Path) -> None:
    """pdflatex on a document inputting every table; each keeps its label."""
    body = "\n".join(f"\\input{{{t}}}\n\\clearpage" for t in tables)
    document = tmp_path / "tables.tex"
    document.write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\usepackage{array}\n\\begin{document}\n"
        + body
        + "\n\\end{document}\n"
    )
    done = subprocess.run(
        [PDFLATEX, "-halt-on-error", "-interaction=nonstopmode", document.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 10_000
    for table in tables:
        assert f"\\label{{tab:{table.stem}}}" in table.read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium)")
def test_report_page_renders_in_a_real_browser(results, tmp_path):
    screenshot = tmp_path / "page.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    done = subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,1600",
            (results / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.is_file(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[0] >= 1500 and pixels.shape[1] >= 1200
    assert pixels[..., :3].std() > 0.05  # text, tables and the banner, not a blank page
    banner = np.array([1.0, 0xF3 / 255, 0xCD / 255])  # the phantom banner's background colour
    assert (np.abs(pixels[..., :3] - banner).max(axis=2) < 0.02).sum() > 1000


# ---- config and selection --------------------------------------------------------------------
@pytest.mark.parametrize(
    "compare, message",
    [
        ("msa", "a list of pairs"),
        ([["test-radiomics"]], "a pair of row names"),
        ([["test-radiomics", "nope"]], "'nope' is not a runner of this config"),
        ([["test-radiomics", "test-deep:no-such-variant"]], "does not run variant 'no-such-variant'"),
        ([["test-deep", "test-deep"]], "compared with itself"),
    ],
)
def test_compare_key_errors_name_the_pair(tiny_phantom, compare, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_experiment(config(tiny_phantom, compare=compare), "bad.yaml")


def test_declared_variant_pairs_are_accepted(tiny_phantom):
    experiment = parse_experiment(
        config(tiny_phantom, compare=[["test-radiomics", "test-deep"], ["test-deep", "test-deep:blunt"]]), "ok.yaml"
    )
    assert experiment.compare == (("test-radiomics", "test-deep"), ("test-deep", "test-deep:blunt"))


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({"main": "acuracy"}, "unknown metric 'acuracy'"),
        ({"table": ["f1", "kappa"]}, "unknown metric 'kappa'"),
        ({"mian": "accuracy"}, "unknown key"),
    ],
)
def test_metric_names_are_checked_when_the_config_is_read(tiny_phantom, metrics, message):
    with pytest.raises(ConfigError, match=message):
        parse_experiment(config(tiny_phantom, metrics=metrics), "bad.yaml")


def test_exploratory_block_chooses_each_familys_best_on_validation_not_test():
    """Radiomics A is best on test but worst on validation: the block must pick B."""
    rng = np.random.default_rng(0)
    rows = []
    truth = rng.integers(0, 3, 40)
    for runner, skill in (("rad-a", 0.95), ("rad-b", 0.5), ("deep", 0.6)):
        hit = rng.random(40) < skill
        proba = np.full((40, 3), 0.1)
        proba[np.arange(40), np.where(hit, truth, (truth + 1) % 3)] = 0.8
        rows.append(
            pd.DataFrame(
                {
                    "patient_id": [str(i) for i in range(40)],
                    "true_label": truth,
                    **{f"prob_{c}": proba[:, k] for k, c in enumerate(CIRRHOSIS_STAGES.names)},
                }
            ).assign(runner=runner, variant="default", input="T1W", protocol="official", split_id="s", seed_index=0)
        )
    evaluation = Evaluation({"patient": pd.concat(rows)}, pd.DataFrame(), CIRRHOSIS_STAGES, {}, n_boot=50)
    validation = pd.DataFrame(
        {
            "runner": ["rad-a", "rad-b", "deep"],
            "variant": "default",
            "input": "T1W",
            "protocol": "official",
            "validation": [0.2, 0.7, 0.5],
        }
    )
    names = RowNames(families={"rad-a": "radiomics", "rad-b": "radiomics", "deep": "deep"})
    ((comparison, why),) = exploratory_comparisons(evaluation, names, validation, "official", "accuracy")
    assert comparison.a == MethodKey("rad-b", "default", "T1W", "official") and comparison.b.runner == "deep"
    assert "0.700" in why
    assert (
        evaluation.estimate(MethodKey("rad-a", "default", "T1W", "official"), "accuracy").value
        > evaluation.estimate(comparison.a, "accuracy").value
    )


def test_seeds_show_their_spread_and_are_averaged_per_split_before_the_t(tiny_phantom, tmp_path):
    raw = config(
        tiny_phantom,
        inputs=["T1W"],
        protocols=[CV3],
        runners=["majority", "test-radiomics", "test-deep"],
        seeds=2,
        metrics={"bootstrap": 50},
    )
    out = tmp_path / "r"
    summary, _ = run_experiment(parse_experiment(raw, "t.yaml"), RunOptions(out=out, progress=False, jobs=1))
    assert summary.ok
    per_split = pd.read_csv(out / "metrics" / "per_split.csv")
    deep = per_split[(per_split["runner"] == "test-deep") & (per_split["level"] == "patient")]
    assert sorted(deep["seed_index"].unique()) == [0, 1]
    by_seed = deep.groupby("seed_index")["accuracy"].mean()
    table = read(out, "seeds_cv_patient")
    (cell,) = table.loc[table["id"] == "test-deep", "T1W"]
    mean, sd = re.match(r"([\d.]+) ± ([\d.]+) \(2 seeds", cell).groups()
    assert float(mean) == pytest.approx(by_seed.mean(), abs=5e-4)
    assert float(sd) == pytest.approx(by_seed.std(ddof=1), abs=5e-4)
    (majority,) = table.loc[table["id"] == "majority", "T1W"]
    assert " ± 0.000 (2 seeds" in majority  # a deterministic runner: no spread

    # the corrected t runs over the 3 splits, each split's seeds averaged first (not over 6 runs)
    import json

    from cirrbench.benchmark.reporting.stats import corrected_t_ci

    jobs = [json.loads(p.read_text()) for p in (out / "predictions").glob("*/job.json")]
    fraction = float(np.mean([j["n_test"] / j["n_train"] for j in jobs if j["protocol"] == "cv"]))
    per_split_mean = deep.groupby("split_id")["accuracy"].mean()
    assert len(per_split_mean) == 3
    expected = corrected_t_ci(per_split_mean.to_numpy(), fraction, bounds=(0.0, 1.0))
    main = read(out, "main_cv_patient")
    (shown,) = main.loc[main["id"] == "test-deep", main.columns[3]]
    assert shown.startswith(
        f"{expected.value:.3f} ± {by_seed.std(ddof=1):.3f} [{expected.low:.3f}, {expected.high:.3f}]"
    )  # the row's SD over seeds beside the interval that already carries it
    if PDFLATEX is not None:
        compile_tables([out / "tables" / "seeds_cv_patient.tex"], tmp_path)

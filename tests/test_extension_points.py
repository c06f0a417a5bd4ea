"""Every extension point is one new file: a runner, a backbone, a protocol, a metric, a table and a
figure, each added here from a temporary module (a plugin file) and used by a real run."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment
from cirrbench.benchmark.runners.check import check_runner
from cirrbench.benchmark.runners.plugins import load_plugin
from cirrbench.benchmark.runners.registry import get_runner

PLUGIN = """
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cirrbench import Predictions, Runner, register_runner
from cirrbench.benchmark.protocols.base import Split, SplitSet
from cirrbench.benchmark.protocols.registry import ProtocolOption, register_protocol
from cirrbench.benchmark.reporting.figures import save
from cirrbench.benchmark.reporting.metric_registry import Metric, register_metric
from cirrbench.benchmark.reporting.output_registry import register_figure, register_table
from cirrbench.benchmark.reporting.table_format import Table
from cirrbench.models.backbones import Backbone, register_backbone


@dataclass(frozen=True)
class NoParams:
    pass


@register_runner
class EchoPriorRunner(Runner):
    name = "ext-prior"

    def fit(self, train, valid, context):
        self.labels_ = train.labels
        self.prior_ = train.class_frequencies
        return self

    def predict(self, test):
        return Predictions.from_array(test.scan_ids, np.tile(self.prior_, (len(test), 1)), self.labels_)


class TinyNet(Backbone):
    def __init__(self, spec):
        super().__init__()
        self.stem = torch.nn.Conv2d(spec.in_channels, 8, 3, padding=1)
        self.out_channels = [8]

    def forward(self, x):
        return [torch.relu(self.stem(x))]


@register_backbone("ext-tinynet", display_name="TinyNet (extension)")
def tiny(spec):
    return TinyNet(spec)


@register_protocol("ext-halves", description="two halves", order=5, options={"flip": ProtocolOption("int", "0 or 1", 0, "swap the halves")})
def halves(cohort, flip=0):
    patients = sorted(cohort.patients, key=int)
    half = len(patients) // 2
    first, second = patients[:half], patients[half:]
    train, test = (second, first) if flip else (first, second)
    roles = {**{p: "train" for p in train[1:]}, train[0]: "valid", **{p: "test" for p in test}}
    return SplitSet("ext-halves", [Split("ext-halves", "ext-halves", roles)])


def youden(y, proba, labels):
    pred = proba.argmax(axis=1)
    scores = []
    for k in range(labels.n_classes):
        positive, negative = y == k, y != k
        if positive.any() and negative.any():
            scores.append(np.mean(pred[positive] == k) + np.mean(pred[negative] != k) - 1.0)
    return float(np.mean(scores)) if scores else float("nan")


register_metric(Metric("ext_youden", "Macro Youden index", "Youden", bounds=(-1.0, 1.0), compute=youden))


@register_table("ext-counts", section="Extension: test patients per method", order=90)
def counts(context):
    frame = context.evaluation.frames["patient"]
    rows = [[runner, str(part["patient_id"].nunique())] for runner, part in frame.groupby("runner")]
    return [Table("ext-counts_all", "Test patients per method", ["Method", "Patients"], rows)]


@register_figure("ext-bars", order=90)
def bars(context):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([0, 1], [1, 2])
    return save(fig, context.store.figures_dir / "ext-bars_all")


@register_figure("ext-dots", order=91, per_protocol=True)
def dots(context, protocol):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [2, 1], "o")
    target = context.figure(f"ext-dots_{protocol}", f"Dots of {protocol}")
    fig.suptitle(target.heading)
    return target.save(fig)
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "extensions.py"
    path.write_text(textwrap.dedent(PLUGIN))
    load_plugin(str(path))
    yield path
    # leave the registries as the other tests expect them
    from cirrbench.benchmark.protocols.registry import unregister_protocol
    from cirrbench.benchmark.reporting.metric_registry import unregister_metric
    from cirrbench.benchmark.reporting.output_registry import unregister_output
    from cirrbench.benchmark.runners.registry import unregister_runner
    from cirrbench.models.backbones import unregister_backbone

    unregister_protocol("ext-halves")
    unregister_metric("ext_youden")
    unregister_output("ext-counts")
    unregister_output("ext-bars")
    unregister_output("ext-dots")
    unregister_backbone("ext-tinynet")
    unregister_runner("cnn-ext-tinynet")
    unregister_runner("ext-prior")


@pytest.fixture(scope="module")
def run(plugin, tiny_phantom, tmp_path_factory):
    raw = {
        "name": "extensions",
        "plugins": [str(plugin)],
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "protocols": [{"name": "ext-halves", "flip": 1}],
        "runners": [
            "majority",
            "ext-prior",
            {
                "name": "cnn-ext-tinynet",
                "params": {
                    "width": 0.25,
                    "size": 32,
                    "spacing_mm": 2.5,
                    "epochs": 1,
                    "batch_size": 4,
                    "slices_per_scan": 2,
                    "max_slices": 4,
                    "augment": False,
                },
            },
        ],
        "metrics": {"bootstrap": 30, "table": ["accuracy", "ext_youden"]},
    }
    out = tmp_path_factory.mktemp("ext") / "results"
    summary, report = run_experiment(parse_experiment(raw, "ext.yaml"), RunOptions(out=out, progress=False))
    assert summary.ok, summary.format()
    return out


def test_a_runner_is_one_file(run):
    main = pd.read_csv(run / "tables" / "main_ext-halves_patient.csv")
    assert "ext-prior" in set(main["id"])


def test_a_backbone_is_one_file_and_gets_its_slice_runner(plugin, run, contract_phantom, tmp_path):
    cls = get_runner("cnn-ext-tinynet")
    assert cls.display_name == "TinyNet (extension)"
    check_runner(cls, load_cirrmri(contract_phantom), tmp_cache=tmp_path)
    assert "TinyNet (extension)" in (run / "tables" / "main_ext-halves_patient.md").read_text()


def test_a_protocol_is_one_file_with_checked_options(run, plugin, tiny_phantom):
    from cirrbench.benchmark.execution.experiment import ConfigError

    assert (run / "splits" / "ext-halves" / "index.json").is_file()
    with pytest.raises(ConfigError, match="protocols\\[0\\].flop: unknown option of protocol 'ext-halves'"):
        parse_experiment({"runners": ["majority"], "protocols": [{"name": "ext-halves", "flop": 1}]}, "x.yaml")


def test_a_metric_is_one_file_with_its_bounds_and_direction(run):
    paper = pd.read_csv(run / "tables" / "paper_ext-halves_patient.csv")
    youden = [c for c in paper.columns if c.endswith("Youden")]
    assert youden and paper[youden[0]].str.match(r"^-?\d\.\d{3}( \[|$)").all()
    summary = pd.read_csv(run / "metrics" / "summary.csv")
    values = summary[summary["metric"] == "ext_youden"]
    assert len(values) and values["low"].dropna().ge(-1.0).all() and values["high"].dropna().le(1.0).all()


def test_a_table_and_a_figure_are_one_file_each(run):
    assert (run / "tables" / "ext-counts_all.md").is_file() and (run / "figures" / "ext-bars_all.png").is_file()
    page = (run / "REPORT.md").read_text()
    assert "## Extension: test patients per method" in page and "ext-bars_all.png" in page
    protocols = sorted(p.name for p in (run / "splits").iterdir() if p.is_dir())
    dots = sorted(p.name for p in (run / "figures").glob("ext-dots_*.png"))
    assert protocols and dots == [f"ext-dots_{protocol}.png" for protocol in protocols]  # one per protocol


PLUGIN_SOURCE = """
from cirrbench import Runner, register_runner
from cirrbench.benchmark.runners.reference import MajorityRunner


@register_runner
class Twice(MajorityRunner):
    name = "test-imported-twice"
    display_name = "Imported twice"
"""


def test_a_plugin_file_imported_twice_registers_one_runner(tmp_path):
    """`import my_runner` and the same file as a plugin: one class, not a name conflict."""
    import importlib.util

    from cirrbench.benchmark.runners.plugins import load_plugin
    from cirrbench.benchmark.runners.registry import get_runner, unregister_runner

    path = tmp_path / "my_runner.py"
    path.write_text(PLUGIN_SOURCE)
    spec = importlib.util.spec_from_file_location("my_runner_as_imported", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_runner_as_imported"] = module  # as `import my_runner` leaves it
    try:
        spec.loader.exec_module(module)  # the user's own import
        load_plugin(str(path))  # the config's plugins: entry, another module name
        assert get_runner("test-imported-twice").display_name == "Imported twice"
        other = tmp_path / "other.py"
        other.write_text(PLUGIN_SOURCE.replace("Imported twice", "Another"))
        other_spec = importlib.util.spec_from_file_location("other_runner", other)
        other_module = importlib.util.module_from_spec(other_spec)
        sys.modules["other_runner"] = other_module
        with pytest.raises(ValueError, match="runner name 'test-imported-twice' is taken"):
            other_spec.loader.exec_module(other_module)  # another file's class: a real conflict
    finally:
        unregister_runner("test-imported-twice")
        sys.modules.pop("my_runner_as_imported", None)
        sys.modules.pop("other_runner", None)


def test_an_untested_verdict_says_why():
    from cirrbench.benchmark.reporting.page import verdict_in_words
    from cirrbench.benchmark.reporting.table_builders import RowNames

    names = RowNames(display={}, families={})
    words = verdict_in_words({}, names, None, "accuracy", declared=[])
    assert words[0].startswith("No comparison was declared") and "compare: [[A, B]]" in words[0]
    words = verdict_in_words({"cv": []}, names, None, "accuracy", declared=[["radiomics-xgboost", "msa"]])
    assert "(radiomics-xgboost vs msa)" in words[0] and "same protocol and input" in words[0]

"""The foundation family: encoders load their authors' checkpoints strictly, a missing file is one
line before any work, embeddings are deterministic and cached, and the family reaches every
table, figure and the verdict of a run without the head ever seeing a test patient."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import ConfigError, parse_experiment
from cirrbench.benchmark.runners.contract import RunContext, ScanSet
from cirrbench.cli import main
from cirrbench.models.backbones import WeightsMismatchError
from cirrbench.models.foundation import embeddings as embeddings_module
from cirrbench.models.foundation.embeddings import EmbeddingSettings, embed_scans
from cirrbench.models.foundation.encoders import (
    WEIGHTS_ENV,
    encoder_spec,
    frozen_encoder,
    resolve_weights,
)
from cirrbench.models.foundation.runners import FoundationLogRegRunner

FIXTURES = Path(__file__).parent / "fixtures" / "reference_weights"


def _random_state(keys: list[tuple[str, list[int]]], seed: int = 0) -> dict[str, torch.Tensor]:
    """A checkpoint with the given names and shapes and random values (integer counters stay integers)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in keys:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.05
    return state


def _reference_keys(model: str) -> list[tuple[str, list[int]]]:
    return [(k, s) for k, s in json.loads((FIXTURES / f"{model}.json").read_text())["keys"]]


def _dinov2_file(tmp_path: Path) -> Path:
    """DINOv2's published layout: timm's names (the authors') plus the pretraining mask token."""
    state = _random_state(_reference_keys("vit_small_patch14_dinov2"))
    state["mask_token"] = torch.zeros(1, 384)
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(state, path)
    return path


def _radimagenet_file(tmp_path: Path) -> Path:
    """RadImageNet's layout: ``backbone.N`` = torchvision ResNet-50's Nth child (the fc head absent)."""
    child = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
    keys = [(k, s) for k, s in _reference_keys("resnet50") if not k.startswith("fc.")]
    state = {f"backbone.{child[k.split('.')[0]]}.{k.split('.', 1)[1]}": v for k, v in _random_state(keys).items()}
    path = tmp_path / "ResNet50.pt"
    torch.save(state, path)
    return path


def _medicalnet_file(tmp_path: Path, depth: int) -> Path:
    """MedicalNet's layout: MONAI's ResNet names under DataParallel's ``module.``, in a
    ``state_dict`` entry, without the BatchNorm counters (saved by an older torch)."""
    own = encoder_spec(f"medicalnet-resnet{depth}").build().state_dict()
    keys = [(f"module.{k}", list(v.shape)) for k, v in own.items() if not k.endswith("num_batches_tracked")]
    path = tmp_path / f"resnet_{depth}_23dataset.pth"
    torch.save({"state_dict": _random_state(keys)}, path)
    return path


@pytest.mark.parametrize(
    "encoder, write",
    [
        ("dinov2-vits14", _dinov2_file),
        ("radimagenet-resnet50", _radimagenet_file),
        ("medicalnet-resnet10", lambda tmp: _medicalnet_file(tmp, 10)),
        ("medicalnet-resnet18", lambda tmp: _medicalnet_file(tmp, 18)),  # shortcut A: no downsample convolutions
    ],
)
def test_each_published_layout_loads_strictly_with_its_values(encoder, write, tmp_path):
    path = write(tmp_path)
    spec = encoder_spec(encoder)
    network = frozen_encoder(spec, path)
    published = spec.to_own(torch.load(path, weights_only=True).get("state_dict", torch.load(path, weights_only=True)))
    own = network.state_dict()
    for key, value in published.items():
        assert torch.equal(own[key], value), key  # every tensor landed where its name says
    assert not any(p.requires_grad for p in network.parameters()) and not network.training


def test_a_checkpoint_of_another_encoder_is_refused_naming_the_mismatch(tmp_path):
    with pytest.raises(WeightsMismatchError, match=r"does not fit the network: .*missing"):
        frozen_encoder(encoder_spec("radimagenet-resnet50"), _dinov2_file(tmp_path))


def test_a_missing_checkpoint_is_one_config_error_naming_the_file_and_its_source(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    raw = {"runners": ["majority", {"name": "foundation-logreg", "params": {"encoder": "dinov2-vits14"}}]}
    with pytest.raises(ConfigError) as caught:
        parse_experiment(raw, "fm.yaml")
    text = str(caught.value)
    assert "dinov2_vits14_pretrain.pth" in text and "facebookresearch/dinov2" in text and "weights: random" in text
    _dinov2_file(tmp_path)  # the published file in $CIRRBENCH_WEIGHTS: found by name
    assert resolve_weights(encoder_spec("dinov2-vits14"), "") == (tmp_path / "dinov2_vits14_pretrain.pth").resolve()
    parse_experiment(raw, "fm.yaml")


def test_the_cli_exits_2_before_any_work_when_weights_are_missing(tiny_phantom, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    config = tmp_path / "fm.yaml"
    config.write_text(
        yaml.safe_dump({"data": {"root": str(tiny_phantom)}, "runners": ["majority", "foundation-xgboost"]})
    )
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "-q"]) == 2
    error = capsys.readouterr().err
    assert "runners[1] (foundation-xgboost)" in error and "dinov2_vits14_pretrain.pth" in error
    assert not (tmp_path / "out").exists()


def _settings(encoder: str = "dinov2-vits14", **kwargs) -> EmbeddingSettings:
    return EmbeddingSettings(encoder_spec(encoder), None, **{"slices": 2, "size": 28, **kwargs})


def test_embeddings_are_deterministic_and_read_from_the_cache(tiny_phantom, monkeypatch):
    records = load_cirrmri(tiny_phantom).records[:3]
    first = embed_scans(records, _settings())
    assert first.shape == (3, 384) and np.isfinite(first.to_numpy()).all()

    def no_network(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(embeddings_module, "frozen_encoder", no_network)
    assert embed_scans(records, _settings()).equals(first)
    monkeypatch.undo()
    other = embed_scans(records, _settings(slices=3))  # another setting: another cache entry
    assert not other.equals(first)


def test_a_volume_encoder_embeds_the_liver_roi(tiny_phantom):
    records = load_cirrmri(tiny_phantom).records[:2]
    frame = embed_scans(records, _settings("medicalnet-resnet10", size=32))
    assert frame.shape == (2, 512)


def test_a_torchscript_file_is_an_encoder(tiny_phantom, tmp_path):
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    path = tmp_path / "encoder.pt"
    torch.jit.script(network).save(str(path))
    records = load_cirrmri(tiny_phantom).records[:2]
    frame = embed_scans(records, EmbeddingSettings(encoder_spec(str(path)), None, slices=2, size=32))
    assert frame.shape == (2, 5)
    for weights in ("", "auto"):  # the weights are in the file: never "random init"
        params = FoundationLogRegRunner.make_params({"encoder": str(path), "weights": weights})
        assert FoundationLogRegRunner.qualifier(params) == "TorchScript encoder.pt"
    torch.nn.init.constant_(network[0].weight, 0.5)  # another file under the same name: not the cached vectors
    torch.jit.script(network).save(str(path))
    changed = embed_scans(records, EmbeddingSettings(encoder_spec(str(path)), None, slices=2, size=32))
    assert not changed.equals(frame)


def test_the_head_never_sees_a_test_patient(tiny_phantom, monkeypatch):
    cohort = load_cirrmri(tiny_phantom)
    t1 = [r for r in cohort.records if r.sequence == "T1W"]
    train, test = ScanSet(t1[:-4], cohort.labels), ScanSet(t1[-4:], cohort.labels)
    seen: list[str] = []
    original = FoundationLogRegRunner._raw_features

    def spy(self, scans):
        seen.extend(scans.scan_ids)
        return original(self, scans)

    monkeypatch.setattr(FoundationLogRegRunner, "_raw_features", spy)
    runner = FoundationLogRegRunner(FoundationLogRegRunner.make_params(FoundationLogRegRunner.smoke_params))
    runner.fit(train, ScanSet([], cohort.labels), RunContext(seed=0))
    assert set(seen) == set(train.scan_ids)  # fitting read the training scans only
    seen.clear()
    predictions = runner.predict(test.hide_labels())
    assert set(seen) == set(test.scan_ids) and predictions.scan_probabilities.shape == (4, 3)


def test_the_family_reaches_the_tables_figures_and_verdict(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    smoke = FoundationLogRegRunner.smoke_params
    raw = {
        "data": {"root": str(tiny_phantom)},
        "inputs": ["T1W"],
        "metrics": {"bootstrap": 20},
        "runners": [
            "majority",
            {"name": "radiomics-logreg", "params": {"extraction": "default", "tuning_iterations": 0, "select_k": 10}},
            {"name": "foundation-logreg", "params": smoke},
        ],
        "compare": [["radiomics-logreg", "foundation-logreg"]],
    }
    config = tmp_path / "fm.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    table = pd.read_csv(out / "tables" / "main_official_patient.csv")
    assert list(table["id"]) == [
        "majority",
        "radiomics-logreg",
        "foundation-logreg",
    ]  # reference, radiomics, foundation
    assert "Logistic regression on frozen encoder (DINOv2 ViT-S/14, random init)" in list(table["Method"])
    verdict = pd.read_csv(out / "tables" / "verdict_official.csv")
    assert "radiomics-logreg:default vs foundation-logreg:default" in set(verdict["id"])
    exploratory = verdict[verdict["kind"].str.startswith("exploratory")]  # each family's best, held-out choice
    assert list(exploratory["Comparison"]) == [
        "best radiomics: Logistic regression vs best foundation: Logistic regression on frozen encoder"
    ]
    assert (out / "figures" / "confusion_official_foundation.png").stat().st_size > 1000
    assert "random init" in (out / "REPORT.md").read_text()


def test_auto_weights_resolve_per_machine_and_the_row_says_which_ran(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    absent = FoundationLogRegRunner.make_params({"weights": "auto"})
    assert absent.weights == "random" and FoundationLogRegRunner.shown_as(absent).endswith(
        "(DINOv2 ViT-S/14, random init)"
    )
    _dinov2_file(tmp_path)
    present = FoundationLogRegRunner.make_params({"weights": "auto"})
    assert present.weights == "" and FoundationLogRegRunner.shown_as(present).endswith("(DINOv2 ViT-S/14)")

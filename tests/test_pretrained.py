"""ImageNet weights by name: the key maps against fixtures of the reference state dicts (timm's;
NVlabs' for MambaVision-T), strict loading,
first-convolution adaptation, the preflight checks and the row names that say how a model started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cirrbench.models.backbones import (
    BackboneSpec,
    WeightsMismatchError,
    available_backbones,
    build_backbone,
    reference_for,
)
from cirrbench.models.deep_runners import SliceCNNRunner
from cirrbench.models.pretrained import adapt_first_conv, load_pretrained, to_own_keys

FIXTURES = Path(__file__).parent / "fixtures" / "reference_weights"
#: every built-in backbone -> its reference model (the fixture's name), from the registry
MAPPED = {b: reference_for(b).timm for b in available_backbones() if reference_for(b) is not None}


def test_every_builtin_2d_backbone_has_a_reference():
    assert set(MAPPED) == set(available_backbones())  # resnet18/50, densenet121, vgg19, convnext-t/b, ...
    assert {"vgg19", "resnet50", "mobilenetv3-small", "convnext-base", "pvtv2-b2", "mambavision-t"} <= set(MAPPED)


def reference_state(model: str) -> dict[str, torch.Tensor]:
    """A stand-in checkpoint with the fixture's keys and shapes (values: a fixed pattern)."""
    keys = json.loads((FIXTURES / f"{model}.json").read_text())["keys"]
    return {k: torch.full(shape, 0.5) if shape else torch.tensor(7) for k, shape in keys}


@pytest.mark.parametrize("backbone", sorted(MAPPED))
def test_the_key_map_covers_every_parameter_with_its_shape(backbone):
    reference = reference_for(backbone)
    assert reference is not None and reference.timm == MAPPED[backbone]
    assert json.loads((FIXTURES / f"{MAPPED[backbone]}.json").read_text())["header"].startswith("keys and shapes of")
    mapped = to_own_keys(reference_state(MAPPED[backbone]), reference)
    own = build_backbone(backbone, BackboneSpec(3, 1.0)).state_dict()
    assert sorted(mapped) == sorted(own)  # a bijection: nothing missing, nothing left over
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in own.items()}


@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_a_reference_checkpoint_file_loads_strictly_with_the_first_conv_adapted(tmp_path, in_channels):
    state = reference_state("resnet18")
    state["conv1.weight"] = torch.randn(64, 3, 7, 7)
    path = tmp_path / "resnet18_imagenet.pt"
    torch.save(state, path)
    net = build_backbone("resnet18", BackboneSpec(in_channels, 1.0))
    source, mismatched = load_pretrained(net, "resnet18", str(path))
    assert source == str(path) and mismatched == []
    loaded = net.state_dict()
    assert torch.equal(loaded["net.conv1.weight"], adapt_first_conv(state["conv1.weight"], in_channels))
    assert float(loaded["net.layer1.0.bn1.running_var"].mean()) == 0.5


def test_first_conv_adaptation_follows_timm():
    weight = torch.randn(8, 3, 3, 3)
    reference = torch.nn.functional.conv2d(torch.ones(1, 3, 5, 5), weight)
    for channels in (1, 3, 6):  # the response to a grey image is kept exactly
        response = torch.nn.functional.conv2d(torch.ones(1, channels, 5, 5), adapt_first_conv(weight, channels))
        assert torch.allclose(response, reference, atol=1e-5)
    for channels in (2, 5):  # timm's rule: RGB repeated, the first C kept, scaled by 3 / C
        expected = torch.cat([weight, weight], dim=1)[:, :channels] * (3.0 / channels)
        assert torch.equal(adapt_first_conv(weight, channels), expected)


def test_a_checkpoint_of_another_backbone_is_an_error_listing_the_mismatch(tmp_path):
    path = tmp_path / "vgg.pt"
    torch.save(reference_state("vgg19_bn"), path)
    net = build_backbone("resnet18", BackboneSpec(3, 1.0))
    with pytest.raises(WeightsMismatchError, match=r"missing \(net\.bn1.*unexpected \(features\.0") as error:
        load_pretrained(net, "resnet18", str(path))
    assert "weights_strict: false" in str(error.value)
    _, mismatched = load_pretrained(net, "resnet18", str(path), strict=False)
    assert len(mismatched) > 50


def test_a_checkpoint_in_the_modules_own_names_loads_as_it_is(tmp_path):
    source = build_backbone("vgg19", BackboneSpec(1, 0.25))
    path = tmp_path / "own.pt"
    torch.save(source.state_dict(), path)
    target = build_backbone("vgg19", BackboneSpec(1, 0.25))
    load_pretrained(target, "vgg19", str(path))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))


def test_imagenet_without_a_source_says_how_to_get_one():
    from cirrbench.models.pretrained import PretrainedUnavailable, imagenet_state_dict

    try:
        import timm  # noqa: F401

        pytest.skip("timm is importable here: it would download weights")
    except ImportError:
        pass
    with pytest.raises(PretrainedUnavailable, match=r"pip install -e \.\[pretrained\]"):
        imagenet_state_dict("convnext-tiny")  # timm only: no torchvision names, no MONAI loader


@pytest.fixture
def plain_backbone():
    """A backbone registered without a reference checkpoint (as a plugin's might be)."""
    from cirrbench.benchmark.runners.registry import unregister_runner
    from cirrbench.models.backbones import register_backbone, unregister_backbone

    register_backbone("test-plain")(lambda spec: build_backbone("resnet18", spec))
    yield "test-plain"
    unregister_backbone("test-plain")
    unregister_runner("cnn-test-plain")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"backbone": "test-plain", "pretrained": "imagenet"}, "no reference checkpoint for backbone 'test-plain'"),
        ({"pretrained": "/nonexistent/weights.pt"}, "neither imagenet, none nor an existing file"),
    ],
)
def test_preflight_refuses_pretrained_it_cannot_load(plain_backbone, params, message):
    with pytest.raises(ValueError, match=message):
        SliceCNNRunner.check_params(SliceCNNRunner.make_params(params))


@pytest.mark.parametrize("pretrained, shown", [("none", "from scratch"), ("imagenet", "ImageNet-pretrained")])
def test_rows_say_how_the_backbone_started(pretrained, shown):
    from cirrbench.benchmark.runners.registry import get_runner

    cls = get_runner("cnn-vgg19")
    assert cls.shown_as(cls.make_params({"pretrained": pretrained})) == f"VGG-19 ({shown})"


def test_imagenet_statistics_only_for_intensities_in_zero_one():
    def settings(**params):
        return SliceCNNRunner(SliceCNNRunner.make_params(params)).settings().input_standardise

    assert settings() is None and settings(pretrained="imagenet") is None  # z-scored MRI already is
    mean, sd = settings(pretrained="imagenet", normalise="none")
    assert mean == pytest.approx(0.449) and sd == pytest.approx(0.226)

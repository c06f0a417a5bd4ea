"""Deep models: every backbone and model runs forward and backward; pooling on hand-made inputs; overfitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cirrbench.models.backbones import BackboneSpec, available_backbones, build_backbone, builds_in
from cirrbench.models.networks import SequenceAttentionModel, SliceClassifier, VolumetricModel
from cirrbench.models.pooling import GatedAttentionPooling, masked_mean
from cirrbench.models.preprocessing import ScanSlices
from cirrbench.models.train import BagBuilder, TrainSettings, Unit, train, training_batches


@pytest.mark.parametrize("name", available_backbones())
@pytest.mark.parametrize("channels", [1, 3])  # 2D and 2.5D (one neighbour per side)
def test_backbone_forward_backward(name, channels):
    torch.manual_seed(0)
    net = build_backbone(name, BackboneSpec(in_channels=channels, width=0.25))
    x = torch.randn(2, channels, 32, 32, requires_grad=True)
    features = net(x)
    assert len(features) == 4 and [f.shape[1] for f in features] == net.out_channels
    assert all(f.shape[-1] <= prev.shape[-1] for prev, f in zip(features, features[1:]))
    sum(f.float().pow(2).mean() for f in features).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", available_backbones())
def test_a_backbone_builds_in_the_dimensions_it_declares_and_is_refused_in_others(name):
    """The 3D runner checks configs by the declaration alone, so each declaration is built here."""
    for dims in (2, 3):
        spec = BackboneSpec(in_channels=1, width=0.25, spatial_dims=dims)
        if builds_in(name, dims):
            with torch.device("meta"):  # shapes only: a 2D network fails on a volume
                features = build_backbone(name, spec).eval()(torch.empty((1, 1) + (32,) * dims))
            assert len(features) == 4 and all(f.dim() == dims + 2 for f in features)
        else:
            with pytest.raises(ValueError, match=f"^{name} is 2D only$"):
                build_backbone(name, spec)
    assert builds_in(name, 2)
    assert builds_in(name, 3) == (name in {"resnet18", "resnet50", "densenet121", "efficientnet-b0"})


def _bags(sequences=("T1W", "T2W"), b=2, n=3, c=3, size=32):
    x = {s: torch.randn(b, n, c, size, size) for s in sequences}
    valid = {s: torch.ones(b, n, dtype=torch.bool) for s in sequences}
    return x, valid


@pytest.mark.parametrize(
    "variant", [{}, {"multiscale": False}, {"attention": False}, {"pooling": "mean"}, {"clinical": True}]
)
@pytest.mark.parametrize("sequences", [("T1W",), ("T1W", "T2W")])
def test_sequence_attention_model_forward_backward(variant, sequences):
    torch.manual_seed(0)
    model = SequenceAttentionModel("resnet18", 3, 3, 0.25, sequences, dim=32, **variant)
    x, valid = _bags(sequences)
    valid[sequences[-1]][1] = False  # the second patient lacks the last sequence
    scan_logits, slice_logits = model(x, valid, torch.rand(2, 2))
    assert scan_logits.shape == (2, 3) and set(slice_logits) == set(sequences)
    (scan_logits.sum() + sum(v.sum() for v in slice_logits.values())).backward()
    assert torch.isfinite(scan_logits).all()


def test_slice_classifier_scan_is_the_mean_of_slice_probabilities():
    torch.manual_seed(0)
    model = SliceClassifier("resnet18", 1, 3, 0.25).eval()
    x, valid = _bags(("T1W",), b=1, n=4, c=1)
    valid["T1W"][0, 3] = False
    with torch.no_grad():
        scan_logits, slice_logits = model(x, valid)
    expected = torch.softmax(slice_logits["T1W"][0, :3], dim=-1).mean(dim=0)
    assert torch.allclose(torch.exp(scan_logits[0]), expected, atol=1e-6)


def test_volumetric_model_forward_backward():
    model = VolumetricModel("resnet18", 3, 0.25)
    x = {"T1W": torch.randn(2, 1, 16, 32, 32)}
    logits, slices = model(x, {"T1W": torch.ones(2, 1, dtype=torch.bool)})
    assert logits.shape == (2, 3) and slices == {}
    logits.sum().backward()


def test_gated_attention_pooling_on_hand_made_bags():
    torch.manual_seed(0)
    pool = GatedAttentionPooling(dim=4, hidden=8)
    same = torch.ones(1, 5, 4) * torch.tensor([1.0, 2.0, 3.0, 4.0])
    pooled, weights = pool(same, torch.ones(1, 5, dtype=torch.bool))
    assert torch.allclose(weights, torch.full((1, 5), 0.2))  # identical instances: uniform weights
    assert torch.allclose(pooled, same[:, 0])
    h = torch.randn(2, 4, 4)
    valid = torch.tensor([[True, True, False, False], [True, False, False, False]])
    pooled, weights = pool(h, valid)
    assert torch.all(weights[~valid] == 0) and torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert torch.allclose(pooled[1], h[1, 0])  # one valid instance carries the whole bag
    with torch.no_grad():  # make instance 1 dominate: its score is far higher
        pool.w.bias.zero_()
    manual = torch.softmax(pool.w(torch.tanh(pool.V(h[0, :2])) * torch.sigmoid(pool.U(h[0, :2]))).squeeze(-1), dim=0)
    assert torch.allclose(weights[0, :2], manual, atol=1e-6)


def test_masked_mean():
    values = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    valid = torch.tensor([[True, True, False], [True, True, True]])
    assert torch.allclose(masked_mean(values, valid), torch.tensor([[2.0], [4.0]]))


def test_a_tiny_batch_is_overfitted():
    torch.manual_seed(0)
    model = SliceClassifier("resnet18", 1, 3, 0.25)
    x = {"T1W": torch.randn(6, 1, 1, 32, 32)}
    valid = {"T1W": torch.ones(6, 1, dtype=torch.bool)}
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        _, slice_logits = model(x, valid)
        loss = torch.nn.functional.cross_entropy(slice_logits["T1W"][:, 0], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < 0.2 * losses[0], losses[::8]


def test_training_batches_never_leave_a_single_example():
    batches = training_batches(np.arange(9), 4)
    assert [len(b) for b in batches] == [4, 5]
    assert sorted(np.concatenate(batches)) == list(range(9))


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    from cirrbench.models.pretrained import load_pretrained

    source = build_backbone("resnet18", BackboneSpec(width=0.25))
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    target = build_backbone("resnet18", BackboneSpec(width=0.25))
    assert load_pretrained(target, "resnet18", str(path)) == (str(path), [])
    for a, b in zip(source.state_dict().values(), target.state_dict().values()):
        assert torch.equal(a, b)


def test_weights_that_do_not_fit_are_an_error_listing_the_keys_unless_not_strict(tmp_path):
    from cirrbench.models.backbones import WeightsMismatchError
    from cirrbench.models.pretrained import load_pretrained

    def load_weights(module, path, strict=True):
        return load_pretrained(module, "resnet18", str(path), strict=strict)[1]

    other = build_backbone("densenet121", BackboneSpec(width=0.25))
    path = tmp_path / "densenet.pt"
    torch.save(other.state_dict(), path)
    target = build_backbone("resnet18", BackboneSpec(width=0.25))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(
        WeightsMismatchError, match=r"densenet.pt: does not fit the network: \d+ missing \(.*\); \d+ unexpected"
    ) as error:
        load_weights(target, path)
    assert "weights_strict: false" in str(error.value)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())  # nothing half-loaded
    wider = build_backbone("resnet18", BackboneSpec(width=0.5))
    torch.save(wider.state_dict(), path)
    with pytest.raises(WeightsMismatchError, match="with other shapes"):
        load_weights(target, path)
    mismatched = load_weights(target, path, strict=False)
    assert mismatched and all(k in target.state_dict() for k in mismatched)


def _slice_epoch_setup(epoch: str):
    rng = np.random.default_rng(0)
    slices = {
        f"s{i}": ScanSlices(rng.normal(size=(9, 16, 16)).astype(np.float16), np.arange(2, 2 + 3 + i)) for i in range(4)
    }  # 3..6 liver slices
    units = [Unit(f"s{i}", i % 3, {"T1W": f"s{i}"}) for i in range(4)]
    settings = TrainSettings(
        epochs=1, batch_size=2, slices_per_scan=2, max_slices=4, lr=1e-3, scheduler="cosine", augment=False, epoch=epoch
    )
    builder = BagBuilder(slices, ("T1W",), settings, seed=0)
    seen: list[tuple[int, list[str], list[list[int]]]] = []
    original = builder.batch

    def recording(batch_units, training):
        out = original(batch_units, training)
        if training:
            seen.append((len(batch_units), [u.scan_ids["T1W"] for u in batch_units], out.picks["T1W"]))
        return out

    builder.batch = recording
    return slices, units, settings, builder, seen


def test_slice_epochs_visit_every_liver_slice_once_in_steps_of_batch_times_bag():
    slices, units, settings, builder, seen = _slice_epoch_setup("slices")
    train(SliceClassifier("resnet18", 1, 3, 0.25), builder, units, [], 3, settings, torch.device("cpu"), seed=0)
    visited = sorted((key, pick[0]) for _, keys, picks in seen for key, pick in zip(keys, picks))
    assert visited == sorted(
        (key, int(k)) for key, item in slices.items() for k in item.selected
    )  # 18 slices, each once
    assert all(len(pick) == 1 for _, _, picks in seen for pick in picks)
    assert [n for n, _, _ in seen] == [
        len(b) for b in training_batches(np.arange(18), 4)
    ]  # 2 scans x 2 slices per step


def test_scan_epochs_sample_a_bag_per_scan():
    _, units, settings, builder, seen = _slice_epoch_setup("scans")
    train(SliceClassifier("resnet18", 1, 3, 0.25), builder, units, [], 3, settings, torch.device("cpu"), seed=0)
    assert [n for n, _, _ in seen] == [2, 2] and all(len(pick) == 2 for _, _, picks in seen for pick in picks)


def test_slice_epochs_refuse_units_fusing_two_sequences():
    slices, _, settings, builder, _ = _slice_epoch_setup("slices")
    fused = [Unit("p0", 0, {"T1W": "s0", "T2W": "s1"})]
    with pytest.raises(ValueError, match="single scans"):
        builder.slice_units(fused)


def test_a_width_the_backbone_ignores_is_refused():
    from cirrbench.benchmark.runners.registry import get_runner

    runner = get_runner("cnn-efficientnet-b0")
    with pytest.raises(ValueError, match="width: 0.25 would not change efficientnet-b0"):
        runner.make_params({"width": 0.25})
    assert runner.make_params(runner.smoke_params).width == 1.0
    assert get_runner("cnn-resnet18").make_params({"width": 0.25}).width == 0.25

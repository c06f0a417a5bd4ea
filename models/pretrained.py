"""ImageNet weights by name: ``pretrained: imagenet | none | PATH`` for the 2D backbones.

Each backbone that can take a reference checkpoint declares it (:class:`ReferenceWeights`): the
timm model name, whether torchvision's model has the same parameter names, and a key map from
the reference names to the module's own. ``imagenet`` weights come, in this order, from timm or
torchvision when importable (``pip install -e .[pretrained]`` on a GPU machine, plus NVlabs' ``mambavision`` for MambaVision-T; neither imports
beside the CPU torch build of the development machine), or from MONAI's own pretrained loader
where MONAI has one. A local file (``PATH``) holds either the reference names or the module's own.

Loading is strict: a checkpoint whose keys or shapes do not fit is an error listing them, unless
``weights_strict: false``. A first convolution for 1 or 2C+1 input channels is adapted from RGB
as timm does (summed for one channel; repeated and rescaled otherwise). The key maps are tested
against fixtures of the reference state dicts' keys and shapes (tests/fixtures/reference_weights).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from .backbones import ReferenceWeights, load_state, reference_for

__all__ = [
    "adapt_first_conv",
    "imagenet_state_dict",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_pretrained",
    "PretrainedUnavailable",
    "to_own_keys",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedUnavailable(RuntimeError):
    """No source of ImageNet weights for this backbone on this machine."""


def to_own_keys(state: dict[str, torch.Tensor], reference: ReferenceWeights) -> dict[str, torch.Tensor]:
    """The reference checkpoint in the module's own names (head dropped)."""
    own = {}
    for key, value in state.items():
        mapped = reference.key_map(key)
        if mapped is not None:
            own[mapped] = value
    return own


def imagenet_state_dict(backbone: str) -> tuple[dict[str, torch.Tensor], str]:
    """ImageNet weights in the module's own names and where they came from."""
    reference = reference_for(backbone)
    if reference is None:
        raise PretrainedUnavailable(
            f"backbone {backbone!r} has no ImageNet reference checkpoint mapped yet; give a local checkpoint "
            "(pretrained: PATH) or train from scratch (pretrained: none)"
        )
    tried = []
    try:
        import importlib

        import timm

        if reference.package:
            importlib.import_module(reference.package)  # registers its models with timm
        model = timm.create_model(reference.timm, pretrained=True)
        return to_own_keys(model.state_dict(), reference), f"timm {reference.timm}"
    except ImportError:
        tried.append(f"timm{' with ' + reference.package if reference.package else ''} (not importable)")
    if reference.torchvision:
        try:
            import torchvision

            model = torchvision.models.get_model(reference.torchvision, weights="DEFAULT")
            return to_own_keys(model.state_dict(), reference), f"torchvision {reference.torchvision}"
        except ImportError:
            tried.append("torchvision (not importable)")
    if reference.monai is not None:
        return reference.monai(), "MONAI"
    raise PretrainedUnavailable(
        f"pretrained: imagenet for {backbone!r} needs timm or torchvision (pip install -e .[pretrained]); tried "
        + ", ".join(tried)
        + "; or give the checkpoint file as pretrained: PATH"
    )


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB filters for ``in_channels`` inputs, as timm's ``adapt_input_conv``: one channel sums
    them; otherwise they are repeated, the first ``in_channels`` kept and scaled by
    3 / in_channels (the response to a grey image is kept exactly for 1 and multiples of 3)."""
    if weight.shape[1] == in_channels:
        return weight
    if weight.shape[1] != 3:
        raise ValueError(f"the first convolution has {weight.shape[1]} input channels, not RGB")
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_channels / 3)
    return weight.repeat(1, repeats, *([1] * (weight.dim() - 2)))[:, :in_channels] * (3.0 / in_channels)


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found")
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, never code
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    return state


def load_pretrained(module: nn.Module, backbone: str, pretrained: str, strict: bool = True) -> tuple[str, list[str]]:
    """Load ``imagenet`` or a file into ``module`` (a backbone). Returns (source, mismatched keys).

    A file in the reference names (a timm/torchvision checkpoint) is mapped first; one in the
    module's own names loads as it is.
    """
    own = module.state_dict()
    if pretrained == "imagenet":
        state, source = imagenet_state_dict(backbone)
    else:
        path = Path(pretrained).expanduser()
        state, source = _read_file(path), str(path)
        reference = reference_for(backbone)
        if reference is not None and not set(state) & set(own):
            mapped = to_own_keys(state, reference)
            if set(mapped) & set(own):  # a reference checkpoint; otherwise errors name the file's keys
                state = mapped
    for key, value in list(state.items()):  # the first convolution meets 1 or 2C+1 channels
        if key in own and value.dim() >= 3 and value.shape[1] == 3 and own[key].shape[1] != 3:
            if value.shape[0] == own[key].shape[0] and value.shape[2:] == own[key].shape[2:]:
                state[key] = adapt_first_conv(value, own[key].shape[1])
    return source, load_state(module, state, strict=strict, origin=source)

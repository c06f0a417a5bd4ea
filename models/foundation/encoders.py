"""Frozen encoders of the foundation family, each loaded from the checkpoint its authors publish.

An encoder is declared once (:class:`Encoder`): its network (MONAI builds the ResNets; DINOv2's
ViT is ``vit.py``), what it sees (``slices``: each liver slice, 3 channels, the embeddings
mean-pooled per scan; ``volume``: the liver's ROI as one 3D input), the file its authors publish,
where and under which licence, and the map from the file's parameter names to the network's.
Loading is strict: a file whose names or shapes do not fit is an error listing them.

``weights`` says where the checkpoint is: empty, the published file name under
``$CIRRBENCH_WEIGHTS``; a path; or ``random``, the same frozen architecture with a fixed random
initialisation (a control, labelled "random init" wherever it is shown). A TorchScript file that
maps an image tensor to one vector per image is an encoder too (``encoder: PATH``), weights inside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cirrbench.benchmark.common.registry import Registry

from ..backbones import load_state
from .vit import DinoViT

__all__ = [
    "WEIGHTS_ENV",
    "Encoder",
    "WeightsMissingError",
    "available_encoders",
    "encoder_spec",
    "frozen_encoder",
    "published_state",
    "register_encoder",
    "resolve_weights",
]

WEIGHTS_ENV = "CIRRBENCH_WEIGHTS"


class WeightsMissingError(ValueError):
    """The checkpoint an encoder needs is not where the config says (raised before any work)."""


@dataclass(frozen=True)
class Encoder:
    name: str
    display: str  # how tables name it ("DINOv2 ViT-S/14")
    view: str  # slices | volume
    size: int  # in-plane input pixels
    build: Callable[[], nn.Module]  # the network, randomly initialised; forward(images) -> (B, features)
    file_name: str = ""  # the file its authors publish
    source: str = ""
    licence: str = ""
    to_own: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = dict
    depth: int = 0  # slices of a volume input (view: volume)
    script: Path | None = None  # a TorchScript encoder's file (its weights inside)


_ENCODERS: Registry[Encoder] = Registry("encoder", defined_by=lambda encoder: encoder.build)


def register_encoder(encoder: Encoder) -> Encoder:
    return _ENCODERS.register(encoder.name, encoder)


def available_encoders() -> dict[str, Encoder]:
    return _ENCODERS.entries()


def encoder_spec(name: str) -> Encoder:
    """The registered encoder called ``name``, or one for a TorchScript file (``name`` a path)."""
    if name not in _ENCODERS and Path(name).expanduser().is_file():
        path = Path(name).expanduser().resolve()
        return Encoder(
            path.name, f"TorchScript {path.name}", "slices", 224, lambda: torch.jit.load(str(path), "cpu"), script=path
        )
    return _ENCODERS.get(name)


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in state.items()}


def _medicalnet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MedicalNet's names are torchvision's under ``module.`` (DataParallel); its segmentation head is dropped."""
    return {k: v for k, v in _strip(state, "module.").items() if not k.startswith(("conv_seg.", "fc."))}


#: RadImageNet's PyTorch weights are a ``Sequential`` of torchvision's ResNet-50 children.
_RADIMAGENET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def _radimagenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    own = {}
    for key, value in _strip(state, "module.").items():
        match = re.match(r"backbone\.(\d+)\.(.*)", key)
        if match:
            key = f"{_RADIMAGENET_CHILDREN.get(match.group(1), 'unknown' + match.group(1))}.{match.group(2)}"
        if not key.startswith("fc."):
            own[key] = value
    return own


def _dinov2_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k != "mask_token"}  # pretraining only


def _monai_resnet(depth: int, spatial_dims: int) -> Callable[[], nn.Module]:
    """MONAI's ResNet as MedicalNet (3D, one channel) or torchvision (2D, RGB) lay it out; no head.

    MedicalNet's own network (a segmentation backbone) runs layers 3 and 4 at stride 1 with
    dilated convolutions; MONAI's, which MONAI loads those weights into, downsamples there. The
    weights fit strictly; the features are MONAI's network's, not the authors'.
    """

    def build() -> nn.Module:
        from monai.networks.nets import resnet

        if spatial_dims == 3:
            bias_downsample, shortcut = resnet.get_medicalnet_pretrained_resnet_args(depth)
            return getattr(resnet, f"resnet{depth}")(
                spatial_dims=3,
                n_input_channels=1,
                feed_forward=False,
                shortcut_type=shortcut,
                bias_downsample=bias_downsample,
                conv1_t_stride=2,
            )
        return getattr(resnet, f"resnet{depth}")(
            spatial_dims=2,
            n_input_channels=3,
            feed_forward=False,
            shortcut_type="B",
            bias_downsample=False,
            conv1_t_stride=2,
        )

    return build


MEDICALNET = "https://github.com/Tencent/MedicalNet (weights: https://huggingface.co/TencentMedicalNet)"
for _depth in (10, 18, 50):
    register_encoder(
        Encoder(
            f"medicalnet-resnet{_depth}",
            f"MedicalNet 3D ResNet-{_depth}",
            "volume",
            112,
            _monai_resnet(_depth, 3),
            file_name=f"resnet_{_depth}_23dataset.pth",
            source=MEDICALNET,
            licence="MIT",
            to_own=_medicalnet_keys,
            depth=32,
        )
    )
register_encoder(
    Encoder(
        "radimagenet-resnet50",
        "RadImageNet ResNet-50",
        "slices",
        224,
        _monai_resnet(50, 2),
        file_name="ResNet50.pt",
        source="https://github.com/BMEII-AI/RadImageNet (RadImageNet_pytorch/ResNet50.pt)",
        licence="the RadImageNet authors' terms (see their repository)",
        to_own=_radimagenet_keys,
    )
)
register_encoder(
    Encoder(
        "dinov2-vits14",
        "DINOv2 ViT-S/14",
        "slices",
        224,
        DinoViT,
        file_name="dinov2_vits14_pretrain.pth",
        source="https://github.com/facebookresearch/dinov2 (dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth)",
        licence="Apache-2.0",
        to_own=_dinov2_keys,
    )
)


def resolve_weights(encoder: Encoder, weights: str) -> Path | None:
    """The checkpoint file ``weights`` names for ``encoder`` (None: random init, or a TorchScript
    file that holds its weights); a missing file is one error naming the file and its source."""
    if weights == "random" or encoder.file_name == "":
        return None
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsMissingError(f"weights: {weights}: no such file (the {encoder.display} checkpoint)")
        return path.resolve()
    folder = os.environ.get(WEIGHTS_ENV, "")
    path = Path(folder).expanduser() / encoder.file_name
    if folder and path.is_file():
        return path.resolve()
    where = f"${WEIGHTS_ENV} ({folder})" if folder else f"${WEIGHTS_ENV} (not set)"
    raise WeightsMissingError(
        f"{encoder.display} needs its published checkpoint {encoder.file_name}, not found in {where}: download it "
        f"from {encoder.source} into that folder or give weights: PATH; weights: random runs the untrained "
        "architecture as a control"
    )


def published_state(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, read without unpickling code (``weights_only``); a ``state_dict``
    or ``model`` entry is unwrapped, as the authors' files hold one or the other."""
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a state dict of tensors")
    return {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


def frozen_encoder(encoder: Encoder, weights: Path | None) -> nn.Module:
    """The network in eval mode without gradients: the published weights, or a fixed random init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random init: the same control network in every job and process
        network = encoder.build()
    if weights is not None:
        state = encoder.to_own(published_state(weights))
        for key, value in network.state_dict().items():  # BatchNorm's batch counters, absent from
            if key.endswith("num_batches_tracked") and key not in state:  # files saved by old torch;
                state[key] = value  # unused in eval mode
        load_state(network, state, strict=True, origin=str(weights))
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network

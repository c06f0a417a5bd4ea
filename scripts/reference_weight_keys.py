"""Write the test fixtures of reference state dicts: every key and shape of the ImageNet models
whose checkpoints the backbones take by name; optionally check the backbones' features against
the reference models'.

Run once where timm (and, for MambaVision-T, NVlabs' ``mambavision`` package and ``einops``) are
installed: ``pip install --no-deps timm mambavision einops`` is enough. No weights are downloaded
(the models are built with ``pretrained=False``: only names and shapes are recorded). timm imports
torchvision, which does not import beside the CPU torch build of the development machine, so
``--stub-torchvision`` first puts a stub of the few torchvision names timm touches at import on
the path; ``--stub-mamba-ssm`` does the same for ``mamba_ssm`` (CUDA kernels): the reference
MambaVision then scans with the reference recurrence written below. Output: one JSON per model in
tests/fixtures/reference_weights/, read by tests/test_pretrained.py.

    python scripts/reference_weight_keys.py --stub-torchvision --stub-mamba-ssm --check-forward

``--check-forward`` loads each reference model's (random) weights into the backbone through its
key map and prints the largest difference of the last feature map (0 or float rounding expected).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

MAMBAVISION = "mamba_vision_T"  # from NVlabs' mambavision package, not timm
#: The foundation encoders' reference layouts: DINOv2 ViT-S/14 (timm keeps the authors' names) and
#: torchvision's ResNet-50 (RadImageNet's PyTorch weights are a Sequential of its children).
FOUNDATION_REFERENCES = ("vit_small_patch14_dinov2", "resnet50")


def mapped() -> dict[str, str]:
    """backbone -> its reference model, as the backbones declare them (the registry)."""
    from cirrbench.models.backbones import available_backbones, reference_for

    return {b: reference_for(b).timm for b in available_backbones() if reference_for(b) is not None}


OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference_weights"


def stub_torchvision() -> None:
    """A module tree whose every attribute exists: enough for ``import timm`` to succeed."""

    class Anything:
        def __init__(self, *args, **kwargs) -> None:
            pass

    class Stub(types.ModuleType):
        def __getattr__(self, name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            if name[:1].islower():
                child = Stub(f"{self.__name__}.{name}")
                sys.modules[child.__name__] = child
                setattr(self, name, child)
                return child
            return Anything

    root = Stub("torchvision")
    root.__version__ = "0.0.0-stub"
    root.__path__ = []  # a package, so "import torchvision.x" resolves through sys.modules
    sys.modules["torchvision"] = root
    for name in (
        "transforms",
        "transforms.functional",
        "transforms.v2",
        "ops",
        "ops.misc",
        "datasets",
        "io",
        "models",
        "models.feature_extraction",
        "utils",
    ):
        module = root
        for part in name.split("."):
            module = getattr(module, part)
    modes = {m: m.lower() for m in ("NEAREST", "BILINEAR", "BICUBIC", "BOX", "HAMMING", "LANCZOS", "NEAREST_EXACT")}
    root.transforms.InterpolationMode = type("InterpolationMode", (), modes)
    root.transforms.functional.InterpolationMode = root.transforms.InterpolationMode


def stub_mamba_ssm() -> None:
    """``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` as the reference recurrence."""
    import torch

    def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, **_):
        if delta_bias is not None:
            delta = delta + delta_bias[..., None]
        if delta_softplus:
            delta = torch.nn.functional.softplus(delta)
        state, outputs = u.new_zeros(*u.shape[:2], A.shape[1]), []
        for t in range(u.shape[-1]):
            step = delta[:, :, t, None]
            state = torch.exp(step * A) * state + step * B[:, None, :, t] * u[:, :, t, None]
            outputs.append((state * C[:, None, :, t]).sum(-1))
        return torch.stack(outputs, -1) + u * D[None, :, None]

    names = ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface")
    for name in names:
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    sys.modules[names[-1]].selective_scan_fn = selective_scan_fn


def build_reference(name: str):
    if name == MAMBAVISION:
        from mambavision.models.mamba_vision import mamba_vision_T

        return mamba_vision_T(pretrained=False)
    import timm

    return timm.create_model(name, pretrained=False)


def check_forward() -> None:
    import torch

    from cirrbench.models.backbones import BackboneSpec, build_backbone, reference_for
    from cirrbench.models.pretrained import to_own_keys

    for backbone, name in mapped().items():
        torch.manual_seed(0)
        reference = build_reference(name).eval()
        for module in reference.modules():  # non-trivial batch-norm statistics
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        ours = build_backbone(backbone, BackboneSpec(3, 1.0)).eval()
        ours.load_state_dict(to_own_keys(reference.state_dict(), reference_for(backbone)), strict=True)
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            if name == "tf_efficientnet_b0":  # its forward_features ends with the 1280-channel head
                theirs = reference.blocks(reference.bn1(reference.conv_stem(x)))
            else:
                theirs = reference.forward_features(x)
            mine = ours(x)[-1]
        if theirs.dim() == 2:  # MambaVision pools in forward_features
            mine = mine.mean(dim=(2, 3))
        elif theirs.shape != mine.shape:  # channels-last outputs
            theirs = theirs.permute(0, 3, 1, 2)
        print(f"{backbone} vs {name}: max |difference| {float((mine - theirs).abs().max()):.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stub-torchvision", action="store_true", help="stub torchvision (see the module docstring)")
    parser.add_argument("--stub-mamba-ssm", action="store_true", help="stub mamba_ssm (see the module docstring)")
    parser.add_argument("--check-forward", action="store_true", help="compare the backbones' features too")
    parser.add_argument("--only", nargs="+", metavar="MODEL", help="write only these reference models' fixtures")
    args = parser.parse_args()
    if args.stub_torchvision:
        stub_torchvision()
    if args.stub_mamba_ssm:
        stub_mamba_ssm()
    import timm

    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.only or sorted(set(mapped().values()) | set(FOUNDATION_REFERENCES)):
        model = build_reference(name)
        stubs = [n for n, on in (("torchvision", args.stub_torchvision), ("mamba_ssm", args.stub_mamba_ssm)) if on]
        source = f"mambavision {_version('mambavision')}" if name == MAMBAVISION else f"timm {timm.__version__}"
        header = {
            "header": f"keys and shapes of {source} {name} (pretrained=False; "
            + (f"{' and '.join(stubs)} stubbed" if stubs else "nothing stubbed")
            + "), written by scripts/reference_weight_keys.py",
            "timm": timm.__version__,
            "model": name,
        }
        keys = [[key, list(value.shape)] for key, value in model.state_dict().items()]
        text = (
            json.dumps(header, indent=1)[:-2]
            + ',\n "keys": [\n'
            + ",\n".join(json.dumps(k) for k in keys)
            + "\n ]\n}\n"
        )
        (OUT / f"{name}.json").write_text(text)
        payload = {"keys": keys}
        print(f"{name}: {len(payload['keys'])} keys")
    if args.check_forward:
        check_forward()
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())

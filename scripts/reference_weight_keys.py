"""Write the test fixtures of reference state dicts: every key and shape of timm's ImageNet models.

Run once where timm is installed (``pip install timm``); no weights are downloaded (the models
are built with ``pretrained=False``: only names and shapes are recorded). timm imports
torchvision, which does not import beside the CPU torch build of the development machine, so
with ``--stub-torchvision`` a stub of the few torchvision names timm touches at import is put on
the path first (timm builds its models without them). Output: one JSON per model in
tests/fixtures/reference_weights/, read by tests/test_pretrained.py.

    python scripts/reference_weight_keys.py --stub-torchvision
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

MODELS = [
    "resnet18",
    "resnet50",
    "densenet121",
    "vgg19_bn",
    "convnext_tiny",
    "convnext_base",
    # the seed paper's other backbones: recorded for the key maps still to be written
    "mobilenetv3_small_100",
    "pvt_v2_b2",
    "efficientnet_b0",
]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stub-torchvision", action="store_true", help="stub torchvision (see the module docstring)")
    args = parser.parse_args()
    if args.stub_torchvision:
        stub_torchvision()
    import timm

    OUT.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        model = timm.create_model(name, pretrained=False)
        payload = {
            "header": f"keys and shapes of timm {timm.__version__} {name} (pretrained=False; "
            + ("torchvision stubbed" if args.stub_torchvision else "real torchvision")
            + "), written by scripts/reference_weight_keys.py",
            "timm": timm.__version__,
            "model": name,
            "keys": [[key, list(value.shape)] for key, value in model.state_dict().items()],
        }
        (OUT / f"{name}.json").write_text(json.dumps(payload, indent=0) + "\n")
        print(f"{name}: {len(payload['keys'])} keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())

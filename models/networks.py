"""The deep models. Each maps a batch of bags to scan logits and slice logits.

A batch holds, per sequence, ``x[s]`` of shape (B, N, C, H, W) (N slices of B scans or
patients) and ``valid[s]`` of shape (B, N); a patient without a sequence has no valid slice in it.

- :class:`SliceClassifier`: the seed paper's released model: a 2D backbone classifies each slice;
  a scan is the mean of its slice probabilities.
- :class:`SequenceAttentionModel`: the seed paper's method: multi-scale, attention-refined slice
  descriptors, gated-attention pooling per sequence and cross-sequence attention.
- :class:`VolumetricModel`: a 3D backbone on the cropped liver volume.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from .attention import CBAM
from .backbones import BackboneSpec, build_backbone
from .pooling import GatedAttentionPooling, masked_mean

__all__ = ["SequenceAttentionModel", "SliceClassifier", "VolumetricModel"]


def _flatten(x: Tensor) -> Tensor:
    b, n = x.shape[:2]
    return x.reshape(b * n, *x.shape[2:])


class SliceClassifier(nn.Module):
    def __init__(self, backbone: str, in_channels: int, n_classes: int, width: float) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, BackboneSpec(in_channels, width))
        self.head = nn.Linear(self.backbone.out_channels[-1], n_classes)

    def forward(
        self, x: dict[str, Tensor], valid: dict[str, Tensor], clinical: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        slice_logits: dict[str, Tensor] = {}
        scan_probs: Tensor | float = 0.0
        counts: Tensor | float = 0.0
        for s in x:
            b, n = x[s].shape[:2]
            logits = self.head(self.backbone(_flatten(x[s]))[-1].mean(dim=(2, 3))).reshape(b, n, -1)
            slice_logits[s] = logits
            weight = valid[s].float().sum(dim=1, keepdim=True)
            scan_probs = scan_probs + masked_mean(torch.softmax(logits, -1), valid[s]) * weight
            counts = counts + weight
        if not isinstance(scan_probs, Tensor) or not isinstance(counts, Tensor):
            raise ValueError("the batch holds no sequence")
        scan_probs = scan_probs / counts.clamp_min(1.0)
        return torch.log(scan_probs.clamp_min(1e-8)), slice_logits


class SequenceAttentionModel(nn.Module):
    """Multi-scale sequence attention.

    ``multiscale``: descriptors from the last three stages (else the last only); ``attention``:
    CBAM on each stage (else none); ``pooling``: "attention" (gated MIL per sequence) or "mean"
    (mean of slice probabilities, no pooling network); ``clinical``: age and sex joined to the scan
    descriptor.
    """

    def __init__(
        self,
        backbone: str,
        in_channels: int,
        n_classes: int,
        width: float,
        sequences: tuple[str, ...],
        dim: int = 128,
        multiscale: bool = True,
        attention: bool = True,
        pooling: str = "attention",
        clinical: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, BackboneSpec(in_channels, width))
        stages = [1, 2, 3] if multiscale else [3]
        self.stages = stages
        self.refine = nn.ModuleList([CBAM(self.backbone.out_channels[i], attention) for i in stages])
        self.project = nn.ModuleList([nn.Linear(self.backbone.out_channels[i], dim) for i in stages])
        self.fuse = nn.Sequential(nn.LayerNorm(dim * len(stages)), nn.Linear(dim * len(stages), dim), nn.GELU())
        self.slice_head = nn.Linear(dim, n_classes)
        self.pooling = pooling
        self.sequences = sequences
        self.pool = nn.ModuleDict({s: GatedAttentionPooling(dim) for s in sequences})
        self.sequence_embedding = nn.ParameterDict({s: nn.Parameter(torch.zeros(dim)) for s in sequences})
        self.cross = nn.MultiheadAttention(dim, num_heads=4, batch_first=True)
        self.clinical = clinical
        self.head = nn.Sequential(
            nn.LayerNorm(dim + (2 if clinical else 0)), nn.Linear(dim + (2 if clinical else 0), n_classes)
        )

    def slice_descriptors(self, images: Tensor) -> Tensor:
        features = self.backbone(images)
        parts = [
            proj(refine(features[i]).mean(dim=(2, 3)))
            for i, refine, proj in zip(self.stages, self.refine, self.project)
        ]
        return self.fuse(torch.cat(parts, dim=-1))

    def forward(
        self, x: dict[str, Tensor], valid: dict[str, Tensor], clinical: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        tokens, present, slice_logits, means = [], [], {}, []
        self.last_attention: dict[str, Tensor] = {}
        for s in x:
            b, n = x[s].shape[:2]
            h = self.slice_descriptors(_flatten(x[s])).reshape(b, n, -1)
            slice_logits[s] = self.slice_head(h)
            if self.pooling == "mean":
                means.append((masked_mean(torch.softmax(slice_logits[s], -1), valid[s]), valid[s].any(dim=1)))
                continue
            pooled, weights = self.pool[s](h, valid[s])
            self.last_attention[s] = weights.detach()
            tokens.append(pooled + self.sequence_embedding[s])
            present.append(valid[s].any(dim=1))
        if self.pooling == "mean":
            present_count = cast(Tensor, sum(m[:, None].float() for _, m in means))
            probs = sum(p * m[:, None].float() for p, m in means) / present_count.clamp_min(1.0)
            return torch.log(probs.clamp_min(1e-8)), slice_logits
        z = torch.stack(tokens, dim=1)  # (B, S, D)
        mask = torch.stack(present, dim=1)  # (B, S)
        if z.shape[1] > 1:
            attended, _ = self.cross(z, z, z, key_padding_mask=~mask)
            z = z + attended
        scan = masked_mean(z, mask)
        if self.clinical:
            if clinical is None:
                raise ValueError("this network was built with clinical inputs; the batch has none")
            scan = torch.cat([scan, clinical], dim=-1)
        return self.head(scan), slice_logits


class VolumetricModel(nn.Module):
    """A 3D backbone on the (resampled, cropped) liver volume: (B, 1, C, H, W) as one instance."""

    def __init__(self, backbone: str, n_classes: int, width: float) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, BackboneSpec(1, width, spatial_dims=3))
        self.head = nn.Linear(self.backbone.out_channels[-1], n_classes)

    def forward(
        self, x: dict[str, Tensor], valid: dict[str, Tensor], clinical: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        logits, present = [], []
        for s in x:
            volume = x[s][:, 0]  # (B, D, H, W) stored as one instance of D channels
            logits.append(self.head(self.backbone(volume.unsqueeze(1).permute(0, 1, 3, 4, 2))[-1].mean(dim=(2, 3, 4))))
            present.append(valid[s].reshape(len(volume), -1).any(dim=1).to(logits[-1].dtype))
        # average over the sequences each unit has: a missing sequence is zero padding, not evidence
        weights = torch.stack(present).unsqueeze(-1)
        return (torch.stack(logits) * weights).sum(dim=0) / weights.sum(dim=0).clamp_min(1.0), {}

"""Channel and spatial attention (CBAM, Woo et al. 2018) refining one backbone stage."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CBAM", "ChannelAttention", "SpatialAttention"]


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        return x * weights[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.record = False  # keep the last attention map (for figures)
        self.last_map: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        weights = torch.sigmoid(self.conv(stats))
        if self.record:
            self.last_map = weights.detach()
        return x * weights


class CBAM(nn.Module):
    """Channel attention then spatial attention; identity when ``enabled`` is False (ablation)."""

    def __init__(self, channels: int, enabled: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(ChannelAttention(channels), SpatialAttention()) if enabled else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)

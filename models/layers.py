"""Transformer building blocks shared by the backbones and encoders that use them (MambaVision-T,
DINOv2's ViT), named as their reference checkpoints name them (``qkv``, ``proj``, ``fc1``, ``fc2``),
so a published state dict maps onto them by name."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Mlp", "SelfAttention"]


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (B, N, C): one ``qkv`` projection, PyTorch's fused attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Two linear layers with a GELU between them."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))

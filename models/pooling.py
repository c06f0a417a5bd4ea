"""Slice-to-scan pooling: gated attention (attention-based MIL, Ilse et al. 2018) and the mean."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GatedAttentionPooling", "masked_mean"]


class GatedAttentionPooling(nn.Module):
    """Weights ``a_i = softmax_i(w^T (tanh(V h_i) * sigmoid(U h_i)))`` over the valid instances of each bag."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.V = nn.Linear(dim, hidden)
        self.U = nn.Linear(dim, hidden)
        self.w = nn.Linear(hidden, 1)

    def forward(self, h: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """h: (B, N, D); valid: (B, N) bool. Returns pooled (B, D) and weights (B, N)."""
        scores = self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h))).squeeze(-1)
        scores = scores.masked_fill(~valid, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        weights = torch.nan_to_num(weights, nan=0.0)  # bags without any valid instance
        return torch.einsum("bn,bnd->bd", weights, h), weights


def masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean over the valid instances: values (B, N, ...) and valid (B, N)."""
    weights = valid.float()
    while weights.dim() < values.dim():
        weights = weights.unsqueeze(-1)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

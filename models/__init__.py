"""Deep runners: 2D/2.5D backbones, the multi-scale sequence-attention model, 3D models."""

"""Deep runners: 2D/2.5D backbones, the multi-scale sequence-attention model, 3D models.

Importing the package registers its runners (cnn-<backbone>, msa, volumetric-3d).
"""

from . import deep_runners, foundation  # noqa: F401  (registration)

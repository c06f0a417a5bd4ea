"""The foundation family: frozen encoders (MedicalNet, RadImageNet, DINOv2, any TorchScript file)
embed each scan; the radiomics runners' heads stage it. Importing the package registers its
runners (foundation-logreg, foundation-xgboost)."""

from . import runners  # noqa: F401  (registration)

"""Radiomics baselines: PyRadiomics features with XGBoost and classical learners.

Importing the package registers its runners (radiomics-xgboost, radiomics-logreg, radiomics-svm,
radiomics-rf).
"""

from . import learners  # noqa: F401  (registration)

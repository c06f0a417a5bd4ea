"""Radiomics baselines: PyRadiomics features with XGBoost and classical learners."""

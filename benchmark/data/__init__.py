"""Cohorts: the CirrMRI600+ layout, manifests and feature tables, labels, validation, the phantom."""

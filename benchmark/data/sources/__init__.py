"""Where a cohort comes from: a CirrMRI600+ folder (``cirrmri.py``), a manifest CSV
(``manifest.py``) or a feature table (``feature_table.py``). Each builds the same plain
:class:`~cirrbench.benchmark.data.cohort.Cohort`; ``data/loading.py`` picks the source for a path.
"""

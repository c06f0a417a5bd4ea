"""ComBat harmonisation across sites, fitted on the training rows only.

Multi-centre radiomics studies remove scanner/site effects with ComBat (Johnson et al. 2007;
Fortin et al. 2018). The estimates come from ``neuroCombat`` (empirical-Bayes location and scale
per site and feature, site as the only batch covariate: the stage is never used, so nothing about
the outcome enters the features); applying them to new rows is the published location/scale
adjustment, written here because ``neuroCombatFromTraining`` is marked experimental and breaks on
current NumPy. A site with fewer than two training scans has no estimable location and scale:
its rows (in training and later) are passed through unharmonised, with a warning naming it
(small cohorts meet this inside inner CV folds).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["ComBatHarmoniser"]


class ComBatHarmoniser(TransformerMixin, BaseEstimator):
    """Harmonise features across sites; the input's last column is the site code.

    Args:
        eb: empirical-Bayes shrinkage of the site effects (ComBat's default).

    The output has the input's feature columns (the site column is dropped). Features that are
    constant within the training rows are passed through unchanged (ComBat divides by their
    variance); missing values are filled with the training median first.
    """

    def __init__(self, eb: bool = True) -> None:
        self.eb = eb

    def fit(self, X, y=None):
        from neuroCombat import neuroCombat

        X = np.asarray(X, dtype=float)
        features, site = X[:, :-1], X[:, -1]
        self.n_features_in_ = X.shape[1]
        site = site.astype(str)
        self.median_ = (
            np.nan_to_num(np.nanmedian(features, axis=0), nan=0.0) if len(features) else np.zeros(features.shape[1])
        )
        filled = np.where(np.isnan(features), self.median_, features)
        counts = pd.Series(site.astype(str)).value_counts()
        estimable = sorted(counts[counts >= 2].index)
        rows = np.isin(site.astype(str), estimable)
        self.varying_ = np.flatnonzero(filled[rows].std(axis=0) > 0) if rows.any() else np.array([], dtype=int)
        if len(estimable) < 2 or not len(self.varying_):
            warnings.warn(
                f"ComBat: fewer than two sites with two or more training scans ({dict(counts)}); features left unharmonised",
                UserWarning,
                stacklevel=2,
            )
            self.levels_ = []
            return self
        with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints its progress
            fitted = neuroCombat(
                dat=filled[np.ix_(rows, self.varying_)].T,
                covars=pd.DataFrame({"site": site[rows].astype(str)}),
                batch_col="site",
                eb=self.eb,
            )
        estimates = fitted["estimates"]
        self.levels_ = [str(level) for level in estimates["batches"]]
        self.stand_mean_ = np.asarray(estimates["stand.mean"])[:, 0]
        self.var_pooled_ = np.asarray(estimates["var.pooled"]).reshape(-1)
        self.gamma_ = np.asarray(estimates["gamma.star"])  # sites x features
        self.delta_ = np.asarray(estimates["delta.star"])
        return self

    def transform(self, X):
        check_is_fitted(self, "levels_")
        X = np.asarray(X, dtype=float)
        features, site = X[:, :-1], X[:, -1].astype(str)
        filled = np.where(np.isnan(features), self.median_, features)
        out = filled.copy()
        index = {level: i for i, level in enumerate(self.levels_)}
        known = np.array([s in index for s in site], dtype=bool)
        unknown = sorted(set(site[~known]))
        if unknown and self.levels_:
            warnings.warn(
                f"ComBat: site code(s) {unknown} had fewer than two training scans; their rows are left unharmonised",
                UserWarning,
                stacklevel=2,
            )
        if not known.any():
            return out
        rows = np.array([index[s] for s in site[known]], dtype=int)
        scale = np.sqrt(self.var_pooled_)
        z = (filled[np.ix_(known, self.varying_)] - self.stand_mean_) / scale
        z = (z - self.gamma_[rows]) / np.sqrt(self.delta_[rows])
        out[np.ix_(known, self.varying_)] = z * scale + self.stand_mean_
        return out

    def get_feature_names_out(self, input_features=None):
        names = np.asarray(
            input_features if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)],
            dtype=object,
        )
        return names[:-1]

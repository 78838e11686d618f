"""Small statistics: bootstrap intervals and ordinary least squares with t-tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP = 4000


SMALL_SAMPLE = 10


def bootstrap_ci(values: np.ndarray, level: float = 0.95, seed: int = 0, n: int = BOOTSTRAP) -> tuple[float, float]:
    """Interval of the mean of `values`: percentile bootstrap, or Student t below SMALL_SAMPLE values
    (where the percentile bootstrap is too narrow). NaN, NaN for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    if len(values) < SMALL_SAMPLE:
        half = stats.t.ppf(1 - (1 - level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        return float(values.mean() - half), float(values.mean() + half)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


@dataclass
class OLSResult:
    """Coefficients of a least-squares fit with standard errors, intervals and two-sided p-values."""

    names: list[str]
    coef: np.ndarray
    stderr: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    dof: int
    r2: float

    def row(self, name: str) -> dict[str, float]:
        """One coefficient's figures."""
        i = self.names.index(name)
        return {"coef": float(self.coef[i]), "stderr": float(self.stderr[i]), "p": float(self.pvalue[i]),
                "ci_low": float(self.ci_low[i]), "ci_high": float(self.ci_high[i])}


def ols(X: np.ndarray, y: np.ndarray, names: list[str], level: float = 0.95) -> OLSResult:
    """Fit y = X b by least squares; t-based intervals and p-values (columns that are all zero are dropped)."""
    keep = [j for j in range(X.shape[1]) if np.any(X[:, j] != 0)]
    X, names = X[:, keep], [names[j] for j in keep]
    n, k = X.shape
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = max(1, n - np.linalg.matrix_rank(X))
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    t = np.divide(coef, se, out=np.zeros_like(coef), where=se > 0)
    p = 2 * stats.t.sf(np.abs(t), dof)
    q = stats.t.ppf(1 - (1 - level) / 2, dof)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(resid @ resid) / total if total > 0 else float("nan")
    return OLSResult(names, coef, se, p, coef - q * se, coef + q * se, dof, r2)

"""Two-sample tests and effect sizes for drift, written for large windows.

- Numeric: Kolmogorov-Smirnov on the non-missing values. The reference sample arrives sorted
  (the profile stores it that way), so one sort of the current window and two `searchsorted`
  calls give the statistic; the p-value is the asymptotic Kolmogorov distribution with the
  effective sample size n*m/(n+m) (scipy's `kstwo`), exact enough above a few hundred rows.
  Ties (counts) make KS conservative, never anti-conservative.
- Categorical: Pearson chi-squared on the 2 x K table of reference and current counts; values
  never seen in the reference are pooled into one `__unseen__` column.
- Missing values: chi-squared on the 2 x 2 table (missing / present) x (reference / current).
- PSI (population stability index) as the effect size, on reference-quantile bins for numeric
  features and on categories for categorical ones, with a floor so empty bins stay finite.
- Benjamini-Hochberg over every p-value of a run: controls the false discovery rate over all
  features and windows at once and, under the global null, the chance of any alarm at `q`.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

PSI_FLOOR = 1e-4
UNSEEN = "__unseen__"
_KS_ASYMPTOTIC_ABOVE = 10_000


def ks_sorted(ref_sorted: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """KS statistic and p-value of `cur` against the already sorted, NaN-free `ref_sorted`."""
    cur = np.sort(cur[~np.isnan(cur)])
    n, m = ref_sorted.size, cur.size
    if n == 0 or m == 0:
        return 0.0, 1.0
    # The ECDF difference only changes at sample points: evaluating both (right-continuous) ECDFs
    # at every point of both samples finds the supremum. Sorted needles keep searchsorted cheap.
    d = 0.0
    for points in (ref_sorted, cur):
        diff = np.searchsorted(ref_sorted, points, side="right") / n - np.searchsorted(cur, points, side="right") / m
        d = max(d, float(np.abs(diff).max()))
    en = n * m / (n + m)
    if en > _KS_ASYMPTOTIC_ABOVE:
        # kstwo.sf costs tens of ms at this size; the limit distribution is as accurate there
        # and errs on the conservative side.
        return d, float(special.kolmogorov(d * np.sqrt(en)))
    return d, float(stats.kstwo.sf(d, max(int(round(en)), 1)))


def chi2_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson chi-squared homogeneity test of two count vectors over the same categories."""
    table = np.vstack((ref_counts, cur_counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, table.shape[1] - 1))


def missing_rate_test(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int) -> tuple[float, float]:
    """Chi-squared test that the share of missing values is the same in both samples."""
    return chi2_counts(
        np.array([ref_missing, ref_n - ref_missing]), np.array([cur_missing, cur_n - cur_missing])
    )


def psi(ref_props: np.ndarray, cur_props: np.ndarray) -> float:
    """Population stability index: sum (c - r) * ln(c / r), with empty bins floored."""
    r = np.maximum(ref_props, PSI_FLOOR)
    c = np.maximum(cur_props, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def bin_proportions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of the non-missing `values` in each bin cut by the interior `edges` (len(edges)+1 bins)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.zeros(edges.size + 1)
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1) / values.size


def benjamini_hochberg(p_values: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """BH step-up at level `q`: (rejected mask, adjusted p-values), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted <= q, adjusted

"""Two-sample tests and effect sizes for drift, written for large windows.

- Numeric: Kolmogorov-Smirnov on the non-missing values. The reference sample arrives sorted
  (the profile stores it that way), so one sort of the current window and two `searchsorted`
  calls give the statistic; the p-value is the asymptotic Kolmogorov distribution with the
  effective sample size n*m/(n+m) (scipy's `kstwo`), exact enough above a few hundred rows.
  Ties (counts) make KS conservative, never anti-conservative.
- Categorical: chi-squared on the 2 x K table of reference and current counts; values never seen
  in the reference share one `__unseen__` column. Pearson's approximation needs expected counts
  of about 5 or more (Cochran's rule), which rare categories, unseen values and small windows
  break: one unseen value in a 300-row window has an expected count near 0.015 and a chi-squared
  near 70. Columns expected below `MIN_EXPECTED` are therefore pooled into one; when even the
  pool stays below it, the pool is tested against the rest by Fisher's exact test and the other
  columns by chi-squared, the two combined by Bonferroni (`categorical_test`).
- Missing values: the 2 x 2 table (missing / present) x (reference / current), by chi-squared,
  or by Fisher's exact test when an expected count is below `MIN_EXPECTED` (`missing_rate_test`).
- PSI (population stability index) as the effect size, on reference-quantile bins for numeric
  features and on categories for categorical ones, with missing values as a bucket of their own
  (`with_missing`) and a floor so empty bins stay finite. The detector uses it as a gate beside
  significance: in large windows tiny, practically irrelevant shifts become significant.
- Benjamini-Hochberg over every p-value of a run: controls the false discovery rate over all
  features and windows at once and, under the global null, the chance of any alarm at `q`.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

PSI_FLOOR = 1e-4
UNSEEN = "__unseen__"
MIN_EXPECTED = 5.0
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


def _min_expected(table: np.ndarray) -> np.ndarray:
    """Per column, the smaller of its two expected counts under homogeneity."""
    return table.sum(axis=1).min() * table.sum(axis=0) / table.sum()


def _fisher(table: np.ndarray) -> float:
    return float(stats.fisher_exact(table.astype(np.int64)).pvalue)


def categorical_test(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Homogeneity of two count vectors over the same categories, valid for small expected counts
    (see the module docstring): (statistic, p-value)."""
    table = np.vstack((ref_counts, cur_counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    small = _min_expected(table) < MIN_EXPECTED
    if not small.any():
        return chi2_counts(table[0], table[1])
    pool = table[:, small].sum(axis=1, keepdims=True)
    rest = table[:, ~small]
    pooled = np.hstack((rest, pool))
    if _min_expected(pooled)[-1] >= MIN_EXPECTED or rest.shape[1] == 0:
        return chi2_counts(pooled[0], pooled[1])
    # The pool is still too thin for chi-squared: test it against the rest exactly.
    totals = table.sum(axis=1, keepdims=True)
    p_pool = _fisher(np.hstack((pool, totals - pool)))
    if rest.shape[1] < 2:
        return 0.0, p_pool
    chi2, p_rest = chi2_counts(rest[0], rest[1])
    return chi2, min(1.0, 2.0 * min(p_pool, p_rest))


def missing_rate_test(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int) -> tuple[float, float]:
    """Test that the share of missing values is the same in both samples: chi-squared, or
    Fisher's exact test when an expected count is below MIN_EXPECTED."""
    table = np.array([[ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing]], dtype=np.float64)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    if _min_expected(table).min() < MIN_EXPECTED:
        return 0.0, _fisher(table)
    return chi2_counts(table[0], table[1])


def with_missing(present_props: np.ndarray, missing_share: float) -> np.ndarray:
    """Proportions over the present values' bins plus one last bucket for missing values."""
    return np.append(np.asarray(present_props, dtype=np.float64) * (1.0 - missing_share), missing_share)


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

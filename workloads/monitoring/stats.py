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
- Benjamini-Hochberg over the p-values of one window: controls the false discovery rate over its
  features and, under the global null, the chance of any alarm in the window at `q`.
- Rows grouped by key (`design_effect`): a live window holds several records per key, and records
  of one key are alike (an account's age, a customer's device), so n rows carry less information
  than n independent ones. The tests take the effective sample size n / deff, where deff is the
  design effect of the feature's bin indicators (cluster-robust over iid variance, the Rao-Scott
  first-order correction: Rao & Scott 1981, JASA 76:221), estimated per window, taken at its upper
  confidence bound and never above Kish's bound sum(m_i^2)/n (every record of a key identical).
- Model performance (`jackknife`): a metric's standard error by the delete-a-group jackknife over
  keys hashed into groups, valid under the same clustering for any metric (AUC, ECE, RMSE, ...).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from scipy import special, stats

PSI_FLOOR = 1e-4
UNSEEN = "__unseen__"
MIN_EXPECTED = 5.0
_KS_ASYMPTOTIC_ABOVE = 10_000


DEFF_CONFIDENCE = 0.9
"""The design effect is taken at this upper confidence bound of its estimate (few keys: a noisy
estimate, and an underestimate inflates the far tail the alpha-spending levels live in)."""
JACKKNIFE_GROUPS = 20


def ks_sorted(ref_sorted: np.ndarray, cur: np.ndarray, deff_ref: float = 1.0, deff_cur: float = 1.0) -> tuple[float, float]:
    """KS statistic and p-value of `cur` against the already sorted, NaN-free `ref_sorted`; the
    p-value on the effective sample sizes n / deff of each side (rows grouped by key)."""
    cur = np.sort(cur[~np.isnan(cur)])
    n, m = ref_sorted.size, cur.size
    if n == 0 or m == 0:
        return 0.0, 1.0
    # Between two consecutive current points the current ECDF is flat and the reference's rises,
    # so the supremum sits at a current point or just left of one: four searchsorted calls of the
    # m current points (the reference sample may hold 100k values; the window a few hundred).
    ref_at, ref_below = np.searchsorted(ref_sorted, cur, side="right") / n, np.searchsorted(ref_sorted, cur, side="left") / n
    cur_at, cur_below = np.searchsorted(cur, cur, side="right") / m, np.searchsorted(cur, cur, side="left") / m
    d = float(max(np.abs(ref_at - cur_at).max(), np.abs(ref_below - cur_below).max()))
    n_eff, m_eff = n / max(deff_ref, 1.0), m / max(deff_cur, 1.0)
    en = n_eff * m_eff / (n_eff + m_eff)
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


def effective_counts(counts: np.ndarray, deff: float) -> np.ndarray:
    """Counts scaled to the effective sample size (n / deff), rounded: what the chi-squared and
    Fisher tests of a clustered sample are run on."""
    return np.round(np.asarray(counts, dtype=np.float64) / max(deff, 1.0))


def key_codes(keys: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """(code of each row's key 0..K-1, K); without keys every row is its own."""
    if keys is None:
        return np.arange(n), n
    codes, uniques = _factorize(keys)
    return codes, len(uniques)


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(keys).astype(str), sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


def kish_bound(codes: np.ndarray, n_keys: int) -> float:
    """sum(m_i^2) / n: the design effect when every record of a key is identical (its maximum
    for non-negative within-key correlation)."""
    counts = np.bincount(codes, minlength=n_keys).astype(np.float64)
    return float((counts**2).sum() / max(counts.sum(), 1.0))


def design_effect(indicators: np.ndarray, codes: np.ndarray, n_keys: int, *, confidence: float = DEFF_CONFIDENCE, min_cell: float = 5.0) -> float:
    """Design effect of a window grouped by key (see the module docstring): the largest ratio of the
    cluster-robust to the iid variance of the columns of `indicators` (rows x bins, 0/1), at its
    upper `confidence` bound (the estimate has K - 1 degrees of freedom), between 1 and Kish's bound.
    Columns with fewer than `min_cell` rows in or out are too noisy to say anything and are skipped."""
    n = int(indicators.shape[0])
    if n == 0 or n_keys >= n:
        return 1.0  # every key once: no clustering
    kish = kish_bound(codes, n_keys)
    if n_keys < 2:
        return kish
    x = np.asarray(indicators, dtype=np.float64).reshape(n, -1)
    p = x.mean(axis=0)
    usable = (p * n >= min_cell) & ((1 - p) * n >= min_cell)
    if not usable.any():
        return kish  # nothing to estimate from: the safe bound
    counts = np.bincount(codes, minlength=n_keys).astype(np.float64)
    worst = 0.0
    for j in np.flatnonzero(usable):
        sums = np.bincount(codes, weights=x[:, j], minlength=n_keys)
        v_cluster = float(((sums - counts * p[j]) ** 2).sum()) * n_keys / (n_keys - 1) / n**2
        v_iid = p[j] * (1 - p[j]) / n
        worst = max(worst, v_cluster / v_iid)
    # chdtri(v, q): the chi-squared(v) quantile with upper tail q (scipy.special, checked: scipy 1.17).
    upper = worst * (n_keys - 1) / float(special.chdtri(n_keys - 1, confidence))
    return float(min(max(upper, 1.0), kish))


def numeric_indicators(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0/1 columns `value <= edge` for each interior edge, plus one for a missing value."""
    missing = np.isnan(values)
    below = (values[:, None] <= np.asarray(edges)[None, :]) & ~missing[:, None]
    return np.column_stack((below, missing))


MISSING_CODE, UNSEEN_CODE = -2, -1


def category_codes(values: np.ndarray, categories: tuple[str, ...] | list[str]) -> np.ndarray:
    """Index of each value in `categories`; UNSEEN_CODE for a value outside them, MISSING_CODE for
    a missing one (`values`: str or None)."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    codes = pd.Categorical(series, categories=list(categories)).codes.astype(np.int64)
    codes[series.isna().to_numpy()] = MISSING_CODE
    return codes


def category_indicators(codes: np.ndarray, n_categories: int, limit: int = 12) -> np.ndarray:
    """0/1 columns for the `limit` first categories (the profile lists them most frequent first),
    values outside every category, and a missing value."""
    cols = [codes == i for i in range(min(limit, n_categories))]
    cols.append(codes == UNSEEN_CODE)
    cols.append(codes == MISSING_CODE)
    return np.column_stack(cols)


def key_groups(keys: np.ndarray, n_groups: int = JACKKNIFE_GROUPS) -> np.ndarray:
    """Each row's jackknife group: its key hashed (crc32, stable across runs and processes) into
    at most `n_groups` groups, fewer when there are fewer keys."""
    codes, uniques = _factorize(keys)
    g = max(1, min(n_groups, len(uniques)))
    of_key = np.array([zlib.crc32(str(u).encode()) % g for u in uniques], dtype=np.int64)
    return of_key[codes] if len(uniques) else np.zeros(0, dtype=np.int64)


def jackknife(metric: Callable[[np.ndarray], float], groups: np.ndarray) -> tuple[float, float, int]:
    """(metric on every row, its delete-a-group jackknife standard error, degrees of freedom).

    `metric(mask)` computes the metric on the rows `mask` selects. The error is NaN when there are
    fewer than two groups or a leave-one-out value is NaN (e.g. AUC on one class)."""
    full = float(metric(np.ones(groups.size, dtype=bool)))
    ids = np.unique(groups)
    if ids.size < 2 or not np.isfinite(full):
        return full, float("nan"), 0
    leave = np.array([metric(groups != g) for g in ids], dtype=np.float64)
    if not np.isfinite(leave).all():
        return full, float("nan"), 0
    g = ids.size
    se = float(np.sqrt((g - 1) / g * np.sum((leave - leave.mean()) ** 2)))
    return full, se, g - 1

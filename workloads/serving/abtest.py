"""A/B testing: sticky variant assignment and an always-valid sequential test.

(The mSPRT below is kept only as the benchmark's point of comparison: with a plug-in variance it
is far above its alpha when failures are rare; `SequentialTest` is the betting test further down.)

Assignment: a request key (an account id, a session id) is hashed with a salt into a uniform
number in [0, 1); the variant is the first whose cumulative weight exceeds it. The same key and
salt always give the same variant (sticky), with no state to share between replicas; changing
the salt reshuffles every key.

Sequential test: mSPRT (mixture sequential probability ratio test; Johari, Pekelis, Walsh,
"Always Valid Inference", 2017/2022) on the difference theta = mean(challenger) - mean(champion)
of a per-decision outcome reported through feedback (higher is better; for the fraud model the
outcome is 1 when the decision taken on the score proved right, 0 otherwise). Under H0 theta=0,
with a normal mixture N(0, tau^2) over theta and the plug-in variance V = s_A^2/n_A + s_B^2/n_B,

    Lambda_n = sqrt(V / (V + tau^2)) * exp(theta_hat^2 * tau^2 / (2 V (V + tau^2)))

and the always-valid p-value p_n = min(1, min_k 1/Lambda_k). Rejecting when p_n <= alpha keeps
the type-I error at alpha however often the result is looked at (continuous monitoring); the
matching always-valid confidence interval is theta_hat +/- half_width(V). The recommendation is
`promote` (challenger significantly better), `rollback` (significantly worse) or `keep`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Variant = Literal["champion", "challenger"]
Recommendation = Literal["promote", "keep", "rollback"]
VARIANTS: tuple[Variant, Variant] = ("champion", "challenger")

_HASH_SPACE = float(2**64)
# A variance floor so a run of identical outcomes (all 0 on a binary metric) cannot divide by 0.
_MIN_VARIANCE = 1e-12


def bucket(key: str, salt: str = "") -> float:
    """Uniform number in [0, 1) for `key`: the first 8 bytes of blake2b(salt | key)."""
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE


def assign(key: str, challenger_weight: float, salt: str = "") -> Variant:
    """Sticky variant for `key`: `challenger` for a share `challenger_weight` of keys."""
    if not 0.0 <= challenger_weight <= 1.0:
        raise ValueError(f"challenger_weight must be within [0, 1], got {challenger_weight}")
    return "challenger" if bucket(key, salt) < challenger_weight else "champion"


# --- mSPRT -------------------------------------------------------------------------------------


def msprt_log_lambda(theta_hat, variance, tau: float):
    """log Lambda of the normal-mixture SPRT; numpy-vectorised over `theta_hat` and `variance`."""
    v = np.maximum(np.asarray(variance, dtype=np.float64), _MIN_VARIANCE)
    t2 = tau * tau
    return 0.5 * np.log(v / (v + t2)) + np.square(theta_hat) * t2 / (2.0 * v * (v + t2))


def msprt_half_width(variance, tau: float, alpha: float):
    """Half width of the always-valid (1 - alpha) confidence interval for theta."""
    v = np.maximum(np.asarray(variance, dtype=np.float64), _MIN_VARIANCE)
    t2 = tau * tau
    return np.sqrt(v * (v + t2) / t2 * (2.0 * math.log(1.0 / alpha) + np.log((v + t2) / v)))


# --- betting test (the decision) ---------------------------------------------------------------
#
# Units: the key is the unit of analysis (outcomes of one key are correlated, ICC); a key enters
# the test once, with the mean of its first `key_outcomes` outcomes, normalised to x in [0, 1] by
# the declared outcome range. Its arm B (challenger) was drawn by the key hash with the known
# probability p = challenger weight, independently of everything before it.
#
# Inverse-propensity increments with a predictable baseline c_t (the pooled running mean):
#     phi_t = (x_t - c_t) * (B_t / p - (1 - B_t) / (1 - p)),   E[phi_t | past] = Delta_t
# where Delta_t = E[x | challenger] - E[x | champion]. Under H0 (Delta = 0 at every t, even when
# the level drifts over the day) phi is a bounded martingale difference, |phi| <= M = 1/min(p, 1-p).
# Two test martingales (Waudby-Smith & Ramdas 2023, "Estimating means of bounded random variables
# by betting", JRSS-B; Howard et al. 2021) bet on either sign of phi - m:
#     K+_t(m) = prod (1 + l+_i (phi_i - m)),   K-_t(m) = prod (1 - l-_i (phi_i - m))
# with predictable aGRAPA bets l = clip(+-mu/(s^2 + mu^2), 0, 1/(2(M+1))) (mu, s^2: running mean and
# variance of phi - m before unit i). By Ville's inequality sup_t K(m) >= 2/alpha has probability
# <= alpha/2 for the true m, for any stopping rule, without a variance estimate to go to 0 on a run
# of successes. Promote when K+(0) crossed, roll back when K-(0) crossed; the running confidence
# sequence for Delta is {m : neither K(m) ever crossed}. Both crossed (a reversal) or an empty
# sequence: `keep` with an alert, never promote.

GRID = np.linspace(-1.0, 1.0, 401)
"""Candidate effects m (normalised units) for the confidence sequence; GRID[200] == 0."""
_ZERO = 200
_PRIOR_VAR = 1.0


def betting_increments(x, is_b, p: float, m, *, n0=0, sum_x=0.0, s1=0.0, s2=0.0):
    """log-wealth increments (log1p of each bet) of K+ and K- for units x (last axis) and effects m.

    `x` in [0, 1] and `is_b` (challenger) share a shape [..., n]; `m` is a scalar or an array [G]
    (broadcast as a trailing axis). `n0`, `sum_x`, `s1`, `s2` carry the state of units before
    these (count, sum of x, sum of phi, sum of phi^2): the bets use only what came before.
    Returns (inc_pos, inc_neg, phi) with inc of shape [..., n] (+ [G] when m is an array).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.where(is_b, 1.0 / p, -1.0 / (1.0 - p))
    big_m = 1.0 / min(p, 1.0 - p)
    t_prev = n0 + np.arange(x.shape[-1], dtype=np.float64)
    c = (sum_x + np.cumsum(x, axis=-1) - x + 0.5) / (t_prev + 1.0)
    phi = (x - c) * w
    s1_prev = s1 + np.cumsum(phi, axis=-1) - phi
    s2_prev = s2 + np.cumsum(phi * phi, axis=-1) - phi * phi
    mean_prev = np.where(t_prev > 0, s1_prev / np.maximum(t_prev, 1.0), 0.0)
    var_prev = np.maximum(_PRIOR_VAR + s2_prev - t_prev * mean_prev**2, 1e-12) / (t_prev + 1.0)
    m = np.asarray(m, dtype=np.float64)
    if m.ndim:
        phi_m, mean_m, var_m = phi[..., None] - m, mean_prev[..., None] - m, var_prev[..., None]
    else:
        phi_m, mean_m, var_m = phi - m, mean_prev - m, var_prev
    cap = 0.5 / (big_m + 1.0)
    bet = mean_m / (var_m + mean_m * mean_m)
    lam_pos, lam_neg = np.clip(bet, 0.0, cap), np.clip(-bet, 0.0, cap)
    return np.log1p(lam_pos * phi_m), np.log1p(-lam_neg * phi_m), phi


@dataclass(frozen=True)
class Decision:
    """What the sequential test recommends now, with the statistics it rests on."""

    recommendation: Recommendation
    reason: str
    alert: str | None
    n_champion: int
    """Units (keys) entered for the champion."""
    n_challenger: int
    mean_champion: float
    """Mean unit outcome (outcome units)."""
    mean_challenger: float
    effect: float
    """mean(challenger) - mean(champion), outcome units."""
    ci_low: float
    """Running (1 - alpha) confidence sequence for the effect (outcome units); empty: low > high."""
    ci_high: float
    log_wealth_promote: float
    """log of sup_t K+(0): promote once >= log(2/alpha)."""
    log_wealth_rollback: float
    p_value: float
    """Always-valid two-sided p-value min(1, 2 / sup K(0))."""
    alpha: float
    challenger_weight: float
    test: str = "betting test martingales (aGRAPA), IPW increments, key as unit (Waudby-Smith & Ramdas 2023)"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: an empty sequence's infinite bounds become null."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class SequentialTest:
    """Always-valid two-arm test fed unit by unit; thread-safe. See the comment above.

    `observe(variant, outcomes)` enters each outcome as its own unit (independent outcomes);
    `observe(variant, outcomes, key=k)` aggregates a key's outcomes and enters the key once it has
    `key_outcomes` of them (`seal()` enters the keys still pending); `observe_units` enters
    already-aggregated units (the evaluator replaying the shared store). `min_samples` units per arm
    are needed before anything but `keep` is reported (the bets are valid from the first unit;
    the gate only avoids decisions on a handful of keys).
    """

    alpha: float = 0.05
    min_samples: int = 200
    challenger_weight: float = 0.5
    outcome_min: float = 0.0
    outcome_max: float = 1.0
    key_outcomes: int = 10
    tau: float = 0.05
    """Unused (the mSPRT's mixture scale); accepted so old callers keep working."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")
        if not 0.0 < self.challenger_weight < 1.0:
            raise ValueError(f"challenger_weight must be within (0, 1) for a test, got {self.challenger_weight}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {self.min_samples}")
        if not self.outcome_min < self.outcome_max:
            raise ValueError(f"outcome range [{self.outcome_min}, {self.outcome_max}] is empty")
        self.reset()

    def reset(self) -> None:
        """Start a new experiment (after a promotion or rollback changed the variants)."""
        with self._lock:
            self._n = {v: 0 for v in VARIANTS}
            self._sum = {v: 0.0 for v in VARIANTS}
            self._t, self._sum_x, self._s1, self._s2 = 0, 0.0, 0.0, 0.0
            self._logk = np.zeros((2, GRID.size))
            self._sup = np.zeros((2, GRID.size))
            self._pending: dict[str, list] = {}

    def _check(self, variant: str, outcomes) -> np.ndarray:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        values = np.atleast_1d(np.asarray(outcomes, dtype=np.float64))
        if not np.all(np.isfinite(values)):
            raise ValueError("outcomes must be finite numbers")
        if values.size and (values.min() < self.outcome_min or values.max() > self.outcome_max):
            raise ValueError(f"outcomes must lie in the declared range [{self.outcome_min}, {self.outcome_max}]")
        return values

    def observe(self, variant: Variant, outcomes, key: str | None = None) -> None:
        """Record outcomes of `variant` (a number or an array); see the class docstring for `key`."""
        values = self._check(variant, outcomes)
        if key is None:
            self.observe_units([variant] * values.size, values)
            return
        sealed: list[tuple[str, float]] = []
        with self._lock:
            entry = self._pending.setdefault(key, [variant, 0, 0.0])
            if entry[0] != variant:
                raise ValueError(f"key {key!r} was served by {entry[0]}, not {variant}")
            for v in values:
                if entry[1] < 0:  # sealed already: later outcomes of the key are not new units
                    break
                entry[1] += 1
                entry[2] += float(v)
                if entry[1] >= self.key_outcomes:
                    sealed.append((variant, entry[2] / entry[1]))
                    entry[1] = -1
        if sealed:
            self.observe_units([v for v, _ in sealed], np.array([u for _, u in sealed]))

    def seal(self) -> int:
        """Enter every key still short of `key_outcomes` outcomes with what it has; returns how many."""
        with self._lock:
            units = [(e[0], e[2] / e[1]) for e in self._pending.values() if e[1] > 0]
            for e in self._pending.values():
                e[1] = -1
        if units:
            self.observe_units([v for v, _ in units], np.array([u for _, u in units]))
        return len(units)

    def observe_units(self, variants, values) -> None:
        """Enter units in order: `variants[i]` served the unit whose mean outcome is `values[i]`."""
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        is_b = np.array([v == "challenger" for v in variants], dtype=bool)
        if values.size != is_b.size:
            raise ValueError(f"{is_b.size} variants for {values.size} units")
        if values.size == 0:
            return
        x = np.clip((values - self.outcome_min) / (self.outcome_max - self.outcome_min), 0.0, 1.0)
        with self._lock:
            for lo in range(0, x.size, 2048):  # bounded memory: [chunk, grid] arrays
                xc, bc = x[lo : lo + 2048], is_b[lo : lo + 2048]
                inc_pos, inc_neg, phi = betting_increments(xc, bc, self.challenger_weight, GRID, n0=self._t, sum_x=self._sum_x, s1=self._s1, s2=self._s2)
                for side, inc in enumerate((inc_pos, inc_neg)):
                    path = self._logk[side] + np.cumsum(inc, axis=0)
                    self._sup[side] = np.maximum(self._sup[side], path.max(axis=0))
                    self._logk[side] = path[-1]
                self._t += xc.size
                self._sum_x += float(xc.sum())
                self._s1 += float(phi.sum())
                self._s2 += float(np.square(phi).sum())
            for variant in VARIANTS:
                sel = is_b if variant == "challenger" else ~is_b
                self._n[variant] += int(sel.sum())
                self._sum[variant] += float(values[sel].sum())

    def decide(self) -> Decision:
        with self._lock:
            threshold = math.log(2.0 / self.alpha)
            n_a, n_b = self._n["champion"], self._n["challenger"]
            mean_a = self._sum["champion"] / n_a if n_a else 0.0
            mean_b = self._sum["challenger"] / n_b if n_b else 0.0
            up, down = float(self._sup[0, _ZERO]), float(self._sup[1, _ZERO])
            inside = (self._sup[0] < threshold) & (self._sup[1] < threshold)
            scale = self.outcome_max - self.outcome_min
            if inside.any():
                ci_low, ci_high = float(GRID[inside].min() * scale), float(GRID[inside].max() * scale)
            else:
                ci_low, ci_high = math.inf, -math.inf
            p_value = min(1.0, 2.0 * math.exp(-max(up, down)))
            alert = None
            if up >= threshold and down >= threshold:
                alert = "reversal: the evidence crossed for and against the challenger; inspect the experiment"
            elif not inside.any():
                alert = "empty confidence sequence: the outcomes are inconsistent with one fixed effect"
            if alert:
                rec: Recommendation = "keep"
                reason = f"inconsistent evidence ({alert.split(':')[0]})"
            elif min(n_a, n_b) < self.min_samples:
                rec, reason = "keep", f"fewer than {self.min_samples} units (keys) on an arm yet"
            elif up >= threshold:
                rec, reason = "promote", "challenger significantly better than champion"
            elif down >= threshold:
                rec, reason = "rollback", "challenger significantly worse than champion"
            else:
                rec, reason = "keep", "no significant difference yet"
            return Decision(
                recommendation=rec,
                reason=reason,
                alert=alert,
                n_champion=n_a,
                n_challenger=n_b,
                mean_champion=mean_a,
                mean_challenger=mean_b,
                effect=mean_b - mean_a,
                ci_low=ci_low,
                ci_high=ci_high,
                log_wealth_promote=up,
                log_wealth_rollback=down,
                p_value=p_value,
                alpha=self.alpha,
                challenger_weight=self.challenger_weight,
            )

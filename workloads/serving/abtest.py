"""A/B testing: sticky assignment, units by event time, an always-valid sequential test, guardrails.

Assignment: a request key (the project's entity key: an account, a courier) is hashed with a salt
into a uniform number in [0, 1); it sees the challenger when that number is below the challenger
weight. The same key and salt always give the same variant (sticky), with no state to share
between replicas. Each experiment has its own salt (`state.Experiment.experiment_salt`: the base
salt and both versions), so a new experiment reshuffles the keys and the same keys are not the
challenger's in every experiment.

Units by event time (the unit of analysis is the key; its outcomes are correlated): a key's unit
is the mean of its outcomes whose *event time* lies in [first exposure, first exposure + W]
(W = `experiment.unit_window`), and it is sealed (entered into the test) only once first
exposure + W + D has passed (D = `experiment.max_label_delay`), in order of first exposure.
Outcomes of a sealed key are ignored and counted (`late`). So a unit's value is a fixed function
of the key's exposures and outcomes, whatever order they arrive in, and an arm whose failures are
known later than the other's (a chargeback weeks later, a complaint the next day) is not valued on
the outcomes that happen to arrive first: that was the bias of the arrival-order units this
replaces (24% false promotions at 48 h vs 24 h on a 90/10 split, 100% at 240 h;
benchmarks/abtest.py). `unit_value` is the one definition; state.py's Redis script and SQLite
store compute exactly it (same order of summation, so the same bits), `EventTimeUnits` is its
in-memory form for offline replay and tests.

(The mSPRT below is kept only as the benchmark's point of comparison: with a plug-in variance it
is far above its alpha when failures are rare; `SequentialTest` is the betting test further down.)
mSPRT (Johari, Pekelis, Walsh, "Always Valid Inference", 2017/2022) on theta = mean(challenger) -
mean(champion) with a normal mixture N(0, tau^2) and the plug-in variance V = s_A^2/n_A + s_B^2/n_B:

    Lambda_n = sqrt(V / (V + tau^2)) * exp(theta_hat^2 * tau^2 / (2 V (V + tau^2)))

rejecting when 1/Lambda_n <= alpha.

Guardrails (`error_rate_guardrail`, `latency_guardrail`): operational brakes on the per-variant
request / error / latency counters serving flushes into the store (exposures.py); a breach stops
the challenger whatever the outcome test says.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
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


# --- units by event time -----------------------------------------------------------------------


def unit_value(first_exposure: float, observations: Iterable[tuple[float, float]], window_s: float) -> tuple[float | None, int, int]:
    """The unit of a key: (mean of the outcomes with event time in [first_exposure, first_exposure +
    window_s], or None when there is none; how many were inside; how many outside).

    `observations` are (event time, value) pairs in any order. They are summed in (event time,
    value) order, left to right, in plain float64 (not math.fsum, not Python 3.12's compensated
    sum): the Redis script does the same, so both stores give the same bits for the same key."""
    hi = first_exposure + window_s
    total, inside, outside = 0.0, 0, 0
    for t, v in sorted(observations):
        if first_exposure <= t <= hi:
            total += v
            inside += 1
        else:
            outside += 1
    return (total / inside if inside else None), inside, outside


@dataclass
class EventTimeUnits:
    """The stores' unit semantics in memory (state.py has the shared versions): for replaying a
    recorded stream offline and as the reference the stores are tested against.

    `expose` keeps the earliest exposure per key (any flush order); `outcome` is idempotent by id;
    `seal(now)` returns the units due by `now` in order of (first exposure, key)."""

    unit_window_s: float
    max_label_delay_s: float
    _first: dict[str, tuple[float, Variant]] = field(default_factory=dict)
    _obs: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _sealed: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"late": 0, "outside_window": 0, "empty": 0, "duplicates": 0})

    def expose(self, key: str, variant: Variant, served_at: float) -> None:
        if key in self._sealed:
            return
        current = self._first.get(key)
        if current is None or served_at < current[0]:
            self._first[key] = (served_at, current[1] if current else variant)

    def outcome(self, outcome_id: str, key: str, event_time: float, value: float) -> str:
        """'accepted', 'duplicate' or 'late' (the key was sealed already)."""
        if outcome_id in self._seen:
            self.counts["duplicates"] += 1
            return "duplicate"
        self._seen.add(outcome_id)
        if key in self._sealed:
            self.counts["late"] += 1
            return "late"
        self._obs.setdefault(key, []).append((float(event_time), float(value)))
        return "accepted"

    def seal(self, now: float) -> list[tuple[Variant, float]]:
        cutoff = now - self.unit_window_s - self.max_label_delay_s
        due = sorted((fe, key) for key, (fe, _) in self._first.items() if fe <= cutoff)
        units: list[tuple[Variant, float]] = []
        for fe, key in due:
            variant = self._first.pop(key)[1]
            value, _, outside = unit_value(fe, self._obs.pop(key, []), self.unit_window_s)
            self.counts["outside_window"] += outside
            if value is None:
                self.counts["empty"] += 1
            else:
                units.append((variant, value))
            self._sealed.add(key)
        return units


# --- mSPRT -------------------------------------------------------------------------------------


def msprt_log_lambda(theta_hat, variance, tau: float):
    """log Lambda of the normal-mixture SPRT; numpy-vectorised over `theta_hat` and `variance`."""
    v = np.maximum(np.asarray(variance, dtype=np.float64), _MIN_VARIANCE)
    t2 = tau * tau
    return 0.5 * np.log(v / (v + t2)) + np.square(theta_hat) * t2 / (2.0 * v * (v + t2))


# --- betting test (the decision) ---------------------------------------------------------------
#
# Units: one per key (above), normalised to x in [0, 1] by the declared outcome range, entered in
# order of first exposure. Its arm B (challenger) was drawn by the key hash with the known
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
# variance of phi - m before unit i). Each side is the average of two such bettors: one whose mu, s^2
# cover every unit so far, one whose estimates forget with a half-life of RECENT_HALF_LIFE units. The
# first is the most efficient when the effect is constant; but after a long phase in which the
# challenger was better, its mean stays positive for as long again, so it would not bet against a
# challenger that turned harmful (benchmarks/abtest.py: no rollback within a week of the turn); the
# second follows the turn within about a half-life. Any predictable bet in [0, cap] keeps each
# product a test supermartingale, and so does the average of two (at the cost of at most log 2 of
# evidence on a constant effect). By Ville's inequality sup_t K(m) >= 2/alpha has probability
# <= alpha/2 for the true m, for any stopping rule, without a variance estimate to go to 0 on a run
# of successes. K+(0) is a supermartingale whenever Delta_t <= 0 at every t, K-(0) whenever
# Delta_t >= 0 at every t: crossing K- rejects "the challenger is never worse", so a rollback on it
# is justified even if K+ crossed earlier (a challenger that turned harmful). The rule:
#   K-(0) crossed                        -> rollback (never blocked by a reversal; alert when K+ crossed too)
#   empty confidence sequence            -> keep, with an alert (inconsistent with one effect; never promote)
#   K+(0) crossed                        -> promote
# The running confidence sequence for Delta is {m : neither K(m) ever crossed}.

GRID = np.linspace(-1.0, 1.0, 401)
"""Candidate effects m (normalised units) for the confidence sequence; GRID[200] == 0."""
_ZERO = 200
_PRIOR_VAR = 1.0
RECENT_HALF_LIFE = 300
"""Units after which the recent bettor's estimates weigh a unit half as much."""
_GAMMA = 0.5 ** (1.0 / RECENT_HALF_LIFE)
BETTORS = ("all", "recent")


def _discounted_before(v: np.ndarray, carry, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(sum_{i<t} gamma^(t-1-i) v_i + gamma^t carry for each t along the last axis, the sum after the last)."""
    # y_t = v_t + gamma y_{t-1} in C; with b=[1], a=[1, -gamma] the one delay holds gamma * y_{-1}, so
    # zi = gamma * carry continues a previous chunk (checked: scipy 1.17.1 scipy/signal/_signaltools.py
    # lfilter, "zi: initial conditions for the filter delays"; and by the chunked-vs-whole replay test).
    from scipy.signal import lfilter

    carry = np.broadcast_to(np.asarray(carry, dtype=np.float64), v.shape[:-1])
    y, _ = lfilter([1.0], [1.0, -gamma], v, axis=-1, zi=(gamma * carry)[..., None])
    before = np.concatenate([carry[..., None], y[..., :-1]], axis=-1)
    return before, y[..., -1]


def betting_increments(x, is_b, p: float, m, *, n0=0, sum_x=0.0, s1=0.0, s2=0.0, bettor: str = "all", d1=0.0, d2=0.0):
    """log-wealth increments (log1p of each bet) of K+ and K- for units x (last axis) and effects m.

    `x` in [0, 1] and `is_b` (challenger) share a shape [..., n]; `m` is a scalar or an array [G]
    (broadcast as a trailing axis). `n0`, `sum_x`, `s1`, `s2` carry the state of units before
    these (count, sum of x, sum of phi, sum of phi^2): the bets use only what came before.
    `bettor="recent"` sizes the bets on discounted sums (`d1`, `d2` carry them) instead of `s1`, `s2`.
    Returns (inc_pos, inc_neg, phi) with inc of shape [..., n] (+ [G] when m is an array).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.where(is_b, 1.0 / p, -1.0 / (1.0 - p))
    big_m = 1.0 / min(p, 1.0 - p)
    t_prev = n0 + np.arange(x.shape[-1], dtype=np.float64)
    c = (sum_x + np.cumsum(x, axis=-1) - x + 0.5) / (t_prev + 1.0)
    phi = (x - c) * w
    if bettor == "all":
        count = t_prev
        s1_prev = s1 + np.cumsum(phi, axis=-1) - phi
        s2_prev = s2 + np.cumsum(phi * phi, axis=-1) - phi * phi
    elif bettor == "recent":
        count = (1.0 - _GAMMA**t_prev) / (1.0 - _GAMMA)  # discounted number of units before t
        s1_prev, _ = _discounted_before(phi, d1, _GAMMA)
        s2_prev, _ = _discounted_before(phi * phi, d2, _GAMMA)
    else:
        raise ValueError(f"bettor must be one of {BETTORS}, got {bettor!r}")
    mean_prev = np.where(t_prev > 0, s1_prev / np.maximum(count, 1e-12), 0.0)
    var_prev = np.maximum(_PRIOR_VAR + s2_prev - count * mean_prev**2, 1e-12) / (count + 1.0)
    m = np.asarray(m, dtype=np.float64)
    if m.ndim:
        phi_m, mean_m, var_m = phi[..., None] - m, mean_prev[..., None] - m, var_prev[..., None]
    else:
        phi_m, mean_m, var_m = phi - m, mean_prev - m, var_prev
    cap = 0.5 / (big_m + 1.0)
    bet = mean_m / (var_m + mean_m * mean_m)
    lam_pos, lam_neg = np.clip(bet, 0.0, cap), np.clip(-bet, 0.0, cap)
    return np.log1p(lam_pos * phi_m), np.log1p(-lam_neg * phi_m), phi


def log_wealth(x, is_b, p: float, m=0.0) -> tuple[np.ndarray, np.ndarray]:
    """log K+ and log K- of the shipped test (the average of both bettors) after each unit of whole
    sequences x, is_b [..., n] (the benchmark and tests; SequentialTest computes the same in chunks)."""
    paths = [betting_increments(x, is_b, p, m, bettor=b)[:2] for b in BETTORS]
    return tuple(np.logaddexp(np.cumsum(paths[0][side], axis=-1), np.cumsum(paths[1][side], axis=-1)) - math.log(2.0) for side in (0, 1))


def recommend(crossed_up: bool, crossed_down: bool, empty: bool, units_per_arm: int, min_units: int) -> tuple[Recommendation, str, str | None]:
    """The decision rule of the comment above: (recommendation, reason, alert); `units_per_arm` is the
    smaller arm's count, nothing but keep before it reaches `min_units`."""
    alert = None
    if crossed_up and crossed_down:
        alert = "reversal: the challenger was significantly better at one time and significantly worse at another; inspect the experiment"
    elif empty:
        alert = "empty confidence sequence: the outcomes are inconsistent with one fixed effect"
    if units_per_arm < min_units:
        return "keep", f"fewer than {min_units} units (keys) on an arm yet", alert
    if crossed_down:
        return "rollback", "challenger significantly worse than champion", alert
    if empty:
        return "keep", "inconsistent evidence (empty confidence sequence)", alert
    if crossed_up:
        return "promote", "challenger significantly better than champion", alert
    return "keep", "no significant difference yet", alert


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
    test: str = (
        "betting test martingales (aGRAPA, all-time and recent bettors averaged), IPW increments, key as unit by event time (Waudby-Smith & Ramdas 2023)"
    )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: an empty sequence's infinite bounds become null."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class SequentialTest:
    """Always-valid two-arm test fed unit by unit; thread-safe. See the comment above.

    `observe(variant, outcomes)` enters each outcome as its own unit (independent outcomes);
    `observe_units(variants, values)` enters units already built (the evaluator replaying the
    shared store's sealed units, or `EventTimeUnits.seal()` offline). `min_samples` units per arm
    are needed before anything but `keep` is reported (the bets are valid from the first unit; the
    gate only avoids decisions on a handful of keys).
    """

    alpha: float = 0.05
    min_samples: int = 200
    challenger_weight: float = 0.5
    outcome_min: float = 0.0
    outcome_max: float = 1.0
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
            self._t, self._sum_x, self._s1, self._s2, self._d1, self._d2 = 0, 0.0, 0.0, 0.0, 0.0, 0.0
            self._logk = np.zeros((2, len(BETTORS), GRID.size))  # [side, bettor, m]
            self._sup = np.zeros((2, GRID.size))  # sup over t of the averaged wealth, [side, m]

    def _check(self, variant: str, outcomes) -> np.ndarray:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        values = np.atleast_1d(np.asarray(outcomes, dtype=np.float64))
        if not np.all(np.isfinite(values)):
            raise ValueError("outcomes must be finite numbers")
        if values.size and (values.min() < self.outcome_min or values.max() > self.outcome_max):
            raise ValueError(f"outcomes must lie in the declared range [{self.outcome_min}, {self.outcome_max}]")
        return values

    def observe(self, variant: Variant, outcomes) -> None:
        """Record outcomes of `variant` (a number or an array), each as its own unit."""
        values = self._check(variant, outcomes)
        self.observe_units([variant] * values.size, values)

    def observe_units(self, variants: Sequence[str], values) -> None:
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
                state = {"n0": self._t, "sum_x": self._sum_x, "s1": self._s1, "s2": self._s2, "d1": self._d1, "d2": self._d2}
                incs = [betting_increments(xc, bc, self.challenger_weight, GRID, bettor=b, **state) for b in BETTORS]
                for side in (0, 1):
                    paths = [self._logk[side, b] + np.cumsum(incs[b][side], axis=0) for b in range(len(BETTORS))]
                    mixed = np.logaddexp(paths[0], paths[1]) - math.log(2.0)
                    self._sup[side] = np.maximum(self._sup[side], mixed.max(axis=0))
                    for b in range(len(BETTORS)):
                        self._logk[side, b] = paths[b][-1]
                phi = incs[0][2]
                self._t += xc.size
                self._sum_x += float(xc.sum())
                self._s1 += float(phi.sum())
                self._s2 += float(np.square(phi).sum())
                _, d1 = _discounted_before(phi, self._d1, _GAMMA)
                _, d2 = _discounted_before(phi * phi, self._d2, _GAMMA)
                self._d1, self._d2 = float(d1), float(d2)
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
            rec, reason, alert = recommend(up >= threshold, down >= threshold, not inside.any(), min(n_a, n_b), self.min_samples)
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
                p_value=min(1.0, 2.0 * math.exp(-max(up, down))),
                alpha=self.alpha,
                challenger_weight=self.challenger_weight,
            )


# --- guardrails --------------------------------------------------------------------------------
#
# Counters are cumulative per experiment and variant (exposures.py). These are per-look checks
# with a wide margin (z = 3 one-sided), not always-valid tests: a guardrail is an operational brake
# for a challenger that is broken (errors) or slow, where stopping a little too eagerly costs
# little and the default margins (1 point of error rate, 1.5x p99) are far from ordinary noise.

GUARDRAIL_Z = 3.0


@dataclass(frozen=True)
class GuardrailCheck:
    name: str
    breached: bool
    detail: str
    champion: float | None
    challenger: float | None
    bound: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def error_rate_guardrail(requests: Mapping[str, int], errors: Mapping[str, int], max_increase: float, min_requests: int) -> GuardrailCheck:
    """Breached when the challenger's error rate exceeds the champion's + `max_increase` with a one-sided
    z = 3 margin, once each variant has `min_requests` requests."""
    n_a, n_b = requests.get("champion", 0), requests.get("challenger", 0)
    if min(n_a, n_b) < min_requests:
        return GuardrailCheck("error_rate", False, f"fewer than {min_requests} requests on a variant", None, None, max_increase)
    rate_a, rate_b = errors.get("champion", 0) / n_a, errors.get("challenger", 0) / n_b
    # Jeffreys-style rates for the standard error only, so 0 errors still has a width.
    pa, pb = (errors.get("champion", 0) + 0.5) / (n_a + 1), (errors.get("challenger", 0) + 0.5) / (n_b + 1)
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    low = rate_b - rate_a - GUARDRAIL_Z * se
    breached = low > max_increase
    detail = f"challenger error rate {rate_b:.4f} vs champion {rate_a:.4f} (difference lower bound {low:.4f}, allowed {max_increase:.4f})"
    return GuardrailCheck("error_rate", breached, detail, rate_a, rate_b, max_increase)


def histogram_quantile(counts: Sequence[int], bounds: Sequence[float], q: float) -> tuple[float, float] | None:
    """The bucket (lower, upper edge) holding quantile `q` of a histogram whose bucket i counts values
    in (bounds[i-1], bounds[i]] (the last bucket, index len(bounds), is (bounds[-1], inf)); None if empty."""
    total = sum(counts)
    if total <= 0:
        return None
    running = 0
    for i, c in enumerate(counts):
        running += c
        if running >= q * total:
            lower = bounds[i - 1] if i > 0 else 0.0
            upper = bounds[i] if i < len(bounds) else math.inf
            return lower, upper
    return bounds[-1], math.inf


def latency_guardrail(hist: Mapping[str, Sequence[int]], bounds: Sequence[float], max_ratio: float, min_requests: int) -> GuardrailCheck:
    """Breached when the challenger's p99 is surely above `max_ratio` x the champion's: the lower edge
    of its p99 bucket above the ratio times the upper edge of the champion's (bucket width never
    passes for a breach)."""
    a, b = list(hist.get("champion", ())), list(hist.get("challenger", ()))
    if min(sum(a), sum(b)) < min_requests:
        return GuardrailCheck("latency_p99", False, f"fewer than {min_requests} timed calls on a variant", None, None, max_ratio)
    qa, qb = histogram_quantile(a, bounds, 0.99), histogram_quantile(b, bounds, 0.99)
    assert qa is not None and qb is not None  # both totals are >= min_requests >= 1
    breached = qb[0] > max_ratio * qa[1]
    detail = f"challenger p99 in ({qb[0] * 1e3:.1f}, {qb[1] * 1e3:.1f}] ms vs champion ({qa[0] * 1e3:.1f}, {qa[1] * 1e3:.1f}] ms; allowed ratio {max_ratio:g}"
    return GuardrailCheck("latency_p99", breached, detail, qa[1], qb[0], max_ratio)

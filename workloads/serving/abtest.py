"""A/B testing: sticky variant assignment and an always-valid sequential test.

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


@dataclass
class ArmStats:
    """Running sums of one arm's outcomes (enough for its mean and variance)."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, outcomes: np.ndarray) -> None:
        self.n += int(outcomes.size)
        self.total += float(outcomes.sum())
        self.total_sq += float(np.square(outcomes).sum())

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max((self.total_sq - self.n * self.mean**2) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class Decision:
    """What the sequential test recommends now, with the statistics it rests on."""

    recommendation: Recommendation
    reason: str
    n_champion: int
    n_challenger: int
    mean_champion: float
    mean_challenger: float
    effect: float
    ci_low: float
    ci_high: float
    log_lambda: float
    p_value: float
    alpha: float
    tau: float
    test: str = "mSPRT, normal mixture N(0, tau^2) on mean(challenger) - mean(champion)"

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class SequentialTest:
    """Always-valid two-arm test, fed outcome by outcome; thread-safe.

    `min_samples` per arm must be reached before the statistic is evaluated at all: the plug-in
    variance of a handful of binary outcomes is too noisy to trust (and 0 for a run of zeros).
    The p-value and interval are running (min / intersection) over every evaluation, which is
    what makes them valid at any stopping time.
    """

    alpha: float = 0.05
    tau: float = 0.05
    min_samples: int = 200
    arms: dict[str, ArmStats] = field(default_factory=lambda: {v: ArmStats() for v in VARIANTS})
    _p_value: float = 1.0
    _ci: tuple[float, float] = (-math.inf, math.inf)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")
        if self.tau <= 0.0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {self.min_samples}")

    def observe(self, variant: Variant, outcomes) -> None:
        """Record outcomes of `variant` (one number or an array) and update the running test."""
        if variant not in self.arms:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        values = np.atleast_1d(np.asarray(outcomes, dtype=np.float64))
        if not np.all(np.isfinite(values)):
            raise ValueError("outcomes must be finite numbers")
        with self._lock:
            self.arms[variant].add(values)
            self._evaluate()

    def _evaluate(self) -> None:
        a, b = self.arms["champion"], self.arms["challenger"]
        if min(a.n, b.n) < self.min_samples:
            return
        theta, var = b.mean - a.mean, a.variance / a.n + b.variance / b.n
        log_lam = float(msprt_log_lambda(theta, var, self.tau))
        self._p_value = min(self._p_value, min(1.0, math.exp(-log_lam)))
        hw = float(msprt_half_width(var, self.tau, self.alpha))
        self._ci = (max(self._ci[0], theta - hw), min(self._ci[1], theta + hw))

    def decide(self) -> Decision:
        with self._lock:
            a, b = self.arms["champion"], self.arms["challenger"]
            theta = b.mean - a.mean
            var = (a.variance / a.n if a.n else 0.0) + (b.variance / b.n if b.n else 0.0)
            log_lam = float(msprt_log_lambda(theta, var, self.tau)) if min(a.n, b.n) else 0.0
            if min(a.n, b.n) < self.min_samples:
                rec: Recommendation = "keep"
                reason = f"fewer than {self.min_samples} outcomes on an arm yet"
            elif self._p_value <= self.alpha and self._ci[0] > 0.0:
                rec, reason = "promote", "challenger significantly better than champion"
            elif self._p_value <= self.alpha and self._ci[1] < 0.0:
                rec, reason = "rollback", "challenger significantly worse than champion"
            else:
                rec, reason = "keep", "no significant difference yet"
            return Decision(
                recommendation=rec,
                reason=reason,
                n_champion=a.n,
                n_challenger=b.n,
                mean_champion=a.mean,
                mean_challenger=b.mean,
                effect=theta,
                ci_low=self._ci[0],
                ci_high=self._ci[1],
                log_lambda=log_lam,
                p_value=self._p_value,
                alpha=self.alpha,
                tau=self.tau,
            )

    def reset(self) -> None:
        """Start a new experiment (after a promotion or rollback changed the variants)."""
        with self._lock:
            self.arms = {v: ArmStats() for v in VARIANTS}
            self._p_value, self._ci = 1.0, (-math.inf, math.inf)

"""False-decision rate, power and time to decide of the A/B sequential test (issue 10).

    .venv/bin/python benchmarks/abtest.py [--runs 2000] [--seed 0] [--rows null|power|all]

Every row simulates `--runs` experiments of 100 looks x 200 outcomes, the arm of each unit drawn
by the split (what the key hash does), watched continuously. Columns:
- `betting`: the shipped test (workloads.serving.abtest: betting test martingales on IPW
  increments, the key as unit), counted as a false decision when either side crossed 2/alpha at any
  point (ignoring the TEST_MIN_SAMPLES gate, which can only lower it);
- `mSPRT`: the test it replaced (normal mixture, plug-in variance, tau 0.05, 200 outcomes per arm
  before the first look, each outcome a unit), looked at after every look;
- `MC se`: the Monte Carlo standard error sqrt(r(1-r)/runs); target: rate <= alpha + 2 se.
Power rows add the share promoted (or rolled back) within the 100 looks and the median number of
outcomes fed before the decision (runs that decided). Vectorised with numpy, in chunks of runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workloads.serving.abtest import betting_increments, msprt_log_lambda

ALPHA = 0.05
LOOKS, PER_LOOK = 100, 200
CHUNK = 100


@dataclass(frozen=True)
class Row:
    name: str
    split: float
    """challenger share p"""
    champion: float
    challenger: float
    icc: float = 0.0
    per_key: int = 1
    """outcomes per key (the unit is the key's mean when > 1)"""
    drift: float = 0.0
    """amplitude of a daily swing of the success rate, the same in both arms"""
    key_units: bool = True
    """False: each outcome as its own unit even when keys repeat (for contrast)"""


def simulate(row: Row, runs: int, rng: np.random.Generator):
    """Per run: (crossed up, crossed down, units fed at the first crossing, mSPRT decision)."""
    n_out = LOOKS * PER_LOOK
    n_keys = n_out // row.per_key
    ups, downs, when, msprt = [], [], [], []
    for lo in range(0, runs, CHUNK):
        r = min(CHUNK, runs - lo)
        key_b = rng.uniform(size=(r, n_keys)) < row.split
        look_of_key = np.arange(n_keys) * row.per_key // PER_LOOK
        base = np.where(key_b, row.challenger, row.champion)
        if row.drift:
            base = np.clip(base + row.drift * np.sin(2 * np.pi * look_of_key / 50.0), 0.0, 1.0)
        if row.icc > 0:
            s = 1.0 / row.icc - 1.0  # Beta(a, b) with a + b = s has intra-class correlation 1/(1+s)
            base = rng.beta(np.maximum(base * s, 1e-9), np.maximum((1 - base) * s, 1e-9))
        outcomes = rng.uniform(size=(r, n_keys, row.per_key)) < base[..., None]
        is_b_out = np.repeat(key_b, row.per_key, axis=1)
        flat = outcomes.reshape(r, n_out).astype(np.float64)
        if row.key_units and row.per_key > 1:
            x, is_b, size = outcomes.mean(axis=2), key_b, row.per_key
        else:
            x, is_b, size = flat, is_b_out, 1
        inc_pos, inc_neg, _ = betting_increments(x, is_b, row.split, 0.0)
        thr = math.log(2.0 / ALPHA)
        cum_pos, cum_neg = np.cumsum(inc_pos, axis=1), np.cumsum(inc_neg, axis=1)
        up, down = cum_pos.max(axis=1) >= thr, cum_neg.max(axis=1) >= thr
        first = np.argmax((cum_pos >= thr) | (cum_neg >= thr), axis=1)
        # a decision is read at the end of the look holding the crossing unit
        looks_to_decide = (first * size) // PER_LOOK + 1
        ups.append(up), downs.append(down), when.append(np.where(up | down, looks_to_decide * PER_LOOK, -1))
        msprt.append(_msprt(flat, is_b_out))
    return np.concatenate(ups), np.concatenate(downs), np.concatenate(when), np.concatenate(msprt)


def _msprt(x: np.ndarray, is_b: np.ndarray, tau: float = 0.05, min_samples: int = 200) -> np.ndarray:
    """The replaced test: any decision within the looks, plug-in variance, outcomes as units."""
    r = x.shape[0]
    shape = (r, LOOKS, PER_LOOK)
    xb, b = x.reshape(shape), is_b.reshape(shape)
    stats = {}
    for arm, mask in (("a", ~b), ("b", b)):
        n = np.cumsum(mask.sum(axis=2), axis=1).astype(np.float64)
        s = np.cumsum((xb * mask).sum(axis=2), axis=1)
        s2 = np.cumsum((xb * xb * mask).sum(axis=2), axis=1)
        mean = s / np.maximum(n, 1)
        var = np.maximum((s2 - n * mean**2) / np.maximum(n - 1, 1), 0.0)
        stats[arm] = (n, mean, var)
    (na, ma, va), (nb, mb, vb) = stats["a"], stats["b"]
    v = va / np.maximum(na, 1) + vb / np.maximum(nb, 1)
    log_lam = msprt_log_lambda(mb - ma, v, tau)
    ok = np.minimum(na, nb) >= min_samples
    return ((log_lam >= math.log(1 / ALPHA)) & ok).any(axis=1)


NULL_ROWS = [
    *(Row(f"success {s} split {int(100 - 100 * p)}/{int(100 * p)}", p, s, s) for s in (0.5, 0.9, 0.99, 0.999) for p in (0.5, 0.1)),
    Row("keys ICC 0.1 x10 outcomes, 50/50", 0.5, 0.9, 0.9, icc=0.1, per_key=10),
    Row("keys ICC 0.1 x10 outcomes, 90/10", 0.1, 0.9, 0.9, icc=0.1, per_key=10),
    Row("non-stationary 0.9+-0.08 daily, 90/10", 0.1, 0.9, 0.9, drift=0.08),
    Row("non-stationary 0.5+-0.3 daily, 50/50", 0.5, 0.5, 0.5, drift=0.3),
]
CONTRAST_ROWS = [
    Row("(contrast) ICC 0.1, outcomes as units, 50/50", 0.5, 0.9, 0.9, icc=0.1, per_key=10, key_units=False),
]
POWER_ROWS = [
    Row("0.50 -> 0.53, 50/50", 0.5, 0.50, 0.53),
    Row("0.50 -> 0.53, 90/10", 0.1, 0.50, 0.53),
    Row("0.90 -> 0.92, 50/50", 0.5, 0.90, 0.92),
    Row("0.90 -> 0.92, 90/10", 0.1, 0.90, 0.92),
    Row("0.99 -> 0.995, 50/50", 0.5, 0.99, 0.995),
    Row("0.99 -> 0.995, 90/10", 0.1, 0.99, 0.995),
    Row("0.90 -> 0.87 (worse), 90/10", 0.1, 0.90, 0.87),
    Row("keys ICC 0.1: 0.90 -> 0.93, 50/50", 0.5, 0.90, 0.93, icc=0.1, per_key=10),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", choices=("null", "power", "all"), default="all")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"alpha {ALPHA}, {args.runs} runs per row, {LOOKS} looks x {PER_LOOK} outcomes, load average {os.getloadavg()[0]:.2f}")
    failed = 0
    if args.rows in ("null", "all"):
        print("\nFalse-decision rate under H0 (no difference)")
        print(f"| {'row':46} | betting (shipped) | MC se | target <= | met | mSPRT (replaced) |")
        print(f"|{'-' * 48}|---|---|---|---|---|")
        for row in NULL_ROWS + CONTRAST_ROWS:
            up, down, _, msprt = simulate(row, args.runs, rng)
            rate = float(np.mean(up | down))
            se = math.sqrt(max(rate * (1 - rate), 1e-12) / args.runs)
            target = ALPHA + 2 * se
            met = rate <= target
            contrast = row in CONTRAST_ROWS
            failed += 0 if (met or contrast) else 1
            print(
                f"| {row.name:46} | {rate:.4f} | {se:.4f} | {target:.4f} | {'yes' if met else 'NO'}"
                f"{' (not a target row)' if contrast else ''} | {float(np.mean(msprt)):.4f} |",
                flush=True,
            )
    if args.rows in ("power", "all"):
        print("\nPower within 100 looks (20,000 outcomes) and outcomes fed before the decision")
        print(f"| {'effect':40} | decided right | decided wrong | median outcomes to decide | mSPRT decided |")
        print(f"|{'-' * 42}|---|---|---|---|")
        for row in POWER_ROWS:
            up, down, when, msprt = simulate(row, args.runs, rng)
            right, wrong = (up, down) if row.challenger > row.champion else (down, up)
            decided = when[when > 0]
            median = f"{int(np.median(decided)):,}" if decided.size else "-"
            print(f"| {row.name:40} | {right.mean():.3f} | {wrong.mean():.4f} | {median} | {float(np.mean(msprt)):.3f} |", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s, load average now {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""False-decision rate, power and time to decide of the A/B sequential test (issues 10 and 20).

    .venv/bin/python benchmarks/abtest.py [--runs 1000] [--seed 0] [--rows null|power|delay|all] [--json]

Two simulations, each row `--runs` experiments:

1. Outcomes as they come (issue 10): 100 looks x 200 outcomes, the arm of each unit drawn by the
   split (what the key hash does), watched continuously. Columns: `betting` (the shipped test,
   workloads.serving.abtest: betting test martingales on IPW increments, the key as unit), counted
   as a false decision when either side crossed 2/alpha at any point (ignoring the min-units gate,
   which can only lower it); `mSPRT` (the test it replaced: normal mixture, plug-in variance, tau
   0.05, 200 outcomes per arm before the first look, each outcome a unit). Power rows add the share
   decided right (or wrong) within the 100 looks and the median number of outcomes fed before the
   decision.
2. Label delay (issue 20): 8,000 keys first exposed over 14 days, each with 1-3 events (the 2nd and
   3rd some hours later, some beyond the 24 h unit window), key-level success rates (ICC 0.05),
   successes known within the hour and failures after a delay that depends on the arm (the
   chargeback weeks later, the complaint the next day). Every row is valued two ways on the same
   streams: `event time` (shipped: a key's unit is the mean of its outcomes with event time within
   W = 24 h of its first exposure, sealed at first exposure + W + D, D = the declared
   max_label_delay, entered in order of first exposure) and `arrival` (the units it replaced: a
   key's outcomes in arrival order until one hour without a new one, at most 10, entered when
   sealed). Decisions need 200 units per arm and are read at hourly looks; time to decide is
   counted from the start of the experiment. `turn` rows have a challenger that is better for keys
   first exposed in the first week and worse after: `rollback` counts runs whose rollback side
   crossed (the shipped rule, never blocked), `old rule` those where the promote side had not
   crossed too (the replaced "reversal -> keep"), and the same for the all-time bettor alone (the
   test before the recent bettor was averaged in).

`MC se` is the Monte Carlo standard error sqrt(r(1-r)/runs); every null row's target is
rate <= alpha + 2 se (printed). `--json` prints (to stdout, the tables go to stderr) a list of
`{"name", "runs", "rate", "mc_se"}` rows: rate is the false-decision rate of a null row, the
power (decided right) of a power row, the rollback rate of a harmful or turning challenger.
Vectorised with numpy, in chunks of runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workloads.serving.abtest import betting_increments, log_wealth, msprt_log_lambda

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
        thr = math.log(2.0 / ALPHA)
        cum_pos, cum_neg = log_wealth(x, is_b, row.split)
        up, down = cum_pos.max(axis=1) >= thr, cum_neg.max(axis=1) >= thr
        first = np.argmax((cum_pos >= thr) | (cum_neg >= thr), axis=1)
        # a decision is read at the end of the look holding the crossing unit
        looks_to_decide = (first * size) // PER_LOOK + 1
        ups.append(up)
        downs.append(down)
        when.append(np.where(up | down, looks_to_decide * PER_LOOK, -1))
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


# --- label delay (issue 20) ----------------------------------------------------------------------

KEYS, DAYS, EVENTS = 8000, 14.0, 3
EVENT_P = (1.0, 0.6, 0.3)
"""Probability that a key has its 1st, 2nd, 3rd event; the next event comes Exp(10 h) later."""
GAP_H, ICC, WINDOW_H, IDLE_H, KEY_OUTCOMES, MIN_UNITS = 10.0, 0.05, 24.0, 1.0, 10, 200
DELAY_CHUNK = 50


@dataclass(frozen=True)
class DelayRow:
    name: str
    kind: Literal["null", "contrast", "promote", "rollback", "turn"]
    split: float
    champion: float
    challenger: float
    delay_champion_h: float = 24.0
    """When a champion failure becomes known (successes: within the hour)."""
    delay_challenger_h: float = 24.0
    declared_delay_h: float | None = None
    """D, the project's max_label_delay; default: the longer delay + 1 h."""
    turned: float | None = None
    """turn rows: the challenger's success for keys first exposed after day 7."""

    @property
    def declared(self) -> float:
        return self.declared_delay_h if self.declared_delay_h is not None else max(self.delay_champion_h, self.delay_challenger_h) + 1.0


def _crossing_hours(x, is_b, valid, seal_h, p, *, single: bool = False):
    """(crossed up, crossed down, hour of the up decision, hour of the down decision) of units in the
    given order; invalid units (no outcome) are left out of the sequence. `single`: the all-time
    bettor alone (the test before issue 20) instead of the shipped average of two bettors."""
    r, n = x.shape
    thr = math.log(2.0 / ALPHA)
    out = [np.zeros(r, bool), np.zeros(r, bool), np.full(r, np.inf), np.full(r, np.inf)]
    for i in range(r):
        xi, bi, si = x[i, valid[i]], is_b[i, valid[i]], seal_h[i, valid[i]]
        if xi.size == 0:
            continue
        if single:
            inc_pos, inc_neg, _ = betting_increments(xi, bi, p, 0.0)
            paths = (np.cumsum(inc_pos), np.cumsum(inc_neg))
        else:
            paths = log_wealth(xi, bi, p)
        n_a, n_b = np.cumsum(~bi), np.cumsum(bi)
        gate = np.flatnonzero((n_a >= MIN_UNITS) & (n_b >= MIN_UNITS))
        if gate.size == 0:
            continue
        for side, path in enumerate(paths):
            hit = np.flatnonzero(path >= thr)
            if hit.size:
                out[side][i] = True
                out[2 + side][i] = math.ceil(si[max(hit[0], gate[0])])
    return out


def _ordered(order: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.take_along_axis(a, order, axis=1) for a in arrays]


def simulate_delay(row: DelayRow, runs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per run, for `event` (shipped units) and `arrival` (replaced units): crossed up / down and the
    hour each decision was read."""
    results: dict[str, list[np.ndarray]] = {}
    d = row.declared
    for lo in range(0, runs, DELAY_CHUNK):
        r = min(DELAY_CHUNK, runs - lo)
        first = np.sort(rng.uniform(0.0, DAYS * 24.0, size=(r, KEYS)), axis=1)
        is_b = rng.uniform(size=(r, KEYS)) < row.split
        rate = np.where(is_b, row.challenger, row.champion)
        if row.turned is not None:
            rate = np.where(is_b & (first >= DAYS * 12.0), row.turned, rate)
        s = 1.0 / ICC - 1.0  # Beta(a, b) with a + b = s has intra-class correlation 1/(1 + s)
        rate = rng.beta(np.maximum(rate * s, 1e-9), np.maximum((1.0 - rate) * s, 1e-9))
        exists = rng.uniform(size=(r, KEYS, EVENTS)) < np.array(EVENT_P)
        exists = np.cumprod(exists, axis=2).astype(bool)  # a 3rd event only after a 2nd
        offset = np.concatenate([np.zeros((r, KEYS, 1)), np.cumsum(rng.exponential(GAP_H, size=(r, KEYS, EVENTS - 1)), axis=2)], axis=2)
        event = first[..., None] + offset
        success = rng.uniform(size=(r, KEYS, EVENTS)) < rate[..., None]
        fail_delay = np.where(is_b, row.delay_challenger_h, row.delay_champion_h)[..., None]
        arrival = event + rng.uniform(0.0, 1.0, size=event.shape) + np.where(success, 0.0, fail_delay)
        value = success.astype(np.float64)
        # event time: outcomes of events within W of the first exposure that arrived by the seal
        seal = first + WINDOW_H + d
        used = exists & (offset <= WINDOW_H) & (arrival <= seal[..., None])
        n_used = used.sum(axis=2)
        unit = np.where(n_used > 0, (value * used).sum(axis=2) / np.maximum(n_used, 1), 0.0)
        order = np.argsort(first, axis=1, kind="stable")
        x, b, valid, seal_h = _ordered(order, unit, is_b, n_used > 0, seal)
        res = _crossing_hours(x, b, valid, seal_h, row.split)
        for name, arr in zip(("event_up", "event_down", "event_t_up", "event_t_down"), res, strict=True):
            results.setdefault(name, []).append(arr)
        if row.kind == "turn":
            res = _crossing_hours(x, b, valid, seal_h, row.split, single=True)
            for name, arr in zip(("single_up", "single_down"), res[:2], strict=True):
                results.setdefault(name, []).append(arr)
        # arrival order: sorted arrivals, the run of outcomes until a gap > IDLE_H, at most KEY_OUTCOMES
        arr_t = np.where(exists, arrival, np.inf)
        by_arrival = np.argsort(arr_t, axis=2)
        arr_sorted = np.take_along_axis(arr_t, by_arrival, axis=2)
        val_sorted = np.take_along_axis(value, by_arrival, axis=2)
        with np.errstate(invalid="ignore"):  # inf - inf between missing events: not a gap
            gaps_ok = np.diff(arr_sorted, axis=2) <= IDLE_H
        included = np.concatenate([np.ones((r, KEYS, 1), bool), np.cumprod(gaps_ok, axis=2).astype(bool)], axis=2)
        included &= np.isfinite(arr_sorted)
        included[..., KEY_OUTCOMES:] = False
        k = included.sum(axis=2)
        old_unit = (val_sorted * included).sum(axis=2) / np.maximum(k, 1)
        old_seal = np.take_along_axis(arr_sorted, (k - 1)[..., None], axis=2)[..., 0] + IDLE_H
        order = np.argsort(old_seal, axis=1, kind="stable")
        x, b, valid, seal_h = _ordered(order, old_unit, is_b, k > 0, old_seal)
        res = _crossing_hours(x, b, valid, seal_h, row.split)
        for name, arr in zip(("arrival_up", "arrival_down", "arrival_t_up", "arrival_t_down"), res, strict=True):
            results.setdefault(name, []).append(arr)
    return {k: np.concatenate(v) for k, v in results.items()}


DELAY_ROWS = [
    DelayRow("null, failures 24 h both arms, 90/10", "null", 0.1, 0.9, 0.9),
    DelayRow("null, challenger failures 48 h vs 24 h, 90/10", "null", 0.1, 0.9, 0.9, 24.0, 48.0),
    DelayRow("null, challenger failures 48 h vs 24 h, 50/50", "null", 0.5, 0.9, 0.9, 24.0, 48.0),
    DelayRow("null, challenger failures 240 h vs 24 h, 90/10", "null", 0.1, 0.9, 0.9, 24.0, 240.0),
    DelayRow("null, challenger failures 240 h vs 24 h, 50/50", "null", 0.5, 0.9, 0.9, 24.0, 240.0),
    DelayRow("null, champion failures 48 h vs 24 h (mirror), 90/10", "null", 0.1, 0.9, 0.9, 48.0, 24.0),
    DelayRow("(contrast) 240 h vs 24 h declared 168 h, 90/10", "contrast", 0.1, 0.9, 0.9, 24.0, 240.0, declared_delay_h=168.0),
    DelayRow("harmful 0.90 -> 0.88, 24 h, 90/10", "rollback", 0.1, 0.9, 0.88),
    DelayRow("harmful 0.90 -> 0.88, 24 h, 50/50", "rollback", 0.5, 0.9, 0.88),
    DelayRow("harmful 0.90 -> 0.88, 48 h vs 24 h, 90/10", "rollback", 0.1, 0.9, 0.88, 24.0, 48.0),
    DelayRow("better 0.90 -> 0.92, 48 h vs 24 h, 50/50", "promote", 0.5, 0.9, 0.92, 24.0, 48.0),
    DelayRow("turn +0.03 then -0.03 after day 7, 50/50", "turn", 0.5, 0.9, 0.93, turned=0.87),
    DelayRow("turn +0.03 then -0.03 after day 7, 90/10", "turn", 0.1, 0.9, 0.93, turned=0.87),
]


def _days(hours: np.ndarray) -> str:
    finite = hours[np.isfinite(hours)]
    return f"{np.median(finite) / 24.0:.1f}" if finite.size else "-"


def _rate(flags: np.ndarray) -> tuple[float, float]:
    rate = float(np.mean(flags))
    return rate, math.sqrt(max(rate * (1 - rate), 0.0) / flags.size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="experiments per row (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", choices=("null", "power", "delay", "all"), default="all")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on stdout (tables on stderr)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    out = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    rows: list[dict[str, object]] = []

    def keep(name: str, rate: float, se: float) -> None:
        rows.append({"name": name, "runs": args.runs, "rate": round(rate, 6), "mc_se": round(se, 6)})

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    say(f"alpha {ALPHA}, {args.runs} runs per row, load average {os.getloadavg()[0]:.2f}")
    failed = 0
    if args.rows in ("null", "all"):
        say(f"\nFalse-decision rate under H0 (no difference), {LOOKS} looks x {PER_LOOK} outcomes")
        say(f"| {'row':46} | betting (shipped) | MC se | target <= | met | mSPRT (replaced) |")
        say(f"|{'-' * 48}|---|---|---|---|---|")
        for row in NULL_ROWS + CONTRAST_ROWS:
            up, down, _, msprt = simulate(row, args.runs, rng)
            rate, se = _rate(up | down)
            target = ALPHA + 2 * se
            met = rate <= target
            contrast = row in CONTRAST_ROWS
            failed += 0 if (met or contrast) else 1
            keep(f"null: {row.name}", rate, se)
            say(
                f"| {row.name:46} | {rate:.4f} | {se:.4f} | {target:.4f} | {'yes' if met else 'NO'}"
                f"{' (not a target row)' if contrast else ''} | {float(np.mean(msprt)):.4f} |"
            )
    if args.rows in ("power", "all"):
        say(f"\nPower within {LOOKS} looks ({LOOKS * PER_LOOK:,} outcomes) and outcomes fed before the decision")
        say(f"| {'effect':40} | decided right | decided wrong | median outcomes to decide | mSPRT decided |")
        say(f"|{'-' * 42}|---|---|---|---|")
        for row in POWER_ROWS:
            up, down, when, msprt = simulate(row, args.runs, rng)
            right, wrong = (up, down) if row.challenger > row.champion else (down, up)
            decided = when[when > 0]
            median = f"{int(np.median(decided)):,}" if decided.size else "-"
            keep(f"power: {row.name}", *_rate(right))
            say(f"| {row.name:40} | {right.mean():.3f} | {wrong.mean():.4f} | {median} | {float(np.mean(msprt)):.3f} |")
    if args.rows in ("delay", "all"):
        say(
            f"\nLabel delay: {KEYS:,} keys over {DAYS:g} days, 1-3 events each, unit window {WINDOW_H:g} h, "
            f"D = declared max_label_delay; event time (shipped) vs arrival order (replaced)"
        )
        say(f"| {'row':54} | D (h) | event time | MC se | target <= | met | arrival order | MC se |")
        say(f"|{'-' * 56}|---|---|---|---|---|---|---|")
        for delay_row in [r for r in DELAY_ROWS if r.kind in ("null", "contrast")]:
            res = simulate_delay(delay_row, args.runs, rng)
            rate, se = _rate(res["event_up"] | res["event_down"])
            old, old_se = _rate(res["arrival_up"] | res["arrival_down"])
            target = ALPHA + 2 * se
            met = rate <= target
            contrast = delay_row.kind == "contrast"
            failed += 0 if (met or contrast) else 1
            keep(f"delay null: {delay_row.name}", rate, se)
            keep(f"delay null (arrival order, replaced): {delay_row.name}", old, old_se)
            flag = "yes" if met else "NO"
            say(
                f"| {delay_row.name:54} | {delay_row.declared:g} | {rate:.4f} | {se:.4f} | {target:.4f} | {flag}{' (not a target delay_row)' if contrast else ''} | {old:.4f} | {old_se:.4f} |"
            )
        say("\nPower and time to decide under label delay (days from the start; decisions read hourly)")
        say(f"| {'row':54} | D (h) | decided right | decided wrong | median days | arrival order: right | wrong | median days |")
        say(f"|{'-' * 56}|---|---|---|---|---|---|---|")
        for delay_row in [r for r in DELAY_ROWS if r.kind in ("promote", "rollback")]:
            res = simulate_delay(delay_row, args.runs, rng)
            side, other = ("up", "down") if delay_row.kind == "promote" else ("down", "up")
            right, wrong = res[f"event_{side}"], res[f"event_{other}"]
            keep(f"delay {delay_row.kind}: {delay_row.name}", *_rate(right))
            say(
                f"| {delay_row.name:54} | {delay_row.declared:g} | {right.mean():.3f} | {wrong.mean():.4f} | {_days(res[f'event_t_{side}'])} | "
                f"{res[f'arrival_{side}'].mean():.3f} | {res[f'arrival_{other}'].mean():.4f} | {_days(res[f'arrival_t_{side}'])} |"
            )
        say("\nA challenger that turns harmful (better for keys first exposed in week 1, worse after): rollbacks")
        say(
            f"| {'row':54} | promote crossed | rollback (shipped) | MC se | median days | old rule (reversal -> keep) | blocked by old rule "
            "| all-time bettor alone: rollback | its old-rule rollback |"
        )
        say(f"|{'-' * 56}|---|---|---|---|---|---|---|---|")
        for delay_row in [r for r in DELAY_ROWS if r.kind == "turn"]:
            res = simulate_delay(delay_row, args.runs, rng)
            up, down = res["event_up"], res["event_down"]
            rate, se = _rate(down)
            keep(f"delay turn rollback: {delay_row.name}", rate, se)
            keep(f"delay turn rollback (old reversal rule): {delay_row.name}", *_rate(down & ~up))
            say(
                f"| {delay_row.name:54} | {up.mean():.3f} | {rate:.3f} | {se:.4f} | {_days(res['event_t_down'])} | {(down & ~up).mean():.3f} | "
                f"{(down & up).mean():.3f} | {res['single_down'].mean():.3f} | {(res['single_down'] & ~res['single_up']).mean():.3f} |"
            )
            keep(f"delay turn rollback (all-time bettor alone, old rule): {delay_row.name}", *_rate(res["single_down"] & ~res["single_up"]))
    say(f"\n{time.perf_counter() - started:.0f} s, load average now {os.getloadavg()[0]:.2f}")
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

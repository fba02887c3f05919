"""Rows with UAE personal data under names that do not all say so (the gate looks at the values too)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _eid(i: int) -> str:
    body = f"7841985{i:07d}"
    total = 0
    for j, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if j % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return f"784-1985-{i:07d}-{(10 - total % 10) % 10}"


def generate(rows, *, seed, start, days, drift=None):
    rng = np.random.default_rng(seed)
    who = rng.integers(0, 50, rows)
    ts = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, rows)), unit="s")
    return pd.DataFrame(
        {
            "customer_ref": [_eid(int(i)) for i in who],
            "event_ts": ts,
            "amount": rng.gamma(2.0, 40.0, rows),
            "mobile": [f"+971 55 {1000000 + int(i):07d}" for i in who],
            "contact": [f"c{int(i)}@mail.example.ae" for i in who],
            "note_en": ["Summer offer: 20% off"] * rows,
            "churned": rng.integers(0, 2, rows),
        }
    )

"""Example rows with UAE personal data in clear, as a source would hold them: the platform must
tokenise them before anything is stored.

    generate(rows, *, seed, start, days, drift=None) -> DataFrame
        emirates_id (784-YYYY-NNNNNNN-C with its Luhn digit), event_ts, amount, tenure_days,
        phone (+9715X XXX XXXX), email, channel, notes (free text naming the phone), churned, label_arrival_ts
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

CUSTOMERS = 60


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def customers(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(1234)  # the same people whatever the sample's seed
    out = []
    for i in range(CUSTOMERS):
        body = f"784{1960 + i % 45}{rng.integers(0, 10**7):07d}"
        eid = f"{body[:3]}-{body[3:7]}-{body[7:]}-{luhn_digit(body)}"
        out.append(
            {
                "emirates_id": eid,
                "phone": f"+97150{rng.integers(0, 10**7):07d}",
                "email": f"customer.{i}@example.ae",
                "channel": ["app", "web", "store"][i % 3],
                "risk": float(rng.normal()),
            }
        )
    return pd.DataFrame(out)


def generate(rows, *, seed, start, days, drift=None):
    rng = np.random.default_rng(seed)
    people = customers()
    who = people.iloc[rng.integers(0, CUSTOMERS, rows)].reset_index(drop=True)
    ts = pd.Series(pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, rows)), unit="s")).dt.tz_convert("UTC")
    amount = rng.gamma(2.0, 50.0, rows)
    tenure = rng.integers(1, 2000, rows).astype(float)
    signal = who["risk"].to_numpy() + (who["channel"] == "store").to_numpy() * 0.8 - tenure / 1000 + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "emirates_id": who["emirates_id"],
            "event_ts": ts,
            "amount": amount,
            "tenure_days": tenure,
            "phone": who["phone"],
            "email": who["email"],
            "channel": who["channel"],
            "notes": ["call back on " + p + " or write to " + e for p, e in zip(who["phone"], who["email"], strict=True)],
            "churned": (signal > 0.3).astype(int),
            "label_arrival_ts": ts + timedelta(minutes=5),
        }
    )

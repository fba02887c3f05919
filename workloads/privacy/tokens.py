"""Keyed pseudonyms: `tok:v<key version>:<32 hex>`, HMAC-SHA256 of a value under the environment's key.

    tokeniser = Tokeniser(key, version=1)
    tokeniser.token("+971501234567")        # 'tok:v1:5f0c...' (39 characters)
    tokeniser.tokens(column, kind="phone")   # a whole column: None stays None, a token stays itself

Why these choices:
- HMAC-SHA256 (RFC 2104 / FIPS 198-1) keyed per environment: deterministic, so the same value gets
  the same token in every table of an environment (joins, the A/B unit, labels arriving later) and
  in no other environment (another key); not reversible without the key, and not guessable by
  hashing candidate phone numbers (a plain hash of the 10^8 UAE mobile numbers is a dictionary).
- Truncated to 128 bits (32 hex): NIST SP 800-107r1 section 5.3.4 allows truncating an HMAC to
  lambda bits with lambda >= 32 for authentication; for pseudonyms what matters is collisions, and
  128 bits put the birthday bound at 2^64 values (10^9 distinct values collide with probability
  about 1.5e-21). It keeps a token shorter than a categorical's 256-character bound.
- The key version is in the token, so data tokenised under a rotated key is recognisable (and
  not silently joined with the old) and the lineage can say which key made it.
- Idempotent: a value that already is a token of this key version is kept, so data that passes
  twice (the prediction log into the offline store, a label whose key came from an answer) is not
  tokenised twice. A token of another version is refused: joining two key versions is silently
  wrong, so it is an error naming both versions.

Speed (benchmarks/privacy.py): the only per-value Python left in a column is the HMAC itself.
HMAC's inner and outer SHA-256 states after the key blocks are computed once and copied per value
(RFC 2104 notes this precomputation: about 1 us per value, against 2.5 us for `hmac.new` and 2.2 us
for OpenSSL's one-shot `hmac.digest`, which re-keys every call); a column is tokenised once per
distinct value (Arrow's `dictionary_encode`), normalised with Arrow compute kernels
(`patterns.normalise_array`), and the tokens are assembled from the digests with numpy into one
Arrow string array. With `workers > 1` this process and `workers - 1` worker processes each hash a
share, handed over as one value buffer and its offsets (no per-value pickling).
checked: pyarrow 21 `Array.dictionary_encode`, `LargeStringArray.from_buffers`, `pyarrow.compute`
`replace_substring_regex` / `if_else` / `take` (arrow/python/pyarrow/array.pxi, compute.py).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

from workloads.errors import SahabError
from workloads.privacy.patterns import TOKEN, normalise

TOKEN_REGEX = "^" + TOKEN.pattern + "$"

TOKEN_PREFIX = "tok:v"
HEX_CHARS = 32
PARALLEL_MIN_VALUES = 200_000
"""Distinct values below this are tokenised in this process (a worker pool costs more to start)."""


class TokenVersionError(SahabError):
    """A token of another key version met data of this one: the two cannot be joined."""


def _pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hash states after absorbing the padded key (RFC 2104)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _digests(key: bytes, data: bytes, offsets: np.ndarray) -> bytes:
    """The first 16 bytes of HMAC-SHA256 of each value (value i is data[offsets[i]:offsets[i+1]]), concatenated."""
    inner, outer = _pads(key)
    new_inner, new_outer = inner.copy, outer.copy
    ends = offsets.tolist()
    out: list[bytes] = []
    append = out.append
    for a, b in zip(ends, ends[1:], strict=False):
        i = new_inner()
        i.update(data[a:b])
        o = new_outer()
        o.update(i.digest())
        append(o.digest()[:16])
    return b"".join(out)


_WORKER: dict[str, Any] = {}


def _worker_init(key: bytes) -> None:
    _WORKER["key"] = key


def _worker_digests(data: bytes, offsets: np.ndarray) -> bytes:
    return _digests(_WORKER["key"], data, offsets)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _token_array(prefix: str, digests: bytes, n: int) -> Any:
    """`n` tokens `<prefix><32 hex>` as one Arrow string array, built from the digests without a Python loop."""
    import pyarrow as pa

    raw = np.frombuffer(digests, dtype=np.uint8).reshape(n, 16)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    width = len(head) + HEX_CHARS
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :: 2] = _HEX[raw >> 4]
    chars[:, len(head) + 1 :: 2] = _HEX[raw & 15]
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(chars.tobytes()))


class Tokeniser:
    """HMAC-SHA256 pseudonyms under one key version (module docstring). The key never leaves the
    object's process except into its own worker processes (`workers > 1`)."""

    def __init__(self, key: bytes, version: int) -> None:
        if len(key) < 32:
            raise ValueError(f"a tokenisation key has at least 32 bytes (256 bits), got {len(key)}")
        if version < 1:
            raise ValueError(f"key version must be >= 1, got {version}")
        self._key = bytes(key)
        self.version = int(version)
        self.prefix = f"{TOKEN_PREFIX}{self.version}:"
        self._inner, self._outer = _pads(self._key)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0

    def __repr__(self) -> str:  # never the key
        return f"Tokeniser(version={self.version})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a Tokeniser holds the environment's key and is not pickled; build one where it is used (workloads.privacy.keys)")

    def is_token(self, value: str) -> bool:
        """Whether `value` is a token of this key version."""
        return value.startswith(self.prefix) and TOKEN.fullmatch(value) is not None

    def _check_foreign(self, value: str) -> None:
        if value.startswith(TOKEN_PREFIX) and TOKEN.fullmatch(value) and not value.startswith(self.prefix):
            other = value[len(TOKEN_PREFIX) :].split(":", 1)[0]
            raise TokenVersionError(
                f"a token of key version {other} met data tokenised under version {self.version}: the two cannot be joined",
                fix="re-ingest the older data from its sources under the current key, or keep the key version the data was made with",
            )

    def token(self, value: str, kind: str = "free_text") -> str:
        """The token of one value (normalised for its kind: workloads.privacy.patterns.normalise)."""
        if self.is_token(value):
            return value
        self._check_foreign(value)
        i = self._inner.copy()
        i.update(normalise(kind, value).encode())
        o = self._outer.copy()
        o.update(i.digest())
        return self.prefix + o.hexdigest()[:HEX_CHARS]

    def tokens(self, values: Any, kind: str = "free_text", workers: int = 1) -> np.ndarray:
        """Tokens of a column (list, array or Series) as an object array: None / NaN stay None, a
        token of this version stays itself; one HMAC per distinct value, the same token `token()`
        gives each value (the normalisation runs vectorised: patterns.normalise_array)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from workloads.privacy.patterns import normalise_array

        column = _strings(values)
        encoded = column.dictionary_encode()
        uniques = encoded.dictionary
        if len(uniques) == 0:
            return np.full(len(column), None, dtype=object)
        is_token = pc.match_substring_regex(uniques, TOKEN_REGEX)
        if pc.any(is_token).as_py():
            foreign = pc.and_(is_token, pc.invert(pc.starts_with(uniques, self.prefix)))
            if pc.any(foreign).as_py():
                self._check_foreign(pc.filter(uniques, foreign)[0].as_py())
        plain = normalise_array(kind, uniques).cast(pa.large_string())
        digests = self._digests(plain, workers)
        tokens = pc.if_else(is_token, uniques.cast(pa.large_string()), _token_array(self.prefix, digests, len(uniques)))
        return pc.take(tokens, encoded.indices).to_numpy(zero_copy_only=False)

    def _digests(self, plain: Any, workers: int) -> bytes:
        """Truncated HMACs of every value of a large_string array: this process takes one share, each
        worker process another (value buffers and offsets are passed whole: no per-value pickling)."""
        n = len(plain)
        _, offsets_buf, data_buf = plain.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[plain.offset : plain.offset + n + 1]
        data = data_buf.to_pybytes() if data_buf is not None else b""
        workers = workers if n >= PARALLEL_MIN_VALUES else 1
        if workers <= 1:
            return _digests(self._key, data, offsets)
        if self._pool is None or self._pool_size != workers - 1:
            self.close()
            # spawn, not fork: a serving or training process has threads a fork would copy mid-lock.
            self._pool = ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(self._key,))
            self._pool_size = workers - 1
        bounds = [n * i // workers for i in range(workers + 1)]
        futures = []
        for a, b in zip(bounds[1:], bounds[2:], strict=False):
            lo, hi = int(offsets[a]), int(offsets[b])
            futures.append(self._pool.submit(_worker_digests, data[lo:hi], offsets[a : b + 1] - lo))
        mine = _digests(self._key, data, offsets[: bounds[1] + 1])
        return mine + b"".join(f.result() for f in futures)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            self._pool_size = 0


def _strings(values: Any) -> Any:
    """A column as an Arrow string array (None / NaN -> null; anything else as `str()` spells it)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    series = values if isinstance(values, (pd.Series, list)) else pd.Series(values, dtype=object)
    try:
        return pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v) for v in series], type=pa.string())


def default_workers() -> int:
    """Worker processes for batch tokenisation: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)

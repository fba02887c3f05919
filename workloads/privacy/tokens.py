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

Speed (benchmarks/privacy.py; target 1 million values/s on 2 cores): the only per-value Python
left in a column is the HMAC itself. HMAC's inner and outer SHA-256 states after the key blocks are
computed once and copied per value (RFC 2104 notes this precomputation: about 0.9 us per value,
against 2.5 us for `hmac.new` and 1.6 us for OpenSSL's one-shot `hmac.digest`, which re-keys every
call; feeding `map` chains of `sha256` from C was slower, 1.0 us, as it hashes the key block again).
The column is cut into one share per worker, and every step runs inside the share, in parallel:
the distinct values (Arrow's `dictionary_encode`), their normalisation (Arrow compute kernels,
`patterns.normalise_array`), one HMAC each, and the token characters from the digests with one
numpy table lookup. This process takes the first share and `workers - 1` worker processes the
others, each handed one value buffer and its offsets and returning one character buffer (no
per-value pickling). A value repeated across shares is hashed once per share: the same token.
checked: pyarrow 25 `Array.dictionary_encode`, `LargeStringArray.from_buffers`, `pyarrow.compute`
`replace_substring_regex` / `if_else` / `take` (arrow/python/pyarrow/array.pxi, compute.py).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context
from typing import Any

import numpy as np

from workloads.errors import SahabError
from workloads.privacy.patterns import TOKEN, normalise

TOKEN_REGEX = "^" + TOKEN.pattern + "$"

TOKEN_PREFIX = "tok:v"
HEX_CHARS = 32
PARALLEL_MIN_VALUES = 200_000
"""A column of fewer values is tokenised in this process alone (a worker pool costs more to start)."""


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
    """HMAC-SHA256 of each value (value i is data[offsets[i]:offsets[i+1]]), 32 bytes each, concatenated
    (a token keeps the first 16: `_token_chars`; slicing here would cost one more object per value)."""
    inner, outer = _pads(key)
    new_inner, new_outer = inner.copy, outer.copy
    ends = offsets.tolist()
    out: list[bytes] = []
    append = out.append
    for a, b in zip(ends, islice(ends, 1, None), strict=False):  # the offsets: one more than the values
        i = new_inner()
        i.update(data[a:b])
        o = new_outer()
        o.update(i.digest())
        append(o.digest())
    return b"".join(out)


# Two hex characters per byte value: one table lookup turns (n, 16) digest bytes into (n, 32) characters.
_HEX2 = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)


def _token_chars(prefix: bytes, digests: bytes, n: int) -> np.ndarray:
    """(n, len(prefix) + 32) characters: each row `<prefix><32 hex>` of the first 16 bytes of its 32-byte
    digest, built without a Python loop."""
    width = len(prefix) + HEX_CHARS
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    hexed = _HEX2[np.frombuffer(digests, dtype=np.uint8).reshape(n, 32)[:, :16]]
    chars[:, len(prefix) :] = hexed.view(np.uint8).reshape(n, HEX_CHARS)
    return chars


def _share_chars(key: bytes, prefix: bytes, kind: str, data: bytes, offsets: np.ndarray) -> bytes:
    """One share of a column (its values as one buffer and their offsets): each distinct value
    normalised for its kind and hashed once, and the token characters of every value in order
    (len(prefix) + 32 bytes each)."""
    import pyarrow as pa

    from workloads.privacy.patterns import normalise_array

    n = len(offsets) - 1
    if n == 0:
        return b""
    base = offsets[0]
    values = pa.LargeStringArray.from_buffers(n, pa.py_buffer((offsets - base).tobytes()), pa.py_buffer(data))
    encoded = values.dictionary_encode()
    plain = normalise_array(kind, encoded.dictionary).cast(pa.large_string())
    _, plain_offsets, plain_data = plain.buffers()
    m = len(plain)
    ends = np.frombuffer(plain_offsets, dtype=np.int64)[plain.offset : plain.offset + m + 1]
    digests = _digests(key, plain_data.to_pybytes() if plain_data is not None else b"", ends)
    chars = _token_chars(prefix, digests, m)
    return chars[encoded.indices.to_numpy()].tobytes()


_WORKER: dict[str, Any] = {}


def _worker_init(key: bytes) -> None:
    _WORKER["key"] = key


def _worker_chars(prefix: bytes, kind: str, data: bytes, offsets: np.ndarray) -> bytes:
    return _share_chars(_WORKER["key"], prefix, kind, data, offsets)


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
        token of this version stays itself; the same token `token()` gives each value. The column
        is cut into one share per worker (this process takes the first); each share normalises its
        distinct values with Arrow's kernels (patterns.normalise_array) and hashes each once."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = _strings(values).cast(pa.large_string())
        n = len(column)
        if n == column.null_count:
            return np.full(n, None, dtype=object)
        is_token = pc.match_substring_regex(column, TOKEN_REGEX)
        if pc.any(is_token).as_py():
            foreign = pc.and_(is_token, pc.invert(pc.starts_with(column, self.prefix)))
            if pc.any(foreign).as_py():
                self._check_foreign(pc.filter(column, foreign)[0].as_py())
        filled = pc.fill_null(column, "") if column.null_count else column
        chars = self._chars(filled, kind, workers)
        width = len(self.prefix) + HEX_CHARS
        hashed = pa.LargeStringArray.from_buffers(n, pa.py_buffer((np.arange(n + 1, dtype=np.int64) * width).tobytes()), pa.py_buffer(chars))
        # a null's is_token is null, and if_else gives null for it: None stays None
        return pc.if_else(is_token, column, hashed).to_numpy(zero_copy_only=False)

    def _chars(self, column: Any, kind: str, workers: int) -> bytes:
        """The token characters of every value of a null-free large_string array: this process takes
        one share, each worker process another (value buffers and offsets are passed whole: no per-value pickling)."""
        n = len(column)
        _, offsets_buf, data_buf = column.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[column.offset : column.offset + n + 1]
        data = data_buf.to_pybytes() if data_buf is not None else b""
        prefix = self.prefix.encode()
        workers = workers if n >= PARALLEL_MIN_VALUES else 1
        if workers <= 1:
            return _share_chars(self._key, prefix, kind, data[offsets[0] : offsets[-1]], offsets)
        if self._pool is None or self._pool_size != workers - 1:
            self.close()
            # spawn, not fork: a serving or training process has threads a fork would copy mid-lock.
            self._pool = ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(self._key,))
            self._pool_size = workers - 1
        bounds = [n * i // workers for i in range(workers + 1)]
        futures = [
            self._pool.submit(_worker_chars, prefix, kind, data[offsets[a] : offsets[b]], offsets[a : b + 1])
            for a, b in zip(bounds[1:], bounds[2:], strict=False)
        ]
        mine = _share_chars(self._key, prefix, kind, data[offsets[0] : offsets[bounds[1]]], offsets[: bounds[1] + 1])
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

"""Reproducible random numbers in chunks: U(−bound, bound) float32 arrays whose values depend only
on the seed, never on the number of threads that fill them, so a whole matrix (:func:`uniform`)
and a matrix streamed chunk by chunk (:class:`~.dense.StreamedUniform`) hold the same values."""

from __future__ import annotations

import math

import numpy as np

from .config import F32
from .threads import Engine

RNG_CHUNK = 1 << 20            # values per independently seeded stream


def fill_chunk(part: np.ndarray, bound: float, seed: tuple[int, ...], c: int) -> None:
    """Chunk ``c`` (2^20 values, or fewer at the end) of a seeded U(−bound, bound) array."""
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence([*seed, c])))
    gen.random(out=part, dtype=F32)
    part *= F32(2 * bound)
    part -= F32(bound)


def uniform(shape: tuple[int, ...], bound: float, seed: tuple[int, ...],
            eng: Engine | None = None) -> np.ndarray:
    """U(−bound, bound) float32, reproducible from ``seed`` whatever the number of threads:
    the array is filled in chunks of 2^20 values, each from its own seeded SFC64 stream, in
    parallel on the engine's workers when there is one (NumPy's generators release the GIL)."""
    n = math.prod(shape)
    flat = np.empty(n, F32)

    def fill(c: int) -> None:
        fill_chunk(flat[c * RNG_CHUNK:(c + 1) * RNG_CHUNK], bound, seed, c)

    chunks = range(-(-n // RNG_CHUNK))
    if len(chunks) > 1 and eng is not None:
        eng.map(fill, chunks)
    else:
        for c in chunks:
            fill(c)
    return flat.reshape(shape)

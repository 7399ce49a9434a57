"""Reproducible random numbers in chunks: U(−bound, bound) float32 arrays whose values depend only
on the seed, never on the number of threads that fill them, so a whole matrix (:func:`uniform`)
and a matrix streamed chunk by chunk (:class:`~.dense.StreamedUniform`) hold the same values."""

from __future__ import annotations

import math

import numpy as np

from .config import F32
from .threads import Engine

RNG_CHUNK = 1 << 20            # values per independently seeded stream
RAW_STEP = 1 << 16             # 64-bit draws per step: 512 KiB, in cache while converted


def fill_chunk(part: np.ndarray, bound: float, seed: tuple[int, ...], c: int) -> None:
    """Chunk ``c`` (2^20 values, or fewer at the end) of a seeded U(−bound, bound) array.

    Each 64-bit draw of the SFC64 generator gives two values: 23 random bits of each 32-bit
    half become the mantissa of a float in [1, 2) (the usual exponent trick), which is scaled
    to [−bound, bound). About twice as fast as ``Generator.random(dtype=float32)``, which makes
    one call per value; the values are as uniform (a 2^-23 grid)."""
    bits_gen = np.random.SFC64(np.random.SeedSequence([*seed, c]))
    scale, shift = F32(2 * bound), F32(3 * bound)
    for s in range(0, part.size, 2 * RAW_STEP):
        dst = part[s:s + 2 * RAW_STEP]
        bits = bits_gen.random_raw((dst.size + 1) // 2).view(np.uint32)[:dst.size]
        bits >>= 9
        bits |= 0x3F800000                   # exponent 0: the float 1.mantissa
        np.multiply(bits.view(F32), scale, out=dst)
        dst -= shift


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

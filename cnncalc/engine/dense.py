"""Dense layers: ``x @ W`` on the workers, and with random weights large matrices that are never
held whole (:class:`StreamedUniform`)."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

import numpy as np

from .activations import activate
from .config import F32
from .rng import RNG_CHUNK, fill_chunk
from .threads import Engine

if TYPE_CHECKING:
    from ..analysis import LayerRecord
    from .config import EngineConfig

STREAM_MIN_VALUES = 8 << 20    # random dense weights from this size on are never held whole


class StreamedUniform:
    """A large random dense weight matrix that is never held whole: ``x @ W`` generates W's
    chunks (the same values :func:`~.rng.uniform` gives) on the worker threads and multiplies
    each into a partial sum while it is in cache; each block running at once has its chunk
    buffer and its partial sum. VGG-16's fc1 (102.8 M values, 392 MiB) then costs 4 MiB per
    thread instead of its full size, and no time faulting in fresh pages."""

    def __init__(self, shape: tuple[int, int], bound: float, seed: tuple[int, ...]):
        self.shape = shape
        self.bound = bound
        self.seed = seed

    def left_multiply(self, eng: Engine, x: np.ndarray) -> np.ndarray:
        """``x @ W`` for a 2-D ``x`` (N × in)."""
        n_in, units = self.shape
        total = n_in * units
        made: list[tuple[np.ndarray, np.ndarray]] = []     # (partial sum, chunk buffer) pairs
        free: queue.SimpleQueue[tuple[np.ndarray, np.ndarray]] = queue.SimpleQueue()

        def job(c: int) -> None:
            try:
                acc, buf = free.get_nowait()
            except queue.Empty:
                acc, buf = np.zeros((x.shape[0], units), F32), np.empty(RNG_CHUNK, F32)
                made.append((acc, buf))
            try:
                self._multiply_chunk(x, c, acc, buf)
            finally:
                free.put((acc, buf))

        with eng.blas_on_one_thread():                  # generation: on the workers
            eng.map(job, range(-(-total // RNG_CHUNK)))
        out = made[0][0]
        for acc, _ in made[1:]:
            out += acc
        return out

    def _multiply_chunk(self, x: np.ndarray, c: int, acc: np.ndarray, buf: np.ndarray) -> None:
        """Add chunk ``c`` of W's rows times the matching columns of ``x`` into ``acc``."""
        units = self.shape[1]
        a, b = c * RNG_CHUNK, min(self.shape[0] * units, (c + 1) * RNG_CHUNK)
        flat = buf[:b - a]
        fill_chunk(flat, self.bound, self.seed, c)
        r, col = divmod(a, units)
        pos = 0
        if col:                              # the end of a row begun in the last chunk
            k = min(units - col, b - a)
            acc[:, col:col + k] += x[:, r:r + 1] * flat[:k]
            pos, r = k, r + 1
        full = (b - a - pos) // units
        if full:
            acc += x[:, r:r + full] @ flat[pos:pos + full * units].reshape(full, units)
            pos, r = pos + full * units, r + full
        if pos < b - a:                      # the start of a row the next chunk ends
            acc[:, :b - a - pos] += x[:, r:r + 1] * flat[pos:]


def dense(eng: Engine, x: np.ndarray, w: np.ndarray | StreamedUniform, bias: np.ndarray | None,
          act: str | None, act_alpha: float = 0.01) -> np.ndarray:
    """``x @ w + bias`` over the last axis of ``x``, then the activation."""
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    y = w.left_multiply(eng, x2) if isinstance(w, StreamedUniform) else eng.matmul(x2, w)
    out = y.reshape(x.shape[:-1] + (w.shape[1],))
    if bias is not None:
        out += bias
    return activate(out, act, True, act_alpha)


def streamed_bytes(units: int, batch: int, config: EngineConfig) -> int:
    """What a streamed matrix costs while it multiplies: a chunk buffer and a partial sum for
    each block running at once (one per worker)."""
    return config.workers * (RNG_CHUNK + batch * units) * 4


def is_streamed(rec: LayerRecord, key: str, size: int, min_values: int = STREAM_MIN_VALUES
                ) -> bool:
    """Whether random weights stream this array: a dense layer's weight matrix from
    ``min_values`` on, unless the spec fixes it."""
    return rec.layer.op == "dense" and key == "weight" and size >= min_values and \
        getattr(rec.layer, "weights", None) is None

"""Pooling (max and average with PyTorch's padding and ceil_mode rules, adaptive pools) and local
response normalisation. Pools loop over the kernel offsets only, in row bands on the workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..shapes import adaptive_windows
from .config import F32, EngineConfig
from .geometry import Pads, Pair, offset, positions
from .resize import pad_nhwc, padded_bytes
from .threads import Engine

if TYPE_CHECKING:
    from ..analysis import LayerRecord


def pool_positions(n: int, before: int, after: int, k: int, s: int, ceil_mode: bool) -> int:
    """Window positions of a pool along one axis, counted: windows inside the padded input, or
    with ``ceil_mode`` (PyTorch) also a last partial window, provided it starts inside the input
    or the left padding."""
    if not ceil_mode:
        return positions(n + before + after, k, s)
    starts = range(0, n + before + after - k + s, s)
    return sum(1 for start in starts if start < n + before)


def pool2d(eng: Engine, x: np.ndarray, kind: str, size: Pair, stride: Pair, pads: Pads,
           ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """Max or average pooling (PyTorch semantics: max ignores the padding; average divides by
    the window's size clipped to the padded input with ``count_include_pad``, else by the
    number of input pixels in it; ceil_mode windows hanging past the padding are clipped)."""
    n, h, w, c = x.shape
    kh, kw = size
    sh, sw = stride
    t, b, l, r = pads
    oh = pool_positions(h, t, b, kh, sh, ceil_mode)
    ow = pool_positions(w, l, r, kw, sw, ceil_mode)
    extra_b = max(0, (oh - 1) * sh + kh - (h + t + b))
    extra_r = max(0, (ow - 1) * sw + kw - (w + l + r))
    fill = -np.inf if kind == "max" else 0.0
    xp = pad_nhwc(eng, x, t, b + extra_b, l, r + extra_r, fill)
    acc = np.empty((n, oh, ow, c), F32)

    def band(r0: int, r1: int) -> None:      # output rows r0..r1, every kernel offset
        part = acc[:, r0:r1]
        for i in range(kh):
            for j in range(kw):
                sl = offset(xp[:, r0 * sh:], i, j, r1 - r0, ow, sh, sw)
                if i == j == 0:
                    part[...] = sl
                elif kind == "max":
                    np.maximum(part, sl, out=part)
                else:
                    part += sl

    eng.bands(oh, x.nbytes, band)
    if kind == "max":
        return acc
    mask = np.zeros(xp.shape[1:3], F32)
    if count_include_pad:
        mask[:t + h + b, :l + w + r] = 1
    else:
        mask[t:t + h, l:l + w] = 1
    div = np.zeros((oh, ow), F32)
    for i in range(kh):
        for j in range(kw):
            div += mask[i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
    acc /= div[None, :, :, None]
    return acc


def pool_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """A pool's padded copy."""
    ins = rec.input_shapes[0]
    return padded_bytes(ins, rec.geometry.pads, batch) if len(ins) == 3 else 0


def adaptive_pool2d(x: np.ndarray, kind: str, out_hw: Pair) -> np.ndarray:
    """PyTorch's adaptive pooling: output ``i`` pools input ``[floor(i·n/out),
    ceil((i+1)·n/out))`` along each axis (separable, so one loop per axis over the outputs)."""
    reduce = np.max if kind == "max" else np.mean
    for axis, o in ((1, out_hw[0]), (2, out_hw[1])):
        size = x.shape[axis]
        if size % o == 0:      # equal windows: a reshape
            k = size // o
            shape = x.shape[:axis] + (o, k) + x.shape[axis + 1:]
            x = reduce(x.reshape(shape), axis=axis + 1)
            continue
        parts = [reduce(x.take(range(s, e), axis=axis), axis=axis, keepdims=True)
                 for s, e in adaptive_windows(size, o)]
        x = np.concatenate(parts, axis=axis)
    return np.ascontiguousarray(x, dtype=F32)


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Local response normalisation across channels (Krizhevsky et al. 2012, §3.3):
    ``b_c = a_c / (k + α·Σ a_j²)^β`` over the ``size`` channels centred on ``c`` (channels
    ``c − size//2 … c + (size−1)//2``, clipped at the ends). Unlike PyTorch's
    LocalResponseNorm, α is not divided by ``size`` (the paper's and TensorFlow's form)."""
    sq = x * x
    c = x.shape[-1]
    lo, hi = size // 2, (size - 1) // 2
    padded = np.zeros(x.shape[:-1] + (c + lo + hi,), F32)
    padded[..., lo:lo + c] = sq
    acc = np.zeros_like(x)
    for i in range(size):
        acc += padded[..., i:i + c]
    acc *= F32(alpha)
    acc += F32(k)
    np.power(acc, F32(beta), out=acc)
    return x / acc

"""Resizing a map: padding (the border of a new array, its interior copied in row bands on the
workers), nearest-neighbour upsampling and cropping."""

from __future__ import annotations

import numpy as np

from .config import F32
from .geometry import Pads
from .threads import Engine


def pad_nhwc(eng: Engine, x: np.ndarray, t: int, b: int, l: int, r: int, value: float = 0.0
             ) -> np.ndarray:
    """A new contiguous array with ``value`` around ``x`` (N×H×W×C); only the border is filled."""
    if not (t or b or l or r):
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + t + b, w + l + r, c), F32)
    if t:
        out[:, :t] = value
    if b:
        out[:, t + h:] = value
    if l:
        out[:, t:t + h, :l] = value
    if r:
        out[:, t:t + h, l + w:] = value
    eng.bands(h, x.nbytes, lambda r0, r1: out[:, t + r0:t + r1, l:l + w].__setitem__(
        Ellipsis, x[:, r0:r1]))
    return out


def padded_bytes(shape: tuple[int, ...], pads: Pads, batch: int) -> int:
    """Bytes of the padded copy of an H×W×C map (one row and column more: the spare that an odd
    size or a pool's ceil_mode window may add)."""
    h, w, c = shape
    t, b, l, r = pads
    return (h + t + b + 1) * (w + l + r + 1) * c * 4 * batch


def upsample_nearest(x: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """Each pixel repeated ``sh`` × ``sw`` times (N×H×W×C)."""
    if (sh, sw) == (1, 1):
        return x
    n, h, w, c = x.shape
    # a new array: reshaping the broadcast view would give a read-only view when H or W is 1
    out = np.empty((n, h, sh, w, sw, c), x.dtype)
    out[...] = x[:, :, None, :, None, :]
    return out.reshape(n, h * sh, w * sw, c)


def crop(x: np.ndarray, t: int, b: int, l: int, r: int) -> np.ndarray:
    """A view without ``t``, ``b`` rows and ``l``, ``r`` columns at the edges."""
    return x[:, t:x.shape[1] - b, l:x.shape[2] - r, :]


def centre_crop(x: np.ndarray, th: int, tw: int) -> np.ndarray:
    """A view of the ``th``×``tw`` centre of ``x`` (floor on the top/left, as U-Net does it)."""
    h, w = x.shape[1:3]
    t, l = (h - th) // 2, (w - tw) // 2
    return x[:, t:t + th, l:l + tw, :]

"""Resizing a map: padding (the border of a new array, its interior copied in row bands on the
workers), nearest-neighbour upsampling, cropping, and PyTorch's ``interpolate`` (nearest and
bilinear, with its sample positions)."""

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


def _ratio(n_in: int, n_out: int, scale: float | None) -> np.float32:
    """PyTorch's ``compute_scales_value``: 1/scale when a scale factor was given, else in/out
    (float32, as the CPU kernels compute it)."""
    if scale is not None and scale > 0:
        return F32(1.0 / scale)
    return F32(n_in) / F32(n_out)


def nearest_indices(n_in: int, n_out: int, scale: float | None) -> np.ndarray:
    """The source row (or column) of each output one, as PyTorch's ``nearest`` mode picks it:
    ``min(floor(i · ratio), n_in − 1)`` in float32."""
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    src = np.floor(np.arange(n_out, dtype=F32) * _ratio(n_in, n_out, scale)).astype(np.int64)
    return np.minimum(src, n_in - 1)


def linear_weights(n_in: int, n_out: int, align_corners: bool, scale: float | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output row: the two source rows and the weight of the second, as PyTorch's
    ``upsample_bilinear2d`` computes them (``area_pixel_compute_source_index``, float32)."""
    if n_out == n_in:
        idx = np.arange(n_out)
        return idx, idx, np.zeros(n_out, F32)
    dst = np.arange(n_out, dtype=F32)
    if align_corners:
        ratio = F32(n_in - 1) / F32(n_out - 1) if n_out > 1 else F32(0)
        real = ratio * dst
    else:
        real = _ratio(n_in, n_out, scale) * (dst + F32(0.5)) - F32(0.5)
        real = np.maximum(real, F32(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    lam = np.clip(real - i0.astype(F32), F32(0), F32(1))
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, lam.astype(F32)


def resize(x: np.ndarray, out_h: int, out_w: int, mode: str, align_corners: bool,
           scale_h: float | None = None, scale_w: float | None = None) -> np.ndarray:
    """``F.interpolate`` of an N×H×W×C map to ``out_h`` × ``out_w`` (``nearest`` or
    ``bilinear``); ``scale_h``/``scale_w`` are the scale factors when they were given (PyTorch then
    places the samples by them, not by the sizes)."""
    n, h, w, c = x.shape
    if mode == "nearest":
        rows = nearest_indices(h, out_h, scale_h)
        cols = nearest_indices(w, out_w, scale_w)
        return x[:, rows][:, :, cols]
    r0, r1, rl = linear_weights(h, out_h, align_corners, scale_h)
    c0, c1, cl = linear_weights(w, out_w, align_corners, scale_w)
    rl = rl.reshape(1, out_h, 1, 1)
    cl = cl.reshape(1, 1, out_w, 1)
    tall = x[:, r0] * (F32(1) - rl)
    tall += x[:, r1] * rl
    out = tall[:, :, c0] * (F32(1) - cl)
    out += tall[:, :, c1] * cl
    return out

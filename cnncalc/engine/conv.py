"""Convolutions as large float32 matrix products, so that BLAS does the work.

The windows of a block of output rows are gathered from a zero-padded buffer (im2col, through a
strided view, about a MiB at a time) and multiplied by the ``(f_h·f_w·C, filters)`` weight matrix
in one GEMM, with the bias and activation applied to the block while it is in cache. 3×3 stride-1
convolutions of enough channels use Winograd F(2×2, 3×3) instead (:mod:`.winograd`). Grouped
convolutions are a batched GEMM over the groups; depthwise ones (one input channel per group) a
multiply-accumulate over the ``f_h·f_w`` kernel offsets, vectorised over pixels and channels.
Transposed convolutions are one GEMM followed by a scatter-add over the kernel offsets (col2im).
No Python loop runs over pixels or channels.

Each kernel's scratch (the im2col blocks) is allocated per call, one buffer per block running at
once; :func:`conv_workspace` and the others tell the planner what a layer allocates.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import winograd
from .activations import activate
from .config import F32, EngineConfig
from .geometry import Pads, Pair, offset, positions
from .resize import pad_nhwc, padded_bytes
from .threads import Block, Engine, Scratch, largest_block, split_blocks

if TYPE_CHECKING:
    from ..analysis import LayerRecord
    from ..layers.conv import Sliding


def conv2d(eng: Engine, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride: Pair,
           dilation: Pair, pads: Pads, groups: int = 1, act: str | None = None,
           act_alpha: float = 0.01, winograd_u: np.ndarray | None = None) -> np.ndarray:
    """A 2-D convolution (cross-correlation, as in every framework) of N×H×W×C ``x`` with the
    HWIO kernel ``w`` (f_h, f_w, C/groups, filters), padded by ``pads`` (top, bottom, left,
    right). ``winograd_u``: the kernel already transformed (:func:`conv_prepare`), used when
    the convolution goes through Winograd."""
    n, h, wd, c = x.shape
    kh, kw, cg, filters = w.shape
    sh, sw = stride
    dh, dw = dilation
    if groups > 1 and cg == 1:
        out = depthwise(eng, x, w, stride, dilation, pads)
        if bias is not None:
            out += bias
        return activate(out, act, True, act_alpha)
    xp = pad_nhwc(eng, x, *pads)
    oh = positions(xp.shape[1], dh * (kh - 1) + 1, sh)
    ow = positions(xp.shape[2], dw * (kw - 1) + 1, sw)
    if kh == kw == 1 and groups == 1:          # 1×1: no windows to gather
        xs = xp[:, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw, :]
        out = eng.matmul(np.ascontiguousarray(xs).reshape(-1, c), w.reshape(c, filters))
        if bias is not None:
            out += bias
        return activate(out, act, True, act_alpha).reshape(n, oh, ow, filters)
    if winograd.applies(eng.config, (kh, kw), stride, dilation, groups, c, filters, n, oh, ow):
        return winograd.winograd3x3(eng, xp, w, bias, act, act_alpha, winograd_u)
    xp = np.ascontiguousarray(xp)
    s0, s1, s2, s3 = xp.strides
    g = groups
    fg = filters // g
    k = kh * kw * cg
    out = np.empty((n, oh, ow, filters), F32)
    wm: np.ndarray                             # (k, filters), or (g, k, filters/g) per group
    if g == 1:
        if dw == 1:    # (f_w, C) of one kernel row is contiguous in the padded map
            view = as_strided(xp, (n, oh, ow, kh, kw * c), (s0, s1 * sh, s2 * sw, s1 * dh, s3),
                              writeable=False)
        else:
            view = as_strided(xp, (n, oh, ow, kh, kw, c),
                              (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)
        wm = w.reshape(k, filters)
    else:
        view = as_strided(xp, (n, oh, ow, kh, kw, g, cg),
                          (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3 * cg, s3),
                          writeable=False).transpose(5, 0, 1, 2, 3, 4, 6)
        wm = np.ascontiguousarray(
            w.reshape(kh, kw, cg, g, fg).transpose(3, 0, 1, 2, 4)).reshape(g, k, fg)

    def finish(d: np.ndarray) -> None:
        if bias is not None:
            d += bias
        done = activate(d, act, True, act_alpha)
        if done is not d:               # silu, gelu, ... make a new array
            d[...] = done

    def block(span: Block) -> None:
        n0, n1, r0, r1 = span
        m = (n1 - n0) * (r1 - r0) * ow
        dst = out[n0:n1, r0:r1].reshape(m, filters)
        with scratch.take() as buf:
            if g == 1:
                src = view[n0:n1, r0:r1]
                cols = buf[:m * k].reshape(src.shape)
                if eng.parallel:        # already on a worker
                    np.copyto(cols, src)
                else:                   # in turn: a big copy in bands on the workers
                    eng.bands(r1 - r0, cols.nbytes,
                              lambda a, b: np.copyto(cols[:, a:b], src[:, a:b]))
                np.matmul(cols.reshape(m, k), wm, out=dst)
            else:
                src = view[:, n0:n1, r0:r1]
                cols = buf[:g * m * k].reshape(src.shape)
                np.copyto(cols, src)
                res = np.matmul(cols.reshape(g, m, k), wm)          # (g, m, fg)
                dst.reshape(m, g, fg)[...] = res.transpose(1, 0, 2)
        if eng.parallel:
            finish(dst)
        else:                           # the product was BLAS's; the activation in bands
            eng.bands(m, dst.nbytes, lambda a, b: finish(dst[a:b]))

    # ungrouped: one product per block, split by BLAS's threads (see Engine.blas_threads)
    with eng.blas_threads() if g == 1 else contextlib.nullcontext():
        blocks, size = _im2col_blocks(eng.config, n, oh, ow, kh * kw * c, eng.parallel)
        scratch = Scratch(size)
        eng.each(block, blocks)
    return out


def _im2col_blocks(config: EngineConfig, n: int, oh: int, ow: int, window: int, parallel: bool
                   ) -> tuple[list[Block], int]:
    """The blocks of output rows a convolution gathers at once (``window``: f_h·f_w·C values
    per output pixel) and the values of the largest block's im2col buffer."""
    row = ow * window * 4                      # im2col bytes of one output row
    budget = config.par_chunk_bytes if parallel else config.chunk_bytes
    blocks = split_blocks(n, oh, row, budget, config.workers, parallel)
    return blocks, largest_block(blocks) * ow * window


def _im2col_bytes(config: EngineConfig, n: int, oh: int, ow: int, window: int) -> int:
    """The im2col buffers of one call, in the costlier mode: one in turn, one per block running
    at once on the workers."""
    most = 0
    for parallel in (False, True) if config.workers > 1 else (False,):
        blocks, size = _im2col_blocks(config, n, oh, ow, window, parallel)
        most = max(most, (min(config.workers, len(blocks)) if parallel else 1) * size * 4)
    return most


def depthwise(eng: Engine, x: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair,
              pads: Pads) -> np.ndarray:
    """Depthwise convolution (one input channel per group; output channel ``c·m + j`` from input
    channel ``c``): a multiply-accumulate over the kernel offsets, vectorised over everything
    else."""
    kh, kw, _, filters = w.shape
    c = x.shape[-1]
    mult = filters // c
    xp = pad_nhwc(eng, x, *pads)
    if mult > 1:
        xp = np.repeat(xp, mult, axis=-1)
    sh, sw = stride
    dh, dw = dilation
    oh = positions(xp.shape[1], dh * (kh - 1) + 1, sh)
    ow = positions(xp.shape[2], dw * (kw - 1) + 1, sw)
    out = np.empty((x.shape[0], oh, ow, filters), F32)

    def band(r0: int, r1: int) -> None:
        """Output rows r0..r1: the first offset's product, then the others added."""
        acc = out[:, r0:r1]
        tmp = np.empty_like(acc)
        for i in range(kh):
            for j in range(kw):
                src = offset(xp[:, r0 * sh:], i * dh, j * dw, r1 - r0, ow, sh, sw)
                if i == j == 0:
                    np.multiply(src, w[0, 0, 0], out=acc)
                else:
                    np.multiply(src, w[i, j, 0], out=tmp)
                    acc += tmp

    # element-wise work: in row bands on the workers when it is big (Engine.bands)
    eng.bands(oh, out.nbytes * kh * kw, band)
    return out


def conv_transpose2d(eng: Engine, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                     stride: Pair, dilation: Pair, pads: Pads, output_padding: Pair,
                     groups: int = 1) -> np.ndarray:
    """Transposed convolution (PyTorch's ConvTranspose2d: input pixel ``i`` adds
    ``x[i]·w[k]`` to output ``i·s + k·d − p_before``). One GEMM gives every input pixel's
    contribution for every kernel offset; a scatter-add over the offsets (col2im) places them."""
    n, h, wd, c = x.shape
    kh, kw, cg, filters = w.shape
    sh, sw = stride
    dh, dw = dilation
    g = groups
    fg = filters // g
    m = n * h * wd
    xm = np.ascontiguousarray(x).reshape(m, c)
    wm: np.ndarray
    if g == 1:
        wm = np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(c, kh * kw * filters)
        y = eng.matmul(xm, wm).reshape(n, h, wd, kh, kw, filters)
    else:
        wm = np.ascontiguousarray(
            w.reshape(kh, kw, cg, g, fg).transpose(3, 2, 0, 1, 4)).reshape(g, cg, kh * kw * fg)
        xg = np.ascontiguousarray(xm.reshape(m, g, cg).transpose(1, 0, 2))
        y = np.matmul(xg, wm).reshape(g, n, h, wd, kh, kw, fg).transpose(1, 2, 3, 4, 5, 0, 6)
        y = y.reshape(n, h, wd, kh, kw, filters)
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    full = np.zeros((n, full_h, full_w, filters), F32)
    for i in range(kh):
        for j in range(kw):
            full[:, i * dh:i * dh + (h - 1) * sh + 1:sh,
                 j * dw:j * dw + (wd - 1) * sw + 1:sw, :] += y[:, :, :, i, j, :]
    del y
    t, b, l, r = pads
    out = full[:, t:full_h - b, l:full_w - r, :]
    if out.shape[1:3] != (full_h, full_w):
        out = np.ascontiguousarray(out)
    if bias is not None:
        out += bias
    return out


def conv_prepare(rec: LayerRecord, params: dict[str, Any], eng: Engine, batch: int
                 ) -> dict[str, Any]:
    """Weight preparation, done when the layer's weights are made (as a framework prepacks its
    weights when it loads them): a convolution that runs through Winograd gets its transformed
    kernel as ``params["winograd"]``."""
    lay = cast("Sliding", rec.layer)
    w = params.get("weight")
    if not isinstance(w, np.ndarray) or len(rec.output) != 3:
        return params
    t = winograd.choose(eng.config, lay.kernel, lay.stride, lay.dilation,
                        getattr(lay, "groups", 1), rec.input_shapes[0][-1], rec.output[-1], batch,
                        rec.output[0], rec.output[1])
    if t is not None:
        params["winograd"] = winograd.winograd_weights(eng, w, t)
    return params


# --- what each allocates besides its output (for the memory estimate) ----------------------------

def conv_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """A convolution: its padded copy, and its im2col blocks or Winograd buffers and
    transformed kernel (a depthwise one, groups = channels, as :func:`depthwise_workspace`; a
    grouped one also its per-group products)."""
    ins = rec.input_shapes[0]
    lay = cast("Sliding", rec.layer)
    h, w, c = ins
    groups: int = getattr(lay, "groups", 1)
    if groups > 1 and c == groups:
        return depthwise_workspace(rec, batch, config)
    win = rec.geometry
    t, b, l, r = win.pads
    kernel = lay.kernel
    padded = padded_bytes(ins, win.pads, batch)
    filters = rec.output[-1]
    tr = winograd.choose(config, kernel, lay.stride, lay.dilation, groups, c, filters, batch,
                         win.out_h, win.out_w)
    if tr is not None:
        scratch = winograd.workspace_bytes(config, tr, batch, h + t + b, w + l + r, c, filters)
    else:
        scratch = _im2col_bytes(config, batch, win.out_h, win.out_w, kernel[0] * kernel[1] * c)
    extra = math.prod(rec.output) * 4 * batch if groups > 1 else 0
    return padded + scratch + extra


def depthwise_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """A depthwise (or separable) convolution: the padded copy repeated per multiplier, and the
    accumulator's temporary."""
    h, w, c = rec.input_shapes[0]
    mult: int = getattr(rec.layer, "depth_multiplier", rec.output[-1] // c)
    per = 4 * batch
    return padded_bytes((h, w, c), rec.geometry.pads, batch) * mult + \
        2 * math.prod(rec.output) * per * max(1, mult)


def transposed_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """A transposed convolution: every input pixel's products for every kernel offset, and the
    full output before the crop."""
    h, w, c = rec.input_shapes[0]
    kh, kw = cast("Sliding", rec.layer).kernel
    return (h * w * kh * kw * rec.output[-1] + math.prod(rec.output) * 2) * 4 * batch

"""Winograd convolution F(m×m, 3×3) for 3×3 stride-1 undilated convolutions, with m = 4 or 2
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).

An m×m output tile of a 3×3 convolution is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the (m+2)×(m+2) input
tile d, so the work becomes α² = (m+2)² matrix products of (tiles × C)·(C × filters): α²·C·F
multiplications per m² outputs instead of 9·m²·C·F, 4× fewer for F(4×4, 3×3) and 2.25× fewer for
F(2×2, 3×3).

All three transforms are dense matrix products too, so BLAS does them as well: the input tiles are
gathered once into a (α², tiles·C) matrix D (one strided copy) and V = (Bᵀ ⊗ Bᵀ)·D, the products
M are turned into outputs by Y = (Aᵀ ⊗ Aᵀ)·M, and the kernel by U = (G ⊗ G)·g. U depends only on
the weights: :func:`winograd_weights` makes it once, when the layer's weights are made (the run
times it as weight preparation, as a framework prepacks its weights), so the convolution itself
(:func:`winograd3x3`) gathers, multiplies three times and scatters.

The map goes in blocks of tile rows (gather, the three products, bias and activation, scatter,
with the block in cache): in turn, BLAS splitting each product over its threads, or in a
``"workers"`` run on the worker threads unless there are too few blocks to share.
:func:`workspace_bytes` counts the buffers and the transformed kernel for the planner.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .activations import activate
from .config import F32, EngineConfig
from .geometry import positions
from .resize import pad_nhwc
from .threads import Block, Engine, Scratch, largest_block, split_blocks

# The transform matrices (Lavin & Gray 2016, section 4; F(4×4, 3×3) with the points 0, ±1, ±2)
_BT = {2: ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
       4: ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
           (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))}
_G = {2: ((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0, 1)),
      4: ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
          (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))}
_AT = {2: ((1, 1, 1, 0), (0, 1, -1, -1)),
       4: ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))}


@dataclass(frozen=True)
class Transform:
    """F(m×m, 3×3): output tiles of m×m from input tiles of α×α (α = m + 2), and its three
    transforms as Kronecker products acting on a tile flattened row by row."""
    m: int
    bt: np.ndarray = field(repr=False)    # (α², α²)  Bᵀ ⊗ Bᵀ: input tile → transformed tile
    g: np.ndarray = field(repr=False)     # (α², 9)   G ⊗ G:   3×3 kernel → transformed kernel
    at: np.ndarray = field(repr=False)    # (m², α²)  Aᵀ ⊗ Aᵀ: products → output tile

    @property
    def alpha(self) -> int:
        return self.m + 2


def _make(m: int) -> Transform:
    """F(m×m, 3×3) from the tables (its matrices read-only)."""
    mats = []
    for table in (_BT, _G, _AT):
        a = np.array(table[m], dtype=np.float64)
        k = np.kron(a, a).astype(F32)
        k.setflags(write=False)
        mats.append(k)
    return Transform(m, *mats)


F2, F4 = _make(2), _make(4)


def transform(m: int) -> Transform:
    """F(m×m, 3×3) for m = 2 or 4."""
    return F4 if m == 4 else F2


def choose(config: EngineConfig, kernel: tuple[int, int], stride: tuple[int, int],
           dilation: tuple[int, int], groups: int, c: int, filters: int, n: int, oh: int,
           ow: int) -> Transform | None:
    """The Winograd transform a convolution runs with, or None for im2col: 3×3, stride 1,
    undilated, ungrouped, with enough channels and filters for the transforms to pay; F(4×4)
    when it has enough tiles, else F(2×2) when that has enough."""
    if not (config.winograd and kernel == (3, 3) and stride == (1, 1) and dilation == (1, 1)
            and groups == 1 and c >= config.winograd_min_channels
            and filters >= config.winograd_min_filters):
        return None
    for m, least in ((4, config.winograd_f4_min_tiles), (2, config.winograd_min_tiles)):
        if m in config.winograd_tiles and n * -(-oh // m) * -(-ow // m) >= least:
            return transform(m)
    return None


def applies(config: EngineConfig, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], groups: int, c: int, filters: int, n: int, oh: int,
            ow: int) -> bool:
    """Whether a convolution goes through Winograd (:func:`choose` finds a transform)."""
    return choose(config, kernel, stride, dilation, groups, c, filters, n, oh, ow) is not None


def winograd_weights(eng: Engine, w: np.ndarray, t: Transform | None = None) -> np.ndarray:
    """U = G g Gᵀ for every (input channel, filter) of the HWIO kernel ``w``: (α², C, F), the
    transformed kernel's entries in row-major order (F(2×2, 3×3) unless ``t`` says)."""
    t = t or transform(2)
    c, filters = w.shape[2:]
    u = np.empty((t.alpha ** 2, c * filters), F32)
    eng.matmul(t.g, np.ascontiguousarray(w).reshape(9, c * filters), out=u)
    return u.reshape(-1, c, filters)


class _Plan:
    """How a Winograd convolution of this size runs in a mode (in turn or on the workers): its
    tiles, its blocks of tile rows, and whether they are too few to share over the workers."""

    def __init__(self, config: EngineConfig, t: Transform, n: int, hp: int, wp: int, c: int,
                 filters: int, parallel: bool) -> None:
        m, a2 = t.m, t.alpha ** 2
        self.oh, self.ow = positions(hp, 3, 1), positions(wp, 3, 1)
        self.th, self.tw = -(-self.oh // m), -(-self.ow // m)
        # D, V, M (and a bias row) and Y values
        self.per_tile = a2 * (2 * c + filters) + filters + m * m * filters
        row = self.tw * self.per_tile * 4                  # bytes per row of tiles
        # a block multiplies its tiles by all of U (α²·C·F values): with fewer tiles than
        # filters, reading and packing U would cost more than the products
        fewest = max(filters, config.winograd_min_block_tiles)
        budget = max(config.winograd_block_bytes, -(-fewest // self.tw) * row)
        self.blocks: list[Block] = split_blocks(n, self.th, row, budget, config.workers,
                                                parallel)
        self.few = parallel and len(self.blocks) < 2 * config.workers
        self.most = largest_block(self.blocks) * self.tw       # tiles in the largest block
        self.concurrent = min(config.workers, len(self.blocks)) if parallel else 1


def workspace_bytes(config: EngineConfig, t: Transform, n: int, hp: int, wp: int, c: int,
                    filters: int) -> int:
    """Bytes :func:`winograd3x3` with transform ``t`` allocates besides its (already padded)
    input and its output, in the costlier of its two modes (in turn, on the workers): the
    transformed kernel U, the extra padding and the uncropped output of an odd size, and for
    each block running at once its gathered tiles D, V, M and output tiles Y."""
    values = 0
    for parallel in (False, True) if config.workers > 1 else (False,):
        plan = _Plan(config, t, n, hp, wp, c, filters, parallel)
        v = 0
        if (t.m * plan.th + 2, t.m * plan.tw + 2) != (hp, wp):     # odd size
            v += n * (t.m * plan.th + 2) * (t.m * plan.tw + 2) * c
            v += n * t.m * plan.th * t.m * plan.tw * filters
        values = max(values, v + plan.concurrent * plan.most * plan.per_tile)
    return 4 * (values + t.alpha ** 2 * c * filters)


def winograd3x3(eng: Engine, xp: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                act: str | None, act_alpha: float = 0.01, u: np.ndarray | None = None
                ) -> np.ndarray:
    """A stride-1, undilated 3×3 convolution of the already padded ``xp`` (N×H×W×C) with the
    HWIO kernel ``w``; the output is (H − 2)×(W − 2). ``u``: the kernel already transformed by
    :func:`winograd_weights` for the transform :func:`choose` picks (its first axis tells
    which); else it is made here."""
    n, hp, wp, c = xp.shape
    filters = w.shape[3]
    oh, ow = positions(hp, 3, 1), positions(wp, 3, 1)
    if u is None:
        t = choose(eng.config, (3, 3), (1, 1), (1, 1), 1, c, filters, n, oh, ow) or transform(2)
        u = winograd_weights(eng, w, t)
    t = transform(4 if u.shape[0] == 36 else 2)
    few = _Plan(eng.config, t, n, hp, wp, c, filters, eng.parallel).few
    # in a "workers" run, many blocks go to the workers (each block's products on one thread)
    # and too few to share go in turn on BLAS's threads (see Engine.blas_threads); in a "blas"
    # run the blocks run in turn and BLAS splits each product
    with eng.blas_threads() if few else contextlib.nullcontext():
        return _winograd(eng, xp, u, bias, act, act_alpha, t, filters)


def _winograd(eng: Engine, xp: np.ndarray, u: np.ndarray, bias: np.ndarray | None,
              act: str | None, act_alpha: float, t: Transform, filters: int) -> np.ndarray:
    n, hp, wp, c = xp.shape
    oh, ow = positions(hp, 3, 1), positions(wp, 3, 1)
    plan = _Plan(eng.config, t, n, hp, wp, c, filters, eng.parallel)
    m, a, th, tw = t.m, t.alpha, plan.th, plan.tw
    if (m * th + 2, m * tw + 2) != (hp, wp):       # odd size: zero rows/columns to whole tiles
        xp = pad_nhwc(eng, xp, 0, m * th + 2 - hp, 0, m * tw + 2 - wp)
    full = np.empty((n, m * th, m * tw, filters), F32)
    x0, x1, x2, x3 = xp.strides
    y0, y1, y2, y3 = full.strides
    scratch = Scratch(plan.most * plan.per_tile)
    # the bias rides along in the output transform: one more row of products holding the bias
    # for every tile, and a column of ones in Aᵀ ⊗ Aᵀ (a pass over the output saved)
    at = t.at if bias is None else np.hstack([t.at, np.ones((m * m, 1), F32)])
    rows_of_m = a * a + (bias is not None)

    def run_block(span: Block) -> None:
        n0, n1, t0, t1 = span
        nb, rows = n1 - n0, t1 - t0
        tiles = nb * rows * tw
        with scratch.take() as buf:
            cut = np.cumsum([0, a * a * tiles * c, a * a * tiles * c,
                             rows_of_m * tiles * filters])
            d, v, prod = (buf[cut[i]:cut[i + 1]] for i in range(3))
            y = buf[cut[3]:cut[3] + m * m * tiles * filters]
            # D[(i, j), image, tile row, tile column, channel] = x[m·row + i, m·column + j]
            src = as_strided(xp[n0:n1, m * t0:], (a, a, nb, rows, tw, c),
                             (x1, x2, x0, m * x1, m * x2, x3), writeable=False)
            np.copyto(d.reshape(a, a, nb, rows, tw, c), src)
            np.matmul(t.bt, d.reshape(a * a, tiles * c), out=v.reshape(a * a, tiles * c))
            products = prod.reshape(rows_of_m, tiles, filters)
            np.matmul(v.reshape(a * a, tiles, c), u, out=products[:a * a])
            if bias is not None:
                products[a * a] = bias
            np.matmul(at, prod.reshape(rows_of_m, tiles * filters),
                      out=y.reshape(m * m, tiles * filters))
            out_tiles = y.reshape(m, m, nb, rows, tw, filters)
            target = as_strided(full[n0:n1, m * t0:], (m, m, nb, rows, tw, filters),
                                (y1, y2, y0, m * y1, m * y2, y3))
            if act == "relu":                  # the activation and the scatter in one pass
                np.maximum(out_tiles, 0, out=target)
            else:
                np.copyto(target, activate(out_tiles, act, True, act_alpha))

    eng.each(run_block, plan.blocks)
    if full.shape[1:3] == (oh, ow):
        return full
    return np.ascontiguousarray(full[:, :oh, :ow])

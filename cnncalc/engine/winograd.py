"""Winograd F(2×2, 3×3) for 3×3 stride-1 undilated convolutions (Lavin & Gray, "Fast Algorithms
for Convolutional Neural Networks", 2016).

A 2×2 output tile of a 3×3 convolution is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 4×4 input tile d, so
the work becomes 16 matrix products of (tiles × C)·(C × filters): 16·C·F multiplications per 4
outputs instead of 36·C·F. G holds 0, ±½ and 1, B and A 0 and ±1, so the transforms are written
out as additions of strided slices.

Its buffers (the transformed kernel U, the transformed tiles V and products M of each block, the
transforms' temporaries, the extra row/column of an odd size) are counted by
:func:`workspace_bytes`, which the planner adds to the layer's memory estimate.
"""

from __future__ import annotations

import numpy as np

from .config import F32, EngineConfig
from .activations import activate
from .geometry import positions
from .resize import pad_nhwc
from .threads import Block, Engine, Scratch, largest_block, split_blocks


def applies(config: EngineConfig, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], groups: int, c: int, filters: int, n: int, oh: int,
            ow: int) -> bool:
    """Whether a convolution goes through Winograd: 3×3, stride 1, undilated, ungrouped, and
    enough channels, filters and tiles for the transforms to pay."""
    return (config.winograd and kernel == (3, 3) and stride == (1, 1) and dilation == (1, 1)
            and groups == 1 and c >= config.winograd_min_channels
            and filters >= config.winograd_min_filters
            and (oh // 2) * (ow // 2) * n >= config.winograd_min_tiles)


def winograd_weights(eng: Engine, w: np.ndarray) -> np.ndarray:
    """U = G g Gᵀ for every (input channel, filter) of the HWIO kernel: (16, C, F), the 16
    entries of the 4×4 transformed kernel in row-major order. Written out (G holds 0, ±½ and
    1), in filter bands on the worker threads."""
    c, filters = w.shape[2:]
    u = np.empty((4, 4, c, filters), F32)
    half = F32(0.5)

    def band(f0: int, f1: int) -> None:
        g = w[:, :, :, f0:f1]
        rows = (g[0], (g[0] + g[1] + g[2]) * half, (g[0] - g[1] + g[2]) * half, g[2])
        for i, r in enumerate(rows):                  # G along the kernel's rows, then columns
            dst = u[i, :, :, f0:f1]
            dst[0] = r[0]
            np.add(r[0], r[1], out=dst[1])
            dst[1] += r[2]
            dst[1] *= half
            np.subtract(r[0], r[1], out=dst[2])
            dst[2] += r[2]
            dst[2] *= half
            dst[3] = r[2]

    eng.bands(filters, w.nbytes, band)
    return u.reshape(16, c, filters)


def _tiles_in(band: np.ndarray, rows: int, tw: int, v: np.ndarray) -> None:
    """Bᵀ d B for every 4×4 input tile of ``band`` (N×(2·rows+2)×(2·tw+2)×C) into v (16, tiles,
    C); B holds 0 and ±1, so it is additions of strided slices, along the rows then columns
    (one row combination alive at a time)."""
    nb, c = band.shape[0], band.shape[3]
    d = [band[:, r:r + 2 * rows:2] for r in range(4)]
    shape = (nb, rows, tw, c)
    rows_of_bt = ((np.subtract, 0, 2), (np.add, 1, 2), (np.subtract, 2, 1), (np.subtract, 1, 3))
    for i, (combine, p, q) in enumerate(rows_of_bt):
        t = combine(d[p], d[q])
        cc = [t[:, :, k:k + 2 * tw:2] for k in range(4)]
        np.subtract(cc[0], cc[2], out=v[4 * i].reshape(shape))
        np.add(cc[1], cc[2], out=v[4 * i + 1].reshape(shape))
        np.subtract(cc[2], cc[1], out=v[4 * i + 2].reshape(shape))
        np.subtract(cc[1], cc[3], out=v[4 * i + 3].reshape(shape))
        del t, cc


def _tiles_out(m: np.ndarray, dst: np.ndarray, nb: int, rows: int, tw: int) -> None:
    """Aᵀ M A for every tile of m (16, tiles, F) into ``dst`` (N×≤2·rows×≤2·tw×F; the last
    row/column of tiles is cut where the output size is odd)."""
    filters = m.shape[2]
    shape = (nb, rows, tw, filters)
    for dy in range(2):
        y_rows = dst[:, dy::2]
        if y_rows.shape[1] == 0:
            continue
        if dy == 0:
            s = [m[j] + m[4 + j] + m[8 + j] for j in range(4)]
        else:
            s = [m[4 + j] - m[8 + j] - m[12 + j] for j in range(4)]
        for dx in range(2):
            y = s[0] + s[1] + s[2] if dx == 0 else s[1] - s[2] - s[3]
            target = y_rows[:, :, dx::2]
            target[...] = y.reshape(shape)[:, :target.shape[1], :target.shape[2]]
            del y
        del s


class _Plan:
    """How a Winograd convolution of this size runs in a mode (in turn or on the workers): its
    tiles, its blocks of tile rows, and whether the map is transformed whole."""

    def __init__(self, config: EngineConfig, n: int, hp: int, wp: int, c: int, filters: int,
                 parallel: bool) -> None:
        self.oh, self.ow = positions(hp, 3, 1), positions(wp, 3, 1)
        self.th, self.tw = -(-self.oh // 2), -(-self.ow // 2)
        row = self.tw * 16 * (c + filters) * 4            # transformed bytes per row of tiles
        budget = config.winograd_block_bytes if parallel else 4 * config.winograd_block_bytes
        self.blocks: list[Block] = split_blocks(n, self.th, row, budget, config.workers,
                                                parallel)
        self.whole = parallel and len(self.blocks) < 2 * config.workers
        self.most = largest_block(self.blocks) * self.tw       # tiles in the largest block
        self.concurrent = 1 if not parallel else min(config.workers, len(self.blocks))


def workspace_bytes(config: EngineConfig, n: int, hp: int, wp: int, c: int, filters: int
                    ) -> int:
    """Bytes :func:`winograd3x3` allocates besides its (already padded) input and its output,
    in the costlier of its two modes (in turn, on the workers): U and its temporaries, the extra
    padding of an odd size, and for each block running at once its V and M and the transforms'
    temporaries."""
    values = 0
    for parallel in (False, True) if config.workers > 1 else (False,):
        plan = _Plan(config, n, hp, wp, c, filters, parallel)
        v = 16 * c * filters + 9 * c * filters               # U, three 3-row temporaries of G g
        if (2 * plan.th + 2, 2 * plan.tw + 2) != (hp, wp):
            v += n * (2 * plan.th + 2) * (2 * plan.tw + 2) * c
        if plan.whole:
            tiles, streams = n * plan.th * plan.tw, 1
        else:
            tiles, streams = plan.most, plan.concurrent
        per_block = 16 * tiles * (c + filters)                          # V and M
        per_block += 4 * tiles * c                   # one row combination of the input band
        per_block += 6 * tiles * filters             # four sums of M, a partial sum, a result
        values = max(values, v + streams * per_block)
    return 4 * values


def winograd3x3(eng: Engine, xp: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                act: str | None, act_alpha: float = 0.01) -> np.ndarray:
    """A stride-1, undilated 3×3 convolution of the already padded ``xp`` (N×H×W×C) with the
    HWIO kernel ``w``; the output is (H − 2)×(W − 2). Large maps go in blocks of tile rows
    (each: input transform, 16 GEMMs, output transform, bias and activation, in cache) on the
    worker threads; small maps are transformed whole and the 16 GEMMs share the threads."""
    n, hp, wp, c = xp.shape
    filters = w.shape[3]
    plan = _Plan(eng.config, n, hp, wp, c, filters, eng.parallel)
    oh, ow, th, tw = plan.oh, plan.ow, plan.th, plan.tw
    if (2 * th + 2, 2 * tw + 2) != (hp, wp):       # odd output: one more zero row/column
        xp = pad_nhwc(eng, xp, 0, 2 * th + 2 - hp, 0, 2 * tw + 2 - wp)
    u = winograd_weights(eng, w)
    out = np.empty((n, oh, ow, filters), F32)

    def finish(dst: np.ndarray) -> None:
        if bias is not None:
            dst += bias
        activate(dst, act, True, act_alpha)

    if plan.whole:                                  # few tiles: whole map, GEMMs in parallel
        tiles = n * th * tw
        v = np.empty((16, tiles, c), F32)
        m = np.empty((16, tiles, filters), F32)
        _tiles_in(xp, th, tw, v)
        eng.each(lambda k: np.matmul(v[k], u[k], out=m[k]), range(16))
        _tiles_out(m, out, n, th, tw)
        finish(out)
        return out
    most = plan.most
    scratch = Scratch(16 * most * (c + filters))

    def block(span: Block) -> None:
        n0, n1, t0, t1 = span
        rows, nb = t1 - t0, n1 - n0
        tiles = nb * rows * tw
        with scratch.take() as buf:
            v = buf[:16 * tiles * c].reshape(16, tiles, c)
            m = buf[16 * most * c:16 * most * c + 16 * tiles * filters].reshape(
                16, tiles, filters)
            _tiles_in(xp[n0:n1, 2 * t0:2 * t1 + 2], rows, tw, v)
            for k in range(16):
                np.matmul(v[k], u[k], out=m[k])
            dst = out[n0:n1, 2 * t0:min(oh, 2 * t1)]
            _tiles_out(m, dst, nb, rows, tw)
        finish(dst)

    eng.each(block, plan.blocks)
    return out

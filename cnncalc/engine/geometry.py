"""Window geometry, resolved by the engine itself from a layer's parameters and the actual input:
the concrete padding (a second implementation of the rules in SPEC-FORMAT.md, independent of the
analysis), how many windows fit, and the strided view one kernel offset sees."""

from __future__ import annotations

import numpy as np

Pads = tuple[int, int, int, int]           # top, bottom, left, right
Pair = tuple[int, int]


def resolve_pads(kind: str, n: tuple[int, ...], kernel: Pair, stride: Pair, dilation: Pair,
                 padding: str | Pads) -> Pads:
    """Concrete (top, bottom, left, right) padding for an input of H×W ``n``.

    ``same`` (TensorFlow): output ceil(n/s), total max((ceil(n/s) − 1)·s + d·(f − 1) + 1 − n, 0),
    the odd pixel at the end; for a transposed convolution (Keras) total d·(f − 1) + 1 − s.
    ``full``: d·(f − 1) on each side. ``valid``: none. Numbers are used as given."""
    if not isinstance(padding, str):
        t, b, l, r = padding
        return t, b, l, r
    out: list[int] = []
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        if padding == "valid":
            total = 0
        elif padding == "full":
            out += [span - 1, span - 1]
            continue
        elif kind == "transposed":
            total = span - stride[axis]
        else:
            total = max((-(-n[axis] // stride[axis]) - 1) * stride[axis] + span - n[axis], 0)
        out += [total // 2, total - total // 2]
    return out[0], out[1], out[2], out[3]


def positions(size: int, span: int, stride: int) -> int:
    """How many windows of ``span`` fit in ``size`` at ``stride`` (counted, not by formula)."""
    return len(range(0, size - span + 1, stride))


def offset(xp: np.ndarray, i: int, j: int, out_h: int, out_w: int, sh: int, sw: int
           ) -> np.ndarray:
    """The strided slice of a padded map that kernel offset (i, j) sees for every output."""
    return xp[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]

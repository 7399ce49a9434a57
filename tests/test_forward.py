"""The NumPy forward pass (cnncalc.engine): every layer type against an independent reference.

References: PyTorch's functional ops when torch is importable (weights passed through the same
``--weights`` npz layout a user would write: HWIO kernels, dense ``(in, units)``), and plain
Python loops over every output pixel on tiny inputs (always run, so the engine is checked even
without torch). Then the whole zoo runs and verifies at a reduced input, and the engine's
bookkeeping (freeing activations, in-place safety, weights, memory estimate) is checked.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from conftest import DictWeights

import cnncalc
from cnncalc import engine
from cnncalc.engine import threads, winograd
from cnncalc.errors import CnnCalcError
from cnncalc.layers import REGISTRY
from cnncalc.spec import zoo_names

RTOL, ATOL = 2e-4, 2e-5


def analyse(layers: str, shape: str, blocks: str = "") -> cnncalc.Analysis:
    text = f"input: {shape}\n{blocks}layers:\n" + "\n".join(
        "  " + line for line in layers.strip().splitlines())
    return cnncalc.analyse(cnncalc.loads(text, "<test>"))


def random_params(a: cnncalc.Analysis, seed: int = 1) -> dict[str, np.ndarray]:
    """One array per parameter, named as in a --weights file, with varied values (batchnorm
    statistics are not the trivial 0/1, so the test can fail)."""
    rng = np.random.default_rng(seed)
    out = {}
    for rec in a.layers:
        for spec in engine.param_specs(rec):
            if spec.key == "var":
                arr = rng.uniform(0.5, 2.0, spec.shape)
            else:
                arr = rng.normal(0, 1 / math.sqrt(spec.fan_in), spec.shape)
            out[f"{rec.path}.{spec.key}"] = arr.astype(np.float32)
    return out


def run_npz(a, x, params, tmp_path) -> np.ndarray:
    path = tmp_path / "w.npz"
    np.savez(path, **params)
    res = engine.run(a, x, engine.NpzWeights(str(path)))
    assert res.failure is None, res.failure
    assert res.verified, [(lr.path, lr.shape) for lr in res.mismatches()]
    return res.output


def inputs(shape, batch=2, seed=0, scale=1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((batch,) + shape) * scale).astype(
        np.float32)


# --- coverage ------------------------------------------------------------------------------------

def test_every_registered_layer_type_has_a_forward():
    """Each layer class names an engine op (its ``op``) or carries its own ``forward``."""
    missing = sorted({cls.type for cls in REGISTRY.values()
                      if cls.op not in engine.OPS and not hasattr(cls, "forward")})
    assert not missing, f"no NumPy forward for {missing}"


@pytest.mark.parametrize("name", zoo_names())
def test_param_specs_add_up_to_the_analysis_counts(name):
    a = cnncalc.analyse(cnncalc.load(name))
    for rec in a.layers:
        total = sum(math.prod(s.shape) for s in engine.param_specs(rec))
        assert total == rec.params, (rec.path, total, rec.params)


# --- naive loop references (always run) ----------------------------------------------------------

def naive_conv(x, w, b, stride, dilation, pads, groups):
    """Direct definition: out[n, i, j, f] = Σ x_pad[n, i·s + a·d, j·s + c·d, g·cg + k] · w[a, c,
    k, f] over the kernel and the group's input channels."""
    n, h, wd, c = x.shape
    kh, kw, cg, filters = w.shape
    t, bt, l, r = pads
    xp = np.zeros((n, h + t + bt, wd + l + r, c))
    xp[:, t:t + h, l:l + wd] = x
    oh = (h + t + bt - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + l + r - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    fg = filters // groups
    out = np.zeros((n, oh, ow, filters))
    for bi, i, j, f in itertools.product(range(n), range(oh), range(ow), range(filters)):
        g = f // fg
        acc = 0.0 if b is None else float(b[f])
        for a_, c_, k in itertools.product(range(kh), range(kw), range(cg)):
            acc += xp[bi, i * stride[0] + a_ * dilation[0], j * stride[1] + c_ * dilation[1],
                      g * cg + k] * w[a_, c_, k, f]
        out[bi, i, j, f] = acc
    return out


@pytest.mark.parametrize("kernel, stride, dilation, pads, groups, cin, filters", [
    ((3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, 3, 4),
    ((3, 2), (2, 1), (1, 1), (0, 1, 2, 0), 1, 2, 3),
    ((3, 3), (1, 2), (2, 1), (2, 2, 1, 1), 2, 4, 6),
    ((2, 2), (2, 2), (1, 1), (0, 0, 0, 0), 3, 3, 6),     # depthwise, multiplier 2
    ((3, 3), (2, 1), (2, 1), (1, 2, 2, 1), 4, 4, 4),     # depthwise, strided and dilated
    ((1, 1), (2, 2), (1, 1), (1, 0, 0, 1), 1, 3, 2),     # 1x1 strided with padding
])
def test_conv_against_loops(kernel, stride, dilation, pads, groups, cin, filters, eng):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 7, cin)).astype(np.float32)
    w = rng.standard_normal(kernel + (cin // groups, filters)).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    want = naive_conv(x, w, b, stride, dilation, pads, groups)
    got = engine.conv2d(eng, x, w, b, stride, dilation, pads, groups)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("parallel", [False, True])
def test_conv_in_row_blocks_matches_whole_image(parallel):
    """A map too large for one im2col block is done in row blocks (and several images per
    block when they are small), in turn or on the worker threads: same result, also for a
    grouped convolution (batched GEMM)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 9, 8, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    wg = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    want = naive_conv(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1), 1)
    want_g = naive_conv(x, wg, None, (1, 1), (1, 1), (1, 1, 1, 1), 2)
    for budget in (1, 8 * 36 * 4 * 2, 10 ** 9):
        config = engine.EngineConfig(workers=2, chunk_bytes=budget, par_chunk_bytes=budget)
        with engine.Engine(config, parallel) as eng:
            got = engine.conv2d(eng, x, w, None, (1, 1), (1, 1), (1, 1, 1, 1))
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
            got = engine.conv2d(eng, x, wg, None, (1, 1), (1, 1), (1, 1, 1, 1), 2)
            np.testing.assert_allclose(got, want_g, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("m, k, n", [(1, 3000, 700), (200, 300, 100), (3, 5, 7)])
def test_threaded_matmul(m, k, n):
    """Large products are split by rows (or by columns for a single row) over the threads."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    with engine.Engine(engine.EngineConfig(workers=3), parallel=True) as eng:
        got = eng.matmul(a, b)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("tiles", [2, 4], ids=["F(2x2,3x3)", "F(4x4,3x3)"])
@pytest.mark.parametrize("n, h, w, c, f, pads, block_bytes", [
    (2, 9, 8, 3, 4, (1, 1, 1, 1), 1 << 20),       # odd output width: a cut column of tiles
    (1, 7, 10, 5, 2, (0, 0, 0, 0), 1 << 20),      # odd output height
    (3, 6, 6, 4, 7, (2, 0, 1, 0), 1 << 20),       # asymmetric padding, batch
    (1, 12, 11, 6, 3, (1, 1, 1, 1), 1),           # one row of tiles per block
    (2, 21, 18, 5, 6, (1, 1, 1, 1), 1 << 12),     # several images, many blocks
])
def test_winograd_against_loops(n, h, w, c, f, pads, block_bytes, tiles, eng, monkeypatch):
    """3×3 stride-1 convolutions go through Winograd F(4×4, 3×3) or F(2×2, 3×3) above a size;
    forced here on tiny inputs (blocked and whole-map modes, in turn and on threads)."""
    config = dataclasses.replace(eng.config, winograd_min_channels=1, winograd_min_filters=1,
                                 winograd_min_tiles=1, winograd_f4_min_tiles=1,
                                 winograd_tiles=(tiles,), winograd_block_bytes=block_bytes)
    called = []
    real = winograd.winograd3x3
    monkeypatch.setattr(winograd, "winograd3x3",
                        lambda *a, **k: called.append(a[6] if len(a) > 6 else None)
                        or real(*a, **k))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    k = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    want = np.maximum(naive_conv(x, k, b, (1, 1), (1, 1), pads, 1), 0)
    with engine.Engine(config, eng.parallel) as wino:
        got = engine.conv2d(wino, x, k, b, (1, 1), (1, 1), pads, 1, "relu")
        # the same with the kernel transformed beforehand, as a run prepares it
        t = winograd.choose(config, (3, 3), (1, 1), (1, 1), 1, c, f, n, *got.shape[1:3])
        assert t is not None and t.m == tiles
        u = engine.winograd_weights(wino, k, t)
        again = engine.conv2d(wino, x, k, b, (1, 1), (1, 1), pads, 1, "relu", winograd_u=u)
    assert len(called) == 2 and called[1] is u
    # Winograd's float32 error grows with the transforms' coefficients (Barabasz et al., "Error
    # analysis and improving the accuracy of Winograd convolution", 2020): measured here at
    # most 2 ulp of Σ|x·w| for F(2×2) and 27 ulp for F(4×4), over 30 random cases
    scale = naive_conv(np.abs(x), np.abs(k), np.abs(b), (1, 1), (1, 1), pads, 1)
    ulps = {2: 8, 4: 64}[tiles] * np.finfo(np.float32).eps
    assert np.all(np.abs(got - want) <= ulps * scale + 1e-30)
    if tiles == 2:
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(again, got)


@pytest.mark.parametrize("m, G", [
    (2, [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
    (4, [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
])
def test_winograd_weights_are_g_g_gt(m, G):
    """U = G g Gᵀ (Lavin & Gray 2016, F(2×2, 3×3) and F(4×4, 3×3)), computed by the engine."""
    g = np.random.default_rng(8).standard_normal((3, 3, 2, 3)).astype(np.float32)
    G = np.array(G)
    want = np.einsum("ik,klcf,jl->ijcf", G, g, G).reshape((m + 2) ** 2, 2, 3)
    got = engine.winograd_weights(engine.Engine(), g, winograd.transform(m))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_transforms_reproduce_a_tile(m):
    """Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 3×3 correlation of one (m+2)×(m+2) tile, with the
    engine's Kronecker-product matrices."""
    t = winograd.transform(m)
    rng = np.random.default_rng(m)
    d = rng.standard_normal((m + 2, m + 2))
    g = rng.standard_normal((3, 3))
    want = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)])
    got = t.at.astype(np.float64) @ ((t.g.astype(np.float64) @ g.ravel())
                                     * (t.bt.astype(np.float64) @ d.ravel()))
    np.testing.assert_allclose(got.reshape(m, m), want, rtol=1e-5, atol=1e-5)


def naive_conv_transpose(x, w, b, stride, dilation, pads, output_padding, groups):
    """Scatter definition: input pixel (i, j) adds x·w[a, c] to full-output pixel
    (i·s + a·d, j·s + c·d); the result is cropped by the padding."""
    n, h, wd, c = x.shape
    kh, kw, cg, filters = w.shape
    fg = filters // groups
    fh = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0]
    fwid = (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1]
    full = np.zeros((n, fh, fwid, filters))
    for bi, i, j, ch, a_, c_ in itertools.product(range(n), range(h), range(wd), range(c),
                                                  range(kh), range(kw)):
        g, k = divmod(ch, cg)
        for f in range(g * fg, (g + 1) * fg):
            full[bi, i * stride[0] + a_ * dilation[0], j * stride[1] + c_ * dilation[1], f] += \
                x[bi, i, j, ch] * w[a_, c_, k, f]
    t, bt, l, r = pads
    out = full[:, t:fh - bt, l:fwid - r]
    return out + (0 if b is None else b)


@pytest.mark.parametrize("kernel, stride, dilation, pads, output_padding, groups", [
    ((2, 2), (2, 2), (1, 1), (0, 0, 0, 0), (0, 0), 1),
    ((3, 3), (2, 2), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((3, 2), (1, 2), (2, 1), (0, 1, 1, 0), (1, 0), 2),
])
def test_conv_transpose_against_loops(kernel, stride, dilation, pads, output_padding, groups):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3, 4)).astype(np.float32)
    w = rng.standard_normal(kernel + (4 // groups, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    want = naive_conv_transpose(x, w, b, stride, dilation, pads, output_padding, groups)
    got = engine.conv_transpose2d(engine.Engine(), x, w, b, stride, dilation, pads,
                                  output_padding, groups)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def naive_pool(x, kind, size, stride, pads, out_hw, count_include_pad):
    """Every window explicitly: max over its input pixels; average over its input pixels
    divided by the window clipped to the padded input (or by the input pixels only)."""
    n, h, w, c = x.shape
    t, b, l, r = pads
    out = np.zeros((n,) + out_hw + (c,))
    for i, j in itertools.product(range(out_hw[0]), range(out_hw[1])):
        h0, w0 = i * stride[0] - t, j * stride[1] - l
        h1, w1 = min(h0 + size[0], h + b), min(w0 + size[1], w + r)
        hs, ws, he, we = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        win = x[:, hs:he, ws:we, :]
        if kind == "max":
            out[:, i, j] = win.max(axis=(1, 2))
        else:
            div = (h1 - h0) * (w1 - w0) if count_include_pad else (he - hs) * (we - ws)
            out[:, i, j] = win.sum(axis=(1, 2)) / div
    return out


@pytest.fixture(params=[False, True, "blas"], ids=["serial", "threads", "blas"])
def eng(request):
    """An engine that runs a test in turn, split over (three) worker threads, and as a "blas"
    run (blocks in turn, bands on the workers), even for tiny arrays."""
    config = engine.EngineConfig(workers=3, band_min_bytes=0,
                                 blas_band_min_bytes=0 if request.param == "blas" else 1 << 62)
    with engine.Engine(config, parallel=request.param is True) as e:
        yield e


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("size, stride, pads, ceil, include", [
    ((2, 2), (2, 2), (0, 0, 0, 0), False, True),
    ((3, 3), (2, 2), (1, 1, 1, 1), True, True),
    ((3, 3), (2, 2), (1, 1, 1, 1), True, False),
    ((3, 2), (2, 3), (0, 1, 1, 0), False, False),
    ((3, 3), (3, 3), (0, 0, 0, 0), True, True),
])
def test_pools_against_loops(kind, size, stride, pads, ceil, include, eng):
    from cnncalc.shapes import window_output
    x = inputs((7, 8, 3))
    oh = window_output(7, size[0], stride[0], pads[0], pads[1], 1, ceil)
    ow = window_output(8, size[1], stride[1], pads[2], pads[3], 1, ceil)
    want = naive_pool(x, kind, size, stride, pads, (oh, ow), include)
    got = engine.pool2d(eng, x, kind, size, stride, pads, ceil, include)
    assert got.shape[1:3] == (oh, ow)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_adaptive_pool_against_loops():
    from cnncalc.shapes import adaptive_windows
    x = inputs((7, 10, 3))
    for kind, red in (("avg", np.mean), ("max", np.max)):
        got = engine.adaptive_pool2d(x, kind, (3, 4))
        for i, (hs, he) in enumerate(adaptive_windows(7, 3)):
            for j, (ws, we) in enumerate(adaptive_windows(10, 4)):
                np.testing.assert_allclose(got[:, i, j], red(x[:, hs:he, ws:we], axis=(1, 2)),
                                           rtol=RTOL, atol=ATOL)


def test_lrn_against_the_paper_formula():
    """Krizhevsky et al. 2012, §3.3: b = a / (k + α Σ_{j = i−n/2}^{i+n/2} a_j²)^β."""
    x = inputs((3, 3, 7))
    got = engine.lrn(x, 5, 1e-2, 0.75, 2.0)
    want = np.empty_like(x)
    for i in range(7):
        lo, hi = max(0, i - 2), min(6, i + 2)
        s = (x[..., lo:hi + 1] ** 2).sum(axis=-1)
        want[..., i] = x[..., i] / (2.0 + 1e-2 * s) ** 0.75
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_flatten_is_hwc_order_and_dense_uses_in_units():
    a = analyse("- flatten\n- dense: {units: 3, name: fc}", "2x3x4")
    x = inputs((2, 3, 4))
    p = random_params(a)
    got = engine.run(a, x, _Fixed(p)).output
    want = x.reshape(2, 24) @ p["fc.weight"] + p["fc.bias"]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # channel fastest: element (h, w, c) is at h·W·C + w·C + c
    assert x.reshape(2, -1)[0, 1 * 12 + 2 * 4 + 3] == x[0, 1, 2, 3]


_Fixed = DictWeights         # weights from a dict (like NpzWeights, without a file)


# --- PyTorch as the oracle -----------------------------------------------------------------------

def tf_same(n, f, s, d=1):
    """TensorFlow's 'same' padding, written out independently of cnncalc.shapes."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (f - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def nchw(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def oihw(w):
    import torch
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))


def t_(a):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


CONV_CASES = [
    # (yaml params, input shape, torch padding (l, r, t, b))
    ("{filters: 5, kernel: 3, padding: 1}", (9, 8, 3), (1, 1, 1, 1)),
    ("{filters: 4, kernel: 3, stride: 2, padding: same}", (9, 8, 3), "same"),
    ("{filters: 4, kernel: 4, stride: 3, padding: same, dilation: 2}", (11, 13, 2), "same"),
    ("{filters: 6, kernel: [3, 5], stride: [2, 1], padding: [1, 0, 2, 1], bias: false}",
     (9, 8, 4), (2, 1, 1, 0)),
    ("{filters: 6, kernel: 3, groups: 2, dilation: [1, 2], padding: full}", (7, 9, 4),
     (4, 4, 2, 2)),
    ("{filters: 8, kernel: 3, groups: 4, stride: 2, padding: valid}", (9, 9, 4), (0, 0, 0, 0)),
    ("{filters: 2, kernel: 1, stride: 2, activation: relu6}", (7, 6, 5), (0, 0, 0, 0)),
    ("{filters: 3, kernel: 2, activation: leaky_relu}", (5, 5, 2), (0, 0, 0, 0)),
    # 3x3 stride 1 with enough channels and tiles: the Winograd path
    ("{filters: 20, kernel: 3, padding: 1, activation: relu}", (23, 21, 16), (1, 1, 1, 1)),
    ("{filters: 24, kernel: 3}", (24, 25, 17), (0, 0, 0, 0)),
]


@pytest.mark.parametrize("params, shape, tpad", CONV_CASES)
def test_conv_vs_torch(params, shape, tpad, tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse(f"- conv: {params}", "x".join(map(str, shape)))
    lay = a.layers[0].layer
    x = inputs(shape)
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    if tpad == "same":
        t, b = tf_same(shape[0], lay.kernel[0], lay.stride[0], lay.dilation[0])
        l, r = tf_same(shape[1], lay.kernel[1], lay.stride[1], lay.dilation[1])
        tpad = (l, r, t, b)
    xt = F.pad(nchw(x), tpad)
    y = F.conv2d(xt, oihw(p["conv_1.weight"]), t_(p["conv_1.bias"]) if lay.bias else None,
                 stride=lay.stride, dilation=lay.dilation, groups=lay.groups)
    y = {"relu6": F.relu6, "leaky_relu": F.leaky_relu, "relu": F.relu,
         None: lambda v: v}[lay.activation](y)
    np.testing.assert_allclose(got, nhwc(y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("params, shape", [
    ("{kernel: 3, padding: same}", (8, 7, 3)),
    ("{kernel: 3, stride: 2, padding: 1, depth_multiplier: 2, activation: relu}", (9, 8, 3)),
    ("{kernel: [5, 3], dilation: 2, bias: false}", (11, 9, 2)),
])
def test_depthwise_vs_torch(params, shape, tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse(f"- depthwise_conv: {params}", "x".join(map(str, shape)))
    rec = a.layers[0]
    lay = rec.layer
    x = inputs(shape)
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    t, b, l, r = rec.geometry.pads
    y = F.conv2d(F.pad(nchw(x), (l, r, t, b)), oihw(p["depthwise_conv_1.weight"]),
                 t_(p["depthwise_conv_1.bias"]) if lay.bias else None, stride=lay.stride,
                 dilation=lay.dilation, groups=shape[-1])
    if lay.activation:
        y = F.relu(y)
    np.testing.assert_allclose(got, nhwc(y), rtol=RTOL, atol=ATOL)


def test_depthwise_accepts_keras_layout(tmp_path):
    """Keras stores depthwise kernels as (f_h, f_w, C, multiplier): same memory order."""
    a = analyse("- depthwise_conv: {kernel: 3, depth_multiplier: 2, name: dw}", "6x6x3")
    p = random_params(a)
    x = inputs((6, 6, 3))
    want = run_npz(a, x, p, tmp_path)
    p["dw.weight"] = p["dw.weight"].reshape(3, 3, 3, 2)
    np.testing.assert_allclose(run_npz(a, x, p, tmp_path), want)


def test_separable_vs_torch(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse("- separable_conv: {filters: 5, kernel: 3, stride: 2, padding: same, "
                "depth_multiplier: 2, activation: relu, name: sep}", "9x10x3")
    rec = a.layers[0]
    x = inputs((9, 10, 3))
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    t, b, l, r = rec.geometry.pads
    mid = F.conv2d(F.pad(nchw(x), (l, r, t, b)), oihw(p["sep.depthwise"]), stride=2, groups=3)
    y = F.relu(F.conv2d(mid, oihw(p["sep.pointwise"]), t_(p["sep.bias"])))
    np.testing.assert_allclose(got, nhwc(y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("params, shape, torch_padding", [
    ("{filters: 4, kernel: 2, stride: 2}", (4, 5, 3), 0),
    ("{filters: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1}", (4, 5, 3), 1),
    ("{filters: 6, kernel: 3, stride: 3, dilation: 2, padding: 2, output_padding: 1, "
     "groups: 2, bias: false}", (3, 4, 4), 2),
    ("{filters: 3, kernel: 4, stride: 2, padding: same, activation: sigmoid}", (4, 3, 2),
     "same"),
])
def test_conv_transpose_vs_torch(params, shape, torch_padding, tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse(f"- conv_transpose: {{name: up, {params[1:]}", "x".join(map(str, shape)))
    rec = a.layers[0]
    lay = rec.layer
    x = inputs(shape)
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    # HWIO (f_h, f_w, C_in/g, F) → PyTorch's (C_in, F/g, f_h, f_w)
    g, cg, fg = lay.groups, shape[-1] // lay.groups, lay.filters // lay.groups
    w = p["up.weight"].reshape(lay.kernel + (cg, g, fg)).transpose(3, 2, 4, 0, 1)
    w = t_(w.reshape(g * cg, fg, *lay.kernel))
    bias = t_(p["up.bias"]) if lay.bias else None
    if torch_padding == "same":   # Keras: total d(f−1)+1−s, odd pixel at the end; crop it
        y = F.conv_transpose2d(nchw(x), w, bias, stride=lay.stride, dilation=lay.dilation,
                               groups=g)
        total = lay.dilation[0] * (lay.kernel[0] - 1) + 1 - lay.stride[0]
        lo = total // 2
        y = y[:, :, lo:lo + shape[0] * 2, lo:lo + shape[1] * 2]
        y = torch.sigmoid(y)
    else:
        y = F.conv_transpose2d(nchw(x), w, bias, stride=lay.stride, padding=torch_padding,
                               output_padding=lay.output_padding, dilation=lay.dilation,
                               groups=g)
    np.testing.assert_allclose(got, nhwc(y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("layer, torch_fn", [
    ("maxpool: 2", lambda F, x: F.max_pool2d(x, 2)),
    ("maxpool: {size: 3, stride: 2, padding: 1, ceil_mode: true}",
     lambda F, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("maxpool: {size: 3, stride: 2}", lambda F, x: F.max_pool2d(x, 3, 2)),
    ("avgpool: {size: 3, stride: 2, padding: 1}", lambda F, x: F.avg_pool2d(x, 3, 2, 1)),
    ("avgpool: {size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}",
     lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ("avgpool: {size: 2, stride: 2, ceil_mode: true}",
     lambda F, x: F.avg_pool2d(x, 2, 2, ceil_mode=True)),
    ("adaptive_avgpool: [3, 4]", lambda F, x: F.adaptive_avg_pool2d(x, (3, 4))),
    ("adaptive_maxpool: 2", lambda F, x: F.adaptive_max_pool2d(x, 2)),
    ("adaptive_avgpool: 9", lambda F, x: F.adaptive_avg_pool2d(x, 9)),
    ("global_avgpool", lambda F, x: x.mean(dim=(2, 3), keepdim=True)),
    ("global_maxpool", lambda F, x: x.amax(dim=(2, 3), keepdim=True)),
    ("lrn: {size: 5, alpha: 0.01, beta: 0.75, k: 2}",   # PyTorch divides α by size
     lambda F, x: F.local_response_norm(x, 5, alpha=0.05, beta=0.75, k=2.0)),
    ("lrn: {size: 4}", lambda F, x: F.local_response_norm(x, 4, alpha=4e-4, beta=0.75, k=2.0)),
    ("pad: [1, 2, 0, 3]", lambda F, x: F.pad(x, (0, 3, 1, 2))),
    ("upsample: [2, 3]", lambda F, x: F.interpolate(x, scale_factor=(2, 3), mode="nearest")),
    ("crop: [1, 2, 3, 0]", lambda F, x: x[:, :, 1:-2, 3:]),
    ("dropout: 0.5", lambda F, x: x),
    ("identity", lambda F, x: x),
])
def test_shape_layers_vs_torch(layer, torch_fn, tmp_path):
    torch = pytest.importorskip("torch")
    a = analyse(f"- {layer}", "7x9x6")
    x = inputs((7, 9, 6))
    got = run_npz(a, x, {}, tmp_path)
    np.testing.assert_allclose(got, nhwc(torch_fn(torch.nn.functional, nchw(x))), rtol=RTOL,
                               atol=ATOL)


def test_global_pool_without_keepdims(tmp_path):
    a = analyse("- global_avgpool: {keepdims: false}", "3x4x5")
    x = inputs((3, 4, 5))
    np.testing.assert_allclose(run_npz(a, x, {}, tmp_path), x.mean(axis=(1, 2)), rtol=RTOL)


ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "swish", "hardswish",
               "relu6", "hardsigmoid", "elu", "selu", "softplus", "leaky_relu", "mish"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_vs_torch(name, tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse(f"- {name}", "4x5x6")
    x = inputs((4, 5, 6), scale=6.0)
    x[0, 0, 0, :] = [-90, -25, -3, 3, 25, 90]     # saturation, PyTorch's softplus threshold
    got = run_npz(a, x, {}, tmp_path)
    fn = {"softmax": lambda v: F.softmax(v, dim=1), "swish": F.silu,
          "leaky_relu": lambda v: F.leaky_relu(v, 0.01)}.get(name) or getattr(F, name)
    np.testing.assert_allclose(got, nhwc(fn(nchw(x))), rtol=RTOL, atol=1e-5)


def test_leaky_relu_alpha_and_vector_softmax(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse("- leaky_relu: 0.2", "3x3x2")
    x = inputs((3, 3, 2))
    np.testing.assert_allclose(run_npz(a, x, {}, tmp_path), nhwc(F.leaky_relu(nchw(x), 0.2)),
                               rtol=RTOL)
    a = analyse("- dense: {units: 7, activation: softmax, name: fc}", "[5]")
    x = inputs((5,))
    p = random_params(a)
    want = F.softmax(F.linear(t_(x), t_(p["fc.weight"].T), t_(p["fc.bias"])), dim=-1)
    np.testing.assert_allclose(run_npz(a, x, p, tmp_path), want.numpy(), rtol=RTOL, atol=ATOL)


def test_flatten_dense_vs_torch(tmp_path):
    """Keras order: flatten is H×W×C; a PyTorch model (flattening C×H×W) gets the same result
    once its Linear weight's columns are permuted, which is what a user converting weights
    must do."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse("- flatten\n- dense: {units: 4, name: fc, activation: tanh}", "3x2x5")
    x = inputs((3, 2, 5))
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    w_torch = p["fc.weight"].T.reshape(4, 3, 2, 5).transpose(0, 3, 1, 2).reshape(4, 30)
    y = torch.tanh(F.linear(nchw(x).flatten(1), t_(w_torch), t_(p["fc.bias"])))
    np.testing.assert_allclose(got, y.numpy(), rtol=RTOL, atol=ATOL)


def test_dense_on_the_last_axis_vs_torch(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse("- dense: {units: 3, name: fc}", "4x5x6")
    x = inputs((4, 5, 6))
    p = random_params(a)
    y = F.linear(t_(x), t_(p["fc.weight"].T), t_(p["fc.bias"]))
    np.testing.assert_allclose(run_npz(a, x, p, tmp_path), y.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(5, 6, 4), (4,)])
def test_batchnorm_vs_torch(shape, tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse("- batchnorm: {epsilon: 0.001, name: bn}", "x".join(map(str, shape)))
    x = inputs(shape)
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    xt = nchw(x) if len(shape) == 3 else t_(x)
    y = F.batch_norm(xt, t_(p["bn.mean"]), t_(p["bn.var"]), t_(p["bn.gamma"]), t_(p["bn.beta"]),
                     training=False, eps=0.001)
    np.testing.assert_allclose(got, nhwc(y) if len(shape) == 3 else y.numpy(), rtol=RTOL,
                               atol=ATOL)


GRAPH = """\
- conv: {filters: 4, kernel: 3, padding: 1, name: a}
- conv: {filters: 4, kernel: 1, name: b, from: a}
- relu: {name: r, from: a}
- add: {from: [a, b, r], name: s}
- global_avgpool: {name: gate_pool, from: s}
- dense: {units: 4, activation: sigmoid, name: gate, from: gate_pool}
- multiply: {from: [s, gate], name: m}
- concat: {from: [m, a], name: cat}
- conv: {filters: 3, kernel: 2, stride: 2, name: down, from: cat}
- crop: {to: down, from: a, name: crop}
- concat: {from: [down, crop], name: out}
"""


def test_graph_merges_vs_torch(tmp_path):
    """add of three inputs, a squeeze-excitation multiply (1x1xC gate), concat, a crop to
    another layer's size; the relu that reads 'a' must not modify 'a' in place (the add and
    the concat read it later)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = analyse(GRAPH, "6x7x3")
    x = inputs((6, 7, 3))
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)
    xa = F.conv2d(nchw(x), oihw(p["a.weight"]), t_(p["a.bias"]), padding=1)
    xb = F.conv2d(xa, oihw(p["b.weight"]), t_(p["b.bias"]))
    s = xa + xb + F.relu(xa)
    gate = torch.sigmoid(F.linear(s.mean(dim=(2, 3), keepdim=True).permute(0, 2, 3, 1),
                                  t_(p["gate.weight"].T), t_(p["gate.bias"])))
    m = s * gate.permute(0, 3, 1, 2)
    cat = torch.cat([m, xa], dim=1)
    down = F.conv2d(cat, oihw(p["down.weight"]), t_(p["down.bias"]), stride=2)
    th, tw = down.shape[2:]
    t0, l0 = (6 - th) // 2, (7 - tw) // 2
    want = torch.cat([down, xa[:, :, t0:t0 + th, l0:l0 + tw]], dim=1)
    np.testing.assert_allclose(got, nhwc(want), rtol=RTOL, atol=ATOL)


def test_residual_block_vs_torch(tmp_path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    blocks = """blocks:
  basic:
    params: {filters: 8, stride: 1}
    layers:
      - residual:
          body:
            - conv: {filters: $filters, kernel: 3, stride: $stride, padding: 1, bias: false}
            - batchnorm
            - relu
            - conv: {filters: $filters, kernel: 3, padding: 1, bias: false}
            - batchnorm
          shortcut: auto
          activation: relu
"""
    a = analyse("- block: {use: basic, filters: 6, stride: 2}", "7x8x4", blocks)
    x = inputs((7, 8, 4))
    p = random_params(a)
    got = run_npz(a, x, p, tmp_path)

    def bn(v, prefix):
        return F.batch_norm(v, t_(p[prefix + ".mean"]), t_(p[prefix + ".var"]),
                            t_(p[prefix + ".gamma"]), t_(p[prefix + ".beta"]), training=False)

    convs = [r.path for r in a.layers if r.type == "conv"]
    bns = [r.path for r in a.layers if r.type == "batchnorm"]
    xt = nchw(x)
    body = F.relu(bn(F.conv2d(xt, oihw(p[convs[0] + ".weight"]), stride=2, padding=1), bns[0]))
    body = bn(F.conv2d(body, oihw(p[convs[1] + ".weight"]), padding=1), bns[1])
    short = bn(F.conv2d(xt, oihw(p[convs[2] + ".weight"]), stride=2), bns[2])
    np.testing.assert_allclose(got, nhwc(F.relu(body + short)), rtol=RTOL, atol=ATOL)


# --- fixed kernels in the spec (the edges example) -----------------------------------------------

def test_edges_example_computes_sobel_on_the_photo():
    """The built-in 'edges' spec carries its kernels: grey = luma, then Sobel x etc."""
    from cnncalc.images import load_input
    a = cnncalc.analyse(cnncalc.load("edges"))
    x = load_input("chelsea", a.input, False)
    seen = {}
    res = engine.run(a, x[None], engine.RandomWeights(123),
                 lambda rec, y, lr: seen.__setitem__(rec.name, y[0].copy()))
    assert res.verified
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(seen["grey"][:, :, 0], grey, rtol=1e-5, atol=1e-6)
    g = np.pad(grey, 1)
    sobel_x = (g[:-2, 2:] + 2 * g[1:-1, 2:] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[1:-1, :-2]
                                                            + g[2:, :-2])
    np.testing.assert_allclose(seen["edges"][:, :, 0], sobel_x, rtol=1e-4, atol=1e-5)
    assert res.output.shape == (1, 150, 226, 6)
    assert (res.output >= 0).all()        # after the relu


def test_inline_kernels_per_input_channel_and_zero_bias():
    a = analyse("- conv: {filters: 2, kernel: 1, weights: [[[[1]], [[2]]], [[3]]]}", "2x2x2")
    x = inputs((2, 2, 2), batch=1)
    y = engine.run(a, x).output
    np.testing.assert_allclose(y[..., 0], x[..., 0] + 2 * x[..., 1], rtol=1e-6)
    np.testing.assert_allclose(y[..., 1], 3 * (x[..., 0] + x[..., 1]), rtol=1e-6)


def test_inline_kernels_must_match_the_input_channels():
    with pytest.raises(CnnCalcError, match="kernel 1 has 2 input-channel matrices, but each "
                                           "filter sees 3"):
        analyse("- conv: {filters: 1, kernel: 1, weights: [[[[1]], [[2]]]]}", "2x2x3")


# --- the whole zoo -------------------------------------------------------------------------------

def small_input(name: str) -> tuple[int, int, int]:
    """The smallest square input (from 8 px, step 4) the model accepts: unet needs a size its
    valid convolutions, pools and crops agree on (188 is the smallest)."""
    model = cnncalc.load(name)
    c = model.input[-1]
    for s in range(8, 600, 4):
        try:
            cnncalc.analyse(model, (s, s, c))
            return (s, s, c)
        except CnnCalcError:
            continue
    raise AssertionError(f"no valid input found for {name}")


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_runs_and_verifies(name):
    shape = small_input(name)
    a = cnncalc.analyse(cnncalc.load(name), shape)
    res = engine.run(a, engine.random_input(shape, 1, 0), engine.RandomWeights(0))
    assert res.failure is None, res.failure
    assert len(res.layers) == len(a.layers)
    assert res.verified, [(lr.path, lr.shape) for lr in res.mismatches()]
    assert np.isfinite(res.output).all()
    assert res.output.shape == (1,) + a.output


INDEPENDENT = """\
- conv: {filters: 4, kernel: 3, stride: 2, padding: same, name: a}
- maxpool: {size: 3, stride: 2, padding: 1, ceil_mode: true}
- conv_transpose: {filters: 3, kernel: 3, stride: 2, padding: 1, output_padding: 1}
- depthwise_conv: {kernel: 3, padding: full, dilation: 2}
- crop: {to: a}
- avgpool: {size: 2, ceil_mode: true}
- separable_conv: {filters: 2, kernel: 2, padding: same, stride: 3}
"""


def test_the_engine_never_takes_sizes_from_the_analysis():
    """With every record's resolved geometry removed, the run still verifies: padding and
    output sizes come from the layer parameters and the arrays themselves."""
    import dataclasses
    a = analyse(INDEPENDENT, "13x11x3")
    stripped = dataclasses.replace(a, layers=[dataclasses.replace(r, geometry=None)
                                              for r in a.layers])
    res = engine.run(stripped, inputs((13, 11, 3), batch=1))
    assert res.verified, res.failure or res.mismatches()


@pytest.mark.parametrize("target, wrong", [
    ("same_padding", lambda n, f, s=1, d=1: (0, 0)),
    ("window_output", lambda n, f, s=1, before=0, after=0, d=1, ceil_mode=False:
     (n + before + after - d * (f - 1) - 1) // s + 1 + (1 if ceil_mode else 0)),
    ("transposed_output", lambda n, f, s=1, before=0, after=0, output_padding=0, d=1:
     (n - 1) * s - before - after + d * (f - 1) + 1),
])
def test_a_wrong_formula_in_the_analysis_is_caught(monkeypatch, target, wrong):
    """Break one of the analysis's shape formulas: the run must notice."""
    from cnncalc import shapes
    monkeypatch.setattr(shapes, target, wrong)
    a = analyse(INDEPENDENT, "13x11x3")
    res = engine.run(a, inputs((13, 11, 3), batch=1))
    assert not res.verified


def test_mismatch_is_reported(monkeypatch):
    """A layer whose real output differs from the analysis makes the run unverified."""
    a = analyse("- conv: {filters: 2, kernel: 3}\n- relu", "5x5x1")
    monkeypatch.setitem(engine.OPS, "relu", engine.Op(lambda ctx, xs: xs[0][:, 1:]))
    res = engine.run(a, inputs((5, 5, 1), batch=1))
    assert not res.verified
    assert [(lr.index, lr.shape, lr.ok) for lr in res.layers] == [(1, (3, 3, 2), True),
                                                                   (2, (2, 3, 2), False)]


def test_an_engine_failure_stops_the_run_and_names_the_layer(monkeypatch):
    a = analyse("- conv: {filters: 2, kernel: 3, name: c}\n- relu\n- flatten", "5x5x1")

    def boom(ctx, xs):
        raise ValueError("shapes do not align")

    monkeypatch.setitem(engine.OPS, "relu", engine.Op(boom))
    res = engine.run(a, inputs((5, 5, 1), batch=1))
    assert not res.verified and res.output is None and len(res.layers) == 1
    assert "layer 2 'relu_1' (relu) failed on input 3x3x2: ValueError: shapes do not align" \
        == res.failure


# --- bookkeeping ---------------------------------------------------------------------------------

def test_activations_are_freed_after_their_last_use():
    """A chain of 40 layers on a 4 MiB map: at most a few maps are alive at once."""
    a = analyse("\n".join(["- relu", "- sigmoid"] * 20), "256x256x16")
    x = inputs((256, 256, 16), batch=1)
    tracemalloc.start()
    try:
        engine.run(a, x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * x.nbytes, peak / x.nbytes


def test_a_skip_connection_stays_alive_until_its_last_reader():
    a = analyse("- relu: {name: r}\n- tanh\n- tanh\n- add: {from: [-1, r]}", "3x3x2")
    x = inputs((3, 3, 2))
    r = np.maximum(x, 0)
    np.testing.assert_allclose(engine.run(a, x).output, np.tanh(np.tanh(r)) + r, rtol=1e-6)


def test_random_weights_are_kaiming_uniform_and_reproducible():
    a = analyse("- conv: {filters: 64, kernel: 3}\n- flatten\n- dense: 10", "8x8x32")
    w = engine.RandomWeights(7)
    conv = a.layers[0]
    specs = engine.param_specs(conv)
    k = w.get(conv, specs[0], 0)
    bound = 1 / math.sqrt(3 * 3 * 32)
    assert k.dtype == np.float32 and k.shape == (3, 3, 32, 64)
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.99 * bound
    assert abs(k.std() - bound / math.sqrt(3)) < 0.02 * bound      # U(−b, b): σ = b/√3
    np.testing.assert_array_equal(k, engine.RandomWeights(7).get(conv, specs[0], 0))
    assert not np.array_equal(k, engine.RandomWeights(8).get(conv, specs[0], 0))
    assert not np.array_equal(engine.uniform((1000,), 1, (1, 2)),
                              engine.uniform((1000,), 1, (1, 3)))
    with engine.Engine(engine.EngineConfig(workers=3)) as eng:
        big = engine.uniform((3, 1 << 20), 1.0, (5,), eng)   # several chunks, filled in parallel
    np.testing.assert_array_equal(big, engine.uniform((3, 1 << 20), 1.0, (5,)))
    assert not np.array_equal(big[0], big[1])


@pytest.mark.parametrize("shape, batch", [((3000, 700), 2), ((5, 1 << 20), 1), ((4096, 256), 3)])
def test_streamed_dense_weights_equal_the_whole_matrix(shape, batch, eng):
    """x @ W with W generated chunk by chunk (rows cut across chunks included) is x @ W with
    the whole matrix from the same seed."""
    x = inputs((shape[0],), batch=batch)
    got = engine.StreamedUniform(shape, 0.05, (3, 4)).left_multiply(eng, x)
    want = x.astype(np.float64) @ engine.uniform(shape, 0.05, (3, 4))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_large_random_dense_layers_are_streamed():
    a = analyse("- flatten\n- dense: {units: 700, name: fc, activation: relu}\n- dense: 3",
                "10x10x30")
    rec = a.layers[1]
    assert isinstance(engine.RandomWeights(1, stream_min=1000).get(
        rec, engine.param_specs(rec)[0], 0), engine.StreamedUniform)
    x = inputs((10, 10, 30))
    np.testing.assert_allclose(engine.run(a, x, engine.RandomWeights(1, stream_min=1000)).output,
                               engine.run(a, x, engine.RandomWeights(1, stream=False)).output,
                               rtol=1e-4, atol=1e-6)


def test_memory_estimate_counts_weights_activations_and_scratch():
    a = cnncalc.analyse(cnncalc.load("vgg16"))
    est = engine.estimate_memory(a)
    assert est.weights == 102_764_544 * 4           # fc1, the largest layer
    assert est.at.name == "fc1"
    assert est.weights + engine.OVERHEAD_BYTES < est.peak < 2 * 2 ** 30
    streamed = engine.estimate_memory(a, streamed=True)    # random weights: fc1 never held whole
    assert streamed.peak < 200 * 2 ** 20 and streamed.at.type == "conv"    # not fc1
    big = engine.estimate_memory(cnncalc.analyse(cnncalc.load("vgg16"), batch=64))
    assert big.peak > est.peak + 63 * 224 * 224 * 64 * 4 * 2
    with pytest.raises(CnnCalcError, match=r"--run would need about .* more than the limit of "
                                           r"100\.0 MiB \(--max-memory\); try --input smaller"):
        engine.check_memory(a, 100 * 2 ** 20)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("h, w, c, f, parallel, block_bytes", [
    (30, 30, 32, 32, False, 2 << 20),       # in blocks of tile rows, in turn
    (30, 30, 32, 32, True, 2 << 20),        # few blocks on threads (a run takes them in turn)
    (15, 17, 24, 40, True, 2 << 20),        # odd output: one more padded row and column
    (41, 39, 16, 24, True, 1 << 14),        # many small blocks on threads
])
def test_winograd_buffers_count_against_the_memory_budget(h, w, c, f, parallel, block_bytes, m):
    """A Winograd layer's scratch in the estimate is its transformed kernel U (α²·C·F, α =
    m + 2), the gathered and transformed tiles and products D, V and M (α² per tile, 2C + F
    values each) and the rest the kernel really allocates (measured with tracemalloc, which
    sees NumPy's arrays), not an im2col block it never uses."""
    a = analyse(f"- conv: {{filters: {f}, kernel: 3, padding: 1}}", f"{h}x{w}x{c}")
    rec = a.layers[0]
    config = engine.EngineConfig(workers=2, winograd_min_tiles=1, winograd_f4_min_tiles=1,
                                 winograd_tiles=(m,), winograd_block_bytes=block_bytes)
    assert winograd.choose(config, (3, 3), (1, 1), (1, 1), 1, c, f, 1, h, w).m == m
    scratch = engine.OPS["conv"].workspace(rec, 1, config)
    plain = engine.OPS["conv"].workspace(rec, 1, dataclasses.replace(config, winograd=False))
    padded = (h + 3) * (w + 3) * c * 4
    a2 = (m + 2) ** 2
    tiles_in_a_block = -(-w // m)                       # at least one row of tiles
    assert scratch >= padded + a2 * c * f * 4 + a2 * tiles_in_a_block * (2 * c + f) * 4
    # the whole-network estimate is the layer's: it changes with the layer's scratch
    est = engine.estimate_memory(a, config=config).peak
    assert est - engine.estimate_memory(
        a, config=dataclasses.replace(config, winograd=False)).peak == scratch - plain

    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, h, w, c)).astype(np.float32)
    k = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    with engine.Engine(config, parallel) as eng:
        eng.pool()                                       # threads started before measuring
        engine.conv2d(eng, x, k, None, (1, 1), (1, 1), (1, 1, 1, 1))    # NumPy warmed up
        # the kernel transform is made with the weights in a run; made here, it is measured
        tracemalloc.start()
        try:
            y = engine.conv2d(eng, x, k, None, (1, 1), (1, 1), (1, 1, 1, 1))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # beside NumPy's arrays, tracemalloc sees Python objects and NumPy's ufunc buffers (8192
    # values per call running at once): the interpreter's share of the estimate covers those
    assert peak - y.nbytes <= scratch + 64 * 1024


# --- --weights files ------------------------------------------------------------------------------

def _npz(tmp_path, **arrays):
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    return str(path)


def test_npz_errors_name_the_layer_and_both_shapes(tmp_path):
    a = analyse("- conv: {filters: 4, kernel: 3, name: c1}\n- flatten\n- dense: {units: 2, "
                "name: fc}", "5x5x3")
    good = random_params(a)
    w = engine.NpzWeights(_npz(tmp_path, **good))
    assert w.check(a) == []
    missing = {k: v for k, v in good.items() if k != "fc.bias"}
    with pytest.raises(CnnCalcError, match=r"layer 3 'fc' \(dense\): missing array 'fc.bias' "
                                           r"of shape \(2,\)"):
        engine.NpzWeights(_npz(tmp_path, **missing)).check(a)
    torch_layout = dict(good, **{"c1.weight": good["c1.weight"].transpose(3, 2, 0, 1)})
    with pytest.raises(CnnCalcError, match=r"layer 1 'c1' \(conv\): array 'c1.weight' has shape "
                                           r"\(4, 3, 3, 3\), expected \(3, 3, 3, 4\) \(kernels are"
                                           r" HWIO.*transpose\(2, 3, 1, 0\)"):
        engine.NpzWeights(_npz(tmp_path, **torch_layout)).check(a)
    transposed = dict(good, **{"fc.weight": good["fc.weight"].T})
    with pytest.raises(CnnCalcError, match=r"has shape \(2, 36\), expected \(36, 2\) \(dense "
                                           r"weights are \(in, units\)"):
        engine.NpzWeights(_npz(tmp_path, **transposed)).check(a)
    extra = engine.NpzWeights(_npz(tmp_path, **good, **{"fc2.weight": np.zeros(3)})).check(a)
    assert extra == [f"{tmp_path / 'w.npz'}: 1 array(s) not used by any layer: fc2.weight"]


def test_npz_bad_values_and_files(tmp_path):
    a = analyse("- dense: {units: 2, name: fc}", "[3]")
    good = random_params(a)
    bad = dict(good, **{"fc.weight": np.full((3, 2), np.nan, np.float32)})
    w = engine.NpzWeights(_npz(tmp_path, **bad))
    w.check(a)
    with pytest.raises(CnnCalcError, match="array 'fc.weight' contains NaN or infinite"):
        engine.run(a, inputs((3,)), w)
    strings = dict(good, **{"fc.bias": np.array(["a", "b"])})
    with pytest.raises(CnnCalcError, match="array 'fc.bias' has dtype <U1; it must be numeric"):
        engine.NpzWeights(_npz(tmp_path, **strings)).check(a)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CnnCalcError, match="cannot read weights file"):
        engine.NpzWeights(str(tmp_path / "junk.npz"))
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(CnnCalcError, match="single .npy array; it must be an .npz"):
        engine.NpzWeights(str(tmp_path / "one.npy"))
    with pytest.raises(CnnCalcError, match="no such weights file"):
        engine.NpzWeights(str(tmp_path / "absent.npz"))


def test_npz_keys_by_path_or_unique_name(tmp_path):
    """Inside blocks, arrays are keyed by the layer's path (like a PyTorch state_dict); a
    bare name works when it is unique."""
    blocks = "blocks:\n  b:\n    layers:\n      - dense: {units: 2, name: fc}\n"
    a = analyse("- block: {use: b, name: one}\n- block: {use: b, name: two}\n"
                "- dense: {units: 1, name: head}", "[3]", blocks)
    assert [r.path for r in a.layers] == ["one.fc", "two.fc", "head"]
    p = random_params(a)
    assert set(p) == {"one.fc.weight", "one.fc.bias", "two.fc.weight", "two.fc.bias",
                      "head.weight", "head.bias"}
    x = inputs((3,))
    want = ((x @ p["one.fc.weight"] + p["one.fc.bias"]) @ p["two.fc.weight"]
                               + p["two.fc.bias"]) @ p["head.weight"] + p["head.bias"]
    w = engine.NpzWeights(_npz(tmp_path, **p))
    np.testing.assert_allclose(engine.run(a, x, w).output, want, rtol=1e-5)
    p2 = {k.replace("one.fc", "fc"): v for k, v in p.items()}      # ambiguous: not accepted
    with pytest.raises(CnnCalcError, match="missing array 'one.fc.weight'"):
        engine.NpzWeights(_npz(tmp_path, **p2)).check(a)


# --- property: whatever the analysis accepts, the engine agrees with ----------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PAD = st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid", "full"]),
                st.lists(st.integers(0, 2), min_size=4, max_size=4))
SMALL = st.integers(1, 3)
LAYERS = st.one_of(
    st.builds(lambda f, k, s, p, d, g: {"conv": {"filters": 2 * f, "kernel": k, "stride": s,
                                                 "padding": p, "dilation": d, "groups": g}},
              SMALL, SMALL, SMALL, PAD, st.integers(1, 2), st.sampled_from([1, 2])),
    st.builds(lambda k, s, p, m: {"depthwise_conv": {"kernel": k, "stride": s, "padding": p,
                                                     "depth_multiplier": m}},
              SMALL, SMALL, PAD, st.integers(1, 2)),
    st.builds(lambda f, k, s: {"separable_conv": {"filters": f, "kernel": k, "stride": s,
                                                  "padding": "same"}}, SMALL, SMALL, SMALL),
    st.builds(lambda f, k, s, p, op: {"conv_transpose": {"filters": f, "kernel": k, "stride": s,
                                                         "padding": p,
                                                         "output_padding": min(op, s - 1)}},
              SMALL, SMALL, SMALL, st.integers(0, 1), st.integers(0, 1)),
    st.builds(lambda t, k, s, p, c: {t: {"size": k, "stride": s, "padding": p,
                                         "ceil_mode": c}},
              st.sampled_from(["maxpool", "avgpool"]), SMALL, SMALL, st.integers(0, 1),
              st.booleans()),
    st.builds(lambda o: {"adaptive_avgpool": o}, SMALL),
    st.builds(lambda s: {"upsample": s}, st.integers(1, 2)),
    st.builds(lambda p: {"pad": p}, st.lists(st.integers(0, 2), min_size=4, max_size=4)),
    st.builds(lambda c: {"crop": c}, st.lists(st.integers(0, 1), min_size=4, max_size=4)),
    st.sampled_from(["batchnorm", "relu", "gelu", "lrn", "identity", {"dropout": 0.3}]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LAYERS, min_size=1, max_size=5), st.integers(5, 12), st.integers(5, 12),
       st.sampled_from([2, 4]), st.booleans())
def test_any_spec_the_analysis_accepts_runs_with_the_same_shapes(layers, h, w, c, head):
    import yaml
    if head:
        layers = layers + ["flatten", {"dense": 3}]
    text = yaml.safe_dump({"input": [h, w, c], "layers": layers})
    try:
        a = cnncalc.analyse(cnncalc.loads(text))
    except CnnCalcError:
        assume(False)
        return
    res = engine.run(a, inputs((h, w, c), batch=2), engine.RandomWeights(0))
    assert res.failure is None, (text, res.failure)
    assert res.verified, (text, [(lr.path, lr.shape) for lr in res.mismatches()])
    assert np.isfinite(res.output).all(), text


def test_a_pool_window_of_only_padding_is_rejected():
    """Found by the property test above: maxpool {size: 1, padding: 1} has windows that see
    only padding (their max is −inf, and NaN follows); the analysis now refuses it."""
    with pytest.raises(CnnCalcError, match="padding 1 must be smaller than the window size 1: "
                                           "some windows would see only padding"):
        analyse("- maxpool: {size: 1, padding: 1}", "4x4x1")
    with pytest.raises(CnnCalcError, match="padding 3 must be smaller than the window size 3"):
        analyse("- avgpool: {size: 3, stride: 1, padding: [0, 3, 0, 0]}", "4x4x1")


# --- threading modes ---------------------------------------------------------------------------

def test_blas_and_worker_threading_give_the_same_network_output():
    """A run splits its work one of two ways (EngineConfig.threading: BLAS's threads, or the
    engine's workers with BLAS on one thread); the network's output does not depend on it."""
    a = analyse("- conv: {filters: 32, kernel: 3, padding: 1, activation: relu}\n"
                "- conv: {filters: 32, kernel: 3, padding: 1}\n- maxpool: {size: 2}\n"
                "- conv: {filters: 16, kernel: 5, stride: 2, padding: 2}\n- flatten\n"
                "- dense: {units: 10}", "64x64x8")
    x = engine.random_input(a.input, 2, 1)
    outs = {}
    for mode in ("blas", "workers"):
        res = engine.run(a, x, engine.RandomWeights(3),
                         config=engine.EngineConfig(workers=2, threading=mode))
        assert res.verified and res.threads == 2
        outs[mode] = res.output
    np.testing.assert_allclose(outs["blas"], outs["workers"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode, blas_threads, parallel", [("blas", 2, False),
                                                          ("workers", 1, True)])
def test_threading_mode_sets_blas_and_the_engine(mode, blas_threads, parallel):
    """"blas": BLAS on the run's thread count and the blocks in turn; "workers": BLAS on one
    thread and the blocks on the engine's workers; BLAS's own count is restored after."""
    blas = threads.BlasThreads()
    if blas.get is None:
        pytest.skip("this NumPy's BLAS cannot be controlled")
    before = blas.get()
    with engine.Engine(engine.EngineConfig(workers=2, threading=mode)) as eng, \
            eng.threads() as split:
        assert (blas.get(), eng.parallel, split) == (blas_threads, parallel, parallel)
        with eng.blas_threads():             # one big product: BLAS's threads either way
            assert (blas.get(), eng.parallel) == (2, False)
        assert blas.get() == blas_threads
        with eng.blas_on_one_thread():       # products on the workers: one BLAS thread each
            assert (blas.get(), eng.parallel) == (1, parallel)
        assert blas.get() == blas_threads
    assert blas.get() == before


# --- the process's memory for --run (arena.py) ----------------------------------------------------

ARENA_PROBE = r"""
import resource, sys
import numpy as np
from cnncalc.engine import arena
keep = arena.keep_freed_memory() if sys.argv[1] == "keep" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touched = arena.reserve(64 << 20)
before = faults()
a = np.empty(16 << 20, np.float32)        # 64 MiB, after 64 MiB were touched and freed
a.fill(1)
print(keep, touched, faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_is_reused_without_new_page_faults():
    """With freed memory kept (mallopt), an array the size of the reserved working set reuses
    its pages: (almost) no page faults; without, glibc gives the block back and every page of
    the new array is faulted in again."""
    out = {}
    for mode in ("keep", "default"):
        proc = subprocess.run([sys.executable, "-c", ARENA_PROBE, mode], capture_output=True,
                              text=True, check=True)
        keep, touched, faults = proc.stdout.split()
        out[mode] = (keep, int(touched), int(faults))
    assert out["keep"][:2] == ("True", 64 << 20) and out["default"][1] == 64 << 20
    assert out["keep"][2] < 100 < out["default"][2]


def test_the_working_set_excludes_the_weights():
    """The estimate's working set is activations and scratch only: VGG-16's peak is at fc1's
    392 MiB of weights, its working set at a 224x224x64 convolution."""
    a = cnncalc.analyse(cnncalc.load("vgg16"))
    est = engine.estimate_memory(a)
    assert est.at.name == "fc1" and est.weights == 102_764_544 * 4
    assert 3 * 224 * 224 * 64 * 4 < est.working < est.peak - est.weights


def test_random_weights_are_whole_only_within_the_budget_and_a_gib():
    """Random weights are generated whole when the run's estimate with them whole fits both the
    budget and 1 GiB (VGG-16: about 0.5 GiB); a dense layer of 300 M weights (1.1 GiB) streams."""
    from cnncalc.engine.planner import WHOLE_WEIGHTS_MAX, Budget, whole_weights_fit
    vgg = cnncalc.analyse(cnncalc.load("vgg16"))
    assert WHOLE_WEIGHTS_MAX == 1 << 30
    est = engine.estimate_memory(vgg)
    assert whole_weights_fit(est, None) and whole_weights_fit(est, Budget(800 << 20, "test"))
    assert not whole_weights_fit(est, 300 << 20)               # --max-memory 300M
    big = analyse("- dense: {units: 30000}", "[10000]")
    assert big.totals()["params"] == 300_030_000
    assert not whole_weights_fit(engine.estimate_memory(big), None)


@pytest.mark.parametrize("act", ["relu", "relu6", "leaky_relu", "tanh", "sigmoid", "silu",
                                 "hardswish", "gelu", "elu"])
@pytest.mark.parametrize("kernel, stride, c, f, path", [
    ((3, 3), (2, 2), 4, 5, "im2col"),
    ((1, 1), (1, 1), 4, 5, "1x1"),
    ((3, 3), (1, 1), 16, 16, "winograd"),
])
def test_a_fused_activation_is_applied_on_every_convolution_path(act, kernel, stride, c, f, path,
                                                                  eng):
    """A conv's own activation gives what the same activation after it gives, whatever the
    kernel: im2col, 1x1 and Winograd (silu, gelu, ... make a new array instead of working in
    place; the im2col path once dropped them)."""
    from cnncalc.engine.activations import activate
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 12, 12, c)).astype(np.float32)
    w = (rng.standard_normal(kernel + (c, f)) / 4).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    config = dataclasses.replace(eng.config, winograd_min_tiles=1, winograd_f4_min_tiles=1)
    with engine.Engine(config, eng.parallel) as e:
        assert (winograd.choose(config, kernel, stride, (1, 1), 1, c, f, 1, 10, 10) is not None) \
            == (path == "winograd")
        fused = engine.conv2d(e, x, w, b, stride, (1, 1), (0, 0, 0, 0), 1, act)
        plain = engine.conv2d(e, x, w, b, stride, (1, 1), (0, 0, 0, 0), 1, None)
    np.testing.assert_allclose(fused, activate(plain.copy(), act, False), rtol=1e-5, atol=1e-5)

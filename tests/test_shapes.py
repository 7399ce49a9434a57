"""cnncalc.shapes: known answers from the literature, then property tests against independent
counts (NumPy sliding windows) and against PyTorch's layers when torch is importable.

Known answers cite their source:
- [DV] V. Dumoulin & F. Visin, "A guide to convolution arithmetic for deep learning" (2016),
  arXiv:1603.07285, Relationships 1-15 and the figures that illustrate them
  (github.com/vdumoulin/conv_arithmetic, conv_arithmetic.tex).
- [TF] TensorFlow's "same" padding rule (tf.nn.convolution docs: out = ceil(in / stride),
  pad_along = max((out - 1) * stride + filter - in, 0), pad_top = pad_along // 2).
- [PT] PyTorch's MaxPool2d / ConvTranspose2d documentation (shape formulas, ceil_mode).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc import shapes
from cnncalc.shapes import ShapeError

# --- known answers: Dumoulin & Visin ----------------------------------------------------------


@pytest.mark.parametrize("rel, i, k, s, p, d, o", [
    # Relationship 1 (no zero padding, unit strides): o = (i - k) + 1; Figure 2.1: i=4, k=3
    (1, 4, 3, 1, 0, 1, 2),
    # Relationship 2 (zero padding, unit strides): o = (i - k) + 2p + 1; Figure 2.2: i=5, k=4, p=2
    (2, 5, 4, 1, 2, 1, 6),
    # Relationship 3 (half/"same" padding, k odd, p = floor(k/2)): o = i; Figure 2.3
    (3, 5, 3, 1, 1, 1, 5),
    # Relationship 4 (full padding, p = k - 1): o = i + (k - 1); Figure 2.4: i=5, k=3, p=2
    (4, 5, 3, 1, 2, 1, 7),
    # Relationship 5 (no padding, strides): o = floor((i - k)/s) + 1; Figure 2.5: i=5, k=3, s=2
    (5, 5, 3, 2, 0, 1, 2),
    # Relationship 6 (padding and strides): o = floor((i + 2p - k)/s) + 1; Figures 2.6 and 2.7
    (6, 5, 3, 2, 1, 1, 3),
    (6, 6, 3, 2, 1, 1, 3),
    # Relationship 15 (dilation): o = floor((i + 2p - k - (k-1)(d-1))/s) + 1; Figure 5.1
    (15, 7, 3, 1, 0, 2, 3),
])
def test_convolution_relationships(rel, i, k, s, p, d, o):
    assert shapes.window_output(i, k, s, p, p, d) == o


def test_relationship_7_pooling():
    # [DV] Relationship 7: pooling o = floor((i - k)/s) + 1 "for any type of pooling";
    # the 3x3 pooling over a 5x5 input with stride 1 of the numerical pooling figures -> 3x3.
    assert shapes.window_output(5, 3, 1) == 3
    # VGG-16's 2x2/2 pools halve 224 -> 112 (Simonyan & Zisserman 2015, Table 1).
    assert shapes.window_output(224, 2, 2) == 112


def test_relationship_6_ambiguity_unreached():
    # [DV] Figure 2.7: i=6, k=3, s=2, p=1: "the bottom row and right column of the zero padded
    # input are not covered by the kernel" -> one unreached row; Figure 2.6 (i=5) has none.
    assert shapes.unreached(6, 3, 2, 1, 1) == 1
    assert shapes.unreached(5, 3, 2, 1, 1) == 0


def test_same_and_full_padding_modes():
    # [DV] Relationship 3: half padding keeps the size at unit stride; Relationship 4: full
    # padding p = k - 1 grows it by k - 1.
    for i, k in [(5, 3), (7, 5), (224, 3), (9, 1)]:
        pb, pa = shapes.same_padding(i, k, 1)
        assert (pb, pa) == (k // 2, k // 2)
        assert shapes.window_output(i, k, 1, pb, pa) == i
        assert shapes.full_padding(k) == (k - 1, k - 1)
        assert shapes.window_output(i, k, 1, *shapes.full_padding(k)) == i + k - 1


@pytest.mark.parametrize("n, f, s, pads, out", [
    # [TF] the classic example (input width 13, filter 6, stride 5): "SAME" -> 3 outputs with
    # 1 pixel of padding on the left and 2 on the right; "VALID" -> 2 outputs.
    (13, 6, 5, (1, 2), 3),
    # stride 2, even input: total padding 1, the odd pixel at the bottom/right
    (6, 3, 2, (0, 1), 3),
    (5, 3, 2, (1, 1), 3),
    (224, 7, 2, (2, 3), 112),   # ResNet's stem in TF ("same" 7x7/2 on 224)
    (4, 1, 2, (0, 0), 2),       # max(..., 0): no negative padding
])
def test_tf_same_padding(n, f, s, pads, out):
    assert shapes.same_padding(n, f, s) == pads
    assert shapes.window_output(n, f, s, *pads) == out == -(-n // s)


def test_tf_valid_example():
    assert shapes.window_output(13, 6, 5) == 2   # [TF] "VALID" drops the last 2 columns
    assert shapes.unreached(13, 6, 5) == 2


@pytest.mark.parametrize("rel, i_prime, k, s, p, a, o_prime", [
    # Relationship 8: transpose of (s=1, p=0): o' = i' + (k - 1); Figure 4.1 (i=4, k=3 -> 2 -> 4)
    (8, 2, 3, 1, 0, 0, 4),
    # Relationship 9: transpose of (s=1, p): o' = i' + (k - 1) - 2p; Figure 4.2 (i=5, k=4, p=2)
    (9, 6, 4, 1, 2, 0, 5),
    # Relationship 10: half padding transposed: o' = i'; Figure 4.3 (i=5, k=3, p=1)
    (10, 5, 3, 1, 1, 0, 5),
    # Relationship 11: full padding transposed: o' = i' - (k - 1); Figure 4.4 (i=5, k=3, p=2)
    (11, 7, 3, 1, 2, 0, 5),
    # Relationship 12: no padding, strides: o' = s(i' - 1) + k; Figure 4.5 (i=5, k=3, s=2)
    (12, 2, 3, 2, 0, 0, 5),
    # Relationship 13: padding and strides: o' = s(i' - 1) + k - 2p; Figure 4.6 (i=5, k=3, s=2,
    # p=1)
    (13, 3, 3, 2, 1, 0, 5),
    # Relationship 14: o' = s(i' - 1) + a + k - 2p with a = (i + 2p - k) mod s; Figure 4.7
    # (i=6, k=3, s=2, p=1: a=1); `a` is PyTorch's output_padding.
    (14, 3, 3, 2, 1, 1, 6),
])
def test_transposed_relationships(rel, i_prime, k, s, p, a, o_prime):
    assert shapes.transposed_output(i_prime, k, s, p, p, a) == o_prime


def test_transposed_recovers_the_convolution_input():
    # [DV] section 4: a transposed convolution maps the conv's output shape back to its input
    # shape, with a = (i + 2p - k) mod s choosing among the inputs that give the same output.
    for i in range(3, 30):
        for k in (1, 2, 3, 4, 5):
            for s in (1, 2, 3):
                for p in range(0, k):
                    if i + 2 * p < k:
                        continue
                    o = shapes.window_output(i, k, s, p, p)
                    a = (i + 2 * p - k) % s
                    assert shapes.transposed_output(o, k, s, p, p, a) == i


def test_transposed_same_padding_doubles():
    # Keras Conv2DTranspose(padding="same") outputs n * s.
    for n in (1, 7, 28):
        for f, s in [(3, 2), (4, 2), (2, 2), (5, 3), (3, 1)]:
            pb, pa = shapes.transposed_same_padding(f, s)
            assert shapes.transposed_output(n, f, s, pb, pa) == n * s
    with pytest.raises(ShapeError):
        shapes.transposed_same_padding(1, 2)


def test_kernel_larger_than_padded_input_is_an_error():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        shapes.window_output(4, 5)
    with pytest.raises(ShapeError):
        shapes.window_output(4, 3, d=2)          # dilated span 5 > 4
    assert shapes.window_output(4, 5, before=1) == 1


# --- PyTorch's ceil_mode rule (known answers) -------------------------------------------------

@pytest.mark.parametrize("n, f, s, p, out", [
    (13, 3, 2, 0, 6),    # AlexNet-style 3x3/2 on 13: (13 - 3)/2 + 1 = 6 either way
    (112, 3, 2, 0, 56),  # GoogLeNet's torchvision pool1 (ceil_mode=True): 55.5 -> 56
    (56, 3, 2, 0, 28),   # GoogLeNet maxpool2: 27.5 -> 28
    (14, 3, 2, 0, 7),    # GoogLeNet maxpool4: 6.5 -> 7
    (5, 2, 2, 1, 3),     # [PT] last window would start in the right padding: dropped (4 -> 3)
])
def test_ceil_mode_known(n, f, s, p, out):
    assert shapes.window_output(n, f, s, p, p, ceil_mode=True) == out


# --- receptive field ---------------------------------------------------------------------------

def test_receptive_field_vgg16_pools():
    # VGG-16 (configuration D): receptive fields 6 / 16 / 44 / 100 / 212 at the five pools
    # (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    # Distill 2019, list VGG-16's final receptive field as 212).
    rf, jump = Fraction(1), Fraction(1)
    at_pools = []
    for convs in (2, 2, 3, 3, 3):
        for _ in range(convs):
            rf, jump = shapes.grow(rf, jump, 3, 1)
        rf, jump = shapes.grow(rf, jump, 2, 2)
        at_pools.append(int(rf))
    assert at_pools == [6, 16, 44, 100, 212]
    assert jump == 32


def test_receptive_field_dilation_and_transposed():
    # a 3x3 conv with dilation 2 sees a 5x5 patch; two of them 9x9 (Yu & Koltun 2016, Fig. 1
    # uses dilations 1, 2, 4 to reach 3, 7, 15).
    rf, j = Fraction(1), Fraction(1)
    fields = []
    for d in (1, 2, 4):
        rf, j = shapes.grow(rf, j, 3, 1, d)
        fields.append(int(rf))
    assert fields == [3, 7, 15]
    # a stride-2 transposed conv halves the jump
    rf, j = shapes.grow_transposed(Fraction(6), Fraction(2), 4, 2)
    assert j == 1 and rf == 6 + (2 - 1) * 2


def test_adaptive_windows_pytorch_rule():
    # PyTorch adaptive pooling: start = floor(i*n/out), end = ceil((i+1)*n/out)
    assert shapes.adaptive_windows(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]
    assert shapes.adaptive_windows(7, 7) == [(i, i + 1) for i in range(7)]
    assert shapes.adaptive_kernel(10, 4) == 3


# --- property tests: independent counts with NumPy -------------------------------------------

def _starts_numpy(n: int, f: int, s: int, pb: int, pa: int, d: int) -> int:
    """Count the positions of a dilated window over a padded 1-D array, by materialising the
    windows with NumPy (sliding_window_view over the padded array, every s-th one)."""
    padded = np.pad(np.arange(n), (pb, pa), constant_values=-1)
    span = d * (f - 1) + 1
    if span > padded.size:
        return 0
    windows = np.lib.stride_tricks.sliding_window_view(padded, span)[::s, ::d]
    assert windows.shape[1] == f
    return windows.shape[0]


def _starts_ceil(n: int, f: int, s: int, pb: int, pa: int) -> int:
    """PyTorch ceil_mode, counted directly: windows may run past the right edge (partial
    windows), but each must start inside the input or the left padding."""
    padded = np.pad(np.arange(n), (pb, pa + s - 1), constant_values=-1)
    starts = np.arange(padded.size - f + 1)[::s]
    return int(np.count_nonzero(starts < n + pb))


sizes = st.integers(1, 64)
small = st.integers(1, 7)


@settings(max_examples=300, deadline=None)
@given(n=sizes, f=small, s=small, pb=st.integers(0, 6), pa=st.integers(0, 6), d=st.integers(1, 4))
def test_window_output_matches_numpy_windows(n, f, s, pb, pa, d):
    expected = _starts_numpy(n, f, s, pb, pa, d)
    if expected == 0:
        with pytest.raises(ShapeError):
            shapes.window_output(n, f, s, pb, pa, d)
        return
    assert shapes.window_output(n, f, s, pb, pa, d) == expected
    # the unreached remainder: rows after the last window's end
    last_end = (expected - 1) * s + d * (f - 1) + 1
    assert shapes.unreached(n, f, s, pb, pa, d) == n + pb + pa - last_end


@settings(max_examples=300, deadline=None)
@given(n=sizes, f=small, s=small, p=st.integers(0, 3))
def test_ceil_mode_matches_direct_count(n, f, s, p):
    p = min(p, f // 2)               # PyTorch's domain: padding at most half the window
    if n + 2 * p < f:
        return
    assert shapes.window_output(n, f, s, p, p, ceil_mode=True) == _starts_ceil(n, f, s, p, p)
    floor = shapes.window_output(n, f, s, p, p)
    ceil = shapes.window_output(n, f, s, p, p, ceil_mode=True)
    assert floor <= ceil <= floor + 1


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 200), f=small, s=small, d=st.integers(1, 3))
def test_same_padding_is_the_smallest_padding_giving_ceil(n, f, s, d):
    pb, pa = shapes.same_padding(n, f, s, d)
    want = -(-n // s)
    assert pa - pb in (0, 1)                     # the odd pixel at the end
    assert _starts_numpy(n, f, s, pb, pa, d) == want
    total = pb + pa
    # independently: the smallest total padding whose window count reaches ceil(n / s)
    smallest = next(t for t in range(0, d * (f - 1) + s + 1)
                    if _starts_numpy(n, f, s, t // 2, t - t // 2, d) >= want)
    assert total == smallest


def _transposed_numpy(n: int, f: int, s: int, pb: int, pa: int, op: int, d: int) -> int:
    """[DV] Relationship 14 as a direct convolution: stretch the input (s - 1 zeros between
    units), pad by d(f-1) - p (before) and d(f-1) - p + a (after), negative padding cropping,
    then count unit-stride windows of the dilated kernel with NumPy."""
    stretched = np.zeros((n - 1) * s + 1)
    stretched[::s] = 1
    span = d * (f - 1)
    before, after = span - pb, span - pa + op
    arr = np.pad(stretched, (max(before, 0), max(after, 0)))
    arr = arr[max(-before, 0): max(arr.size - max(-after, 0), 0)]
    if arr.size < span + 1:
        return 0
    return np.lib.stride_tricks.sliding_window_view(arr, span + 1).shape[0]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), f=small, s=st.integers(1, 5), pb=st.integers(0, 4),
       pa=st.integers(0, 4), op=st.integers(0, 4), d=st.integers(1, 3))
def test_transposed_output_matches_stretched_convolution(n, f, s, pb, pa, op, d):
    if op >= max(s, d):
        op = op % max(s, d)
    got = shapes.transposed_output(n, f, s, pb, pa, op, d)
    assert max(got, 0) == _transposed_numpy(n, f, s, pb, pa, op, d)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 50), out=st.integers(1, 50))
def test_adaptive_windows_cover_the_input(n, out):
    wins = shapes.adaptive_windows(n, out)
    assert len(wins) == out
    assert wins[0][0] == 0 and wins[-1][1] == n
    covered = np.zeros(n, dtype=int)
    for a, b in wins:
        assert 0 <= a < b <= n
        covered[a:b] += 1
    assert covered.min() >= 1


# --- property tests against PyTorch ----------------------------------------------------------

torch_settings = settings(max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


@torch_settings
@given(h=st.integers(1, 24), w=st.integers(1, 24), f=st.integers(1, 5), s=st.integers(1, 4),
       p=st.integers(0, 3), d=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]),
       per_group=st.integers(1, 3), filt_per_group=st.integers(1, 3))
def test_conv2d_shape_vs_torch(torch, h, w, f, s, p, d, groups, per_group, filt_per_group):
    c, k = groups * per_group, groups * filt_per_group
    conv = torch.nn.Conv2d(c, k, f, stride=s, padding=p, dilation=d, groups=groups)
    span = d * (f - 1) + 1
    if h + 2 * p < span or w + 2 * p < span:
        with pytest.raises(ShapeError):
            shapes.window_output(min(h, w), f, s, p, p, d)
        with pytest.raises(RuntimeError):
            conv(torch.zeros(1, c, h, w))
        return
    with torch.no_grad():
        y = conv(torch.zeros(1, c, h, w))
    assert tuple(y.shape[2:]) == (shapes.window_output(h, f, s, p, p, d),
                                  shapes.window_output(w, f, s, p, p, d))


@torch_settings
@given(n=st.integers(1, 24), f=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3))
def test_tf_same_padding_vs_torch_f_pad(torch, n, f, s, d):
    """TensorFlow's 'same' at any stride, emulated in PyTorch with F.pad (odd pixel at the
    bottom/right), gives ceil(n / s)."""
    import torch.nn.functional as F

    pb, pa = shapes.same_padding(n, f, s, d)
    x = F.pad(torch.zeros(1, 1, n, n), (pb, pa, pb, pa))
    y = F.conv2d(x, torch.zeros(1, 1, f, f), stride=s, dilation=d)
    assert tuple(y.shape[2:]) == (-(-n // s),) * 2


@torch_settings
@given(n=st.integers(1, 16), f=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), op=st.integers(0, 3))
def test_conv_transpose2d_shape_vs_torch(torch, n, f, s, p, d, op):
    op = op % max(s, d)               # PyTorch: output_padding < max(stride, dilation)
    expected = shapes.transposed_output(n, f, s, p, p, op, d)
    conv = torch.nn.ConvTranspose2d(2, 3, f, stride=s, padding=p, output_padding=op,
                                    dilation=d)
    if expected <= 0:                 # torch: an error, or an empty map for exactly 0
        try:
            with torch.no_grad():
                y = conv(torch.zeros(1, 2, n, n))
        except RuntimeError:
            return
        assert expected == 0 and y.shape[2] == 0
        return
    with torch.no_grad():
        y = conv(torch.zeros(1, 2, n, n))
    assert tuple(y.shape[2:]) == (expected, expected)


@torch_settings
@given(n=st.integers(1, 30), f=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 2),
       ceil=st.booleans(), kind=st.sampled_from(["max", "avg"]))
def test_pool2d_shape_vs_torch(torch, n, f, s, p, ceil, kind):
    if 2 * p > f:                    # PyTorch: pad should be at most half of the kernel
        p = f // 2
    pool = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(
        f, stride=s, padding=p, ceil_mode=ceil)
    with torch.no_grad():
        try:
            y = pool(torch.zeros(1, 1, n, n))
        except RuntimeError:     # torch: "Output size is too small"
            with pytest.raises(ShapeError):
                shapes.window_output(n, f, s, p, p, ceil_mode=ceil)
            return
    assert tuple(y.shape[2:]) == (shapes.window_output(n, f, s, p, p, ceil_mode=ceil),) * 2

"""cnncalc.layers: the registry, each layer type's shape and counts, parameter validation.

Known answers cite their source; parameter and MAC counts are also compared with PyTorch
(sum of ``p.numel()`` over parameters and buffers; ``torch.utils.flop_counter`` for MACs)
when torch is importable.
"""

from __future__ import annotations

import json
import math

import numpy as np

import pytest
from hypothesis import HealthCheck, given, settings
from conftest import DictWeights
from conftest import analyse_text as analyse
from hypothesis import strategies as st

import cnncalc
from cnncalc.analysis import LayerRecord
from cnncalc.errors import CnnCalcError
from cnncalc.layers import ACTIVATIONS, REGISTRY, TAKES_ACTIVATION, ParamError


def one(type_: str, params, shape) -> LayerRecord:
    """Analyse a single layer through the real spec loader (JSON is YAML)."""
    spec = {"input": list(shape), "layers": [{type_: params} if params is not None else type_]}
    return cnncalc.analyse(cnncalc.loads(json.dumps(spec))).layers[0]


# --- the registry --------------------------------------------------------------------------

SPEC_TYPES = {  # SPEC-FORMAT.md, "Layer types": canonical name -> aliases
    "conv": ["conv2d"], "conv_transpose": ["deconv"], "depthwise_conv": [],
    "separable_conv": [], "maxpool": ["max_pool"], "avgpool": ["avg_pool"],
    "global_avgpool": [], "global_maxpool": [], "adaptive_avgpool": [], "adaptive_maxpool": [],
    "flatten": [], "dense": ["linear", "fc"], "dropout": [], "batchnorm": ["bn"],
    "relu": [], "leaky_relu": [], "sigmoid": [], "tanh": [], "softmax": [], "gelu": [],
    "silu": [], "hardswish": [], "relu6": [], "lrn": [], "pad": ["zero_pad"], "upsample": [],
    "add": [], "concat": [], "identity": [], "channel_shuffle": ["shuffle"], "chunk": [],
    "layernorm": ["layer_norm", "layernorm2d"], "layer_scale": ["layerscale"],
    "stochastic_depth": ["drop_path"], "resize": ["interpolate"],
}


@pytest.mark.parametrize("name, aliases", SPEC_TYPES.items())
def test_every_documented_type_is_registered(name, aliases):
    assert REGISTRY[name].type == name
    for alias in aliases:
        assert REGISTRY[alias] is REGISTRY[name]


@pytest.mark.parametrize("written, meant", [
    ("LayerNorm", "layernorm"), ("layer_nrm", "layer_norm"), ("BatchNorm2d", "batchnorm"),
    ("BatchNormalization", "batchnorm"), ("LayerNormalization", "layernorm"),
    ("MaxPooling2D", "maxpool"), ("AveragePooling2D", "avgpool"), ("MaxPool2d", "maxpool"),
    ("GlobalAveragePooling2D", "global_avgpool"), ("AdaptiveAvgPool2d", "adaptive_avgpool"),
    ("Conv2d", "conv"), ("Conv2DTranspose", "conv_transpose"), ("ConvTranspose2d",
                                                               "conv_transpose"),
    ("DepthwiseConv2D", "depthwise_conv"), ("Linear", "dense"), ("ReLU6", "relu6"),
    ("LeakyReLU", "leaky_relu"), ("Hardswish", "hardswish"), ("DropPath", "stochastic_depth"),
    ("ZeroPadding2D", "pad"), ("UpSampling2D", "upsample"), ("cat", "concat"),
    ("ChannelShuffle", "channel_shuffle"), ("convv", "conv"),
])
def test_unknown_types_suggest_the_right_name(written, meant):
    """The aliases table (issue 10 item 4): other frameworks' spellings suggest our type; before
    it, `layer_norm` suggested `batch_norm`. `layer_norm` itself is now an alias."""
    from cnncalc.layers import suggest_type
    assert suggest_type(written) == f" (did you mean '{meant}'?)"
    assert one("layer_norm", None, [3, 3, 4]).type == "layernorm"


def test_activation_attribute_types():
    # SPEC-FORMAT.md: `activation:` where the type takes one (conv, dense, conv_transpose,
    # separable_conv)
    assert {"conv", "dense", "conv_transpose", "separable_conv"} <= set(TAKES_ACTIVATION)
    assert "maxpool" not in TAKES_ACTIVATION
    rec = one("dense", {"units": 10, "activation": "softmax"}, [5])
    assert rec.activation == "softmax" and rec.params == 60
    with pytest.raises(CnnCalcError, match="unknown parameter 'activation' for maxpool"):
        one("maxpool", {"size": 2, "activation": "relu"}, [4, 4, 1])


# --- the classic quiz ----------------------------------------------------------------------

def test_classic_quiz_128x128x3_32_filters():
    # The seed quiz (issue 2): a 128x128x3 image, 32 filters of 3x3x3.
    # -> 32 feature maps (one per filter); stride 1 padding 1 -> 128x128x32; padding 0 ->
    # 126x126x32 ((128 - 3)/1 + 1 = 126); params 3*3*3*32 + 32 = 896.
    rec = one("conv", {"filters": 32, "kernel": 3, "padding": 1}, [128, 128, 3])
    assert rec.output == (128, 128, 32) and rec.feature_maps == 32
    rec = one("conv", {"filters": 32, "kernel": 3, "padding": 0}, [128, 128, 3])
    assert rec.output == (126, 126, 32)
    assert (rec.weights, rec.biases, rec.params) == (864, 32, 896)


def test_vgg_first_layer_weights():
    # VGG-16's first layer: 64 filters of 3x3x3 = 64 x 27 = 1,728 weights without biases,
    # 1,792 with (Keras VGG16().summary(): block1_conv1 1792).
    rec = one("conv", {"filters": 64, "kernel": 3, "padding": "same", "bias": False},
              [224, 224, 3])
    assert rec.params == rec.weights == 64 * 27 == 1728
    rec = one("conv", {"filters": 64, "kernel": 3, "padding": "same"}, [224, 224, 3])
    assert rec.params == 1792 and rec.output == (224, 224, 64)


@pytest.mark.parametrize("shape, params, out, count", [
    # Stanford CS231n, "Convolutional Neural Networks" notes: AlexNet's first layer, 227x227x3
    # with 96 filters 11x11 stride 4 pad 0 -> 55x55x96; each filter 11*11*3 = 363 weights + 1.
    ([227, 227, 3], {"filters": 96, "kernel": 11, "stride": 4}, (55, 55, 96), 96 * 364),
    # CS231n lecture 5: 32x32x3, 10 filters 5x5 stride 1 pad 2 -> 32x32x10, 76 * 10 = 760
    ([32, 32, 3], {"filters": 10, "kernel": 5, "padding": 2}, (32, 32, 10), 760),
    # deeplearning.ai "Convolutional Neural Networks", week 1 quiz: 63x63x16, 32 filters 7x7
    # stride 2, no padding -> 29x29x32; 300x300 RGB, 100 filters 5x5 -> 7,600 parameters.
    ([63, 63, 16], {"filters": 32, "kernel": 7, "stride": 2}, (29, 29, 32), 7 * 7 * 16 * 32 + 32),
    ([300, 300, 3], {"filters": 100, "kernel": 5}, (296, 296, 100), 7600),
    # same quiz: a "same" convolution of 7x7 at stride 1 on 63x63x16 needs padding 3
    ([63, 63, 16], {"filters": 32, "kernel": 7, "padding": 3}, (63, 63, 32), 25120),
])
def test_published_conv_examples(shape, params, out, count):
    rec = one("conv", params, shape)
    assert rec.output == out and rec.params == count


def test_quiz_pooling_and_padding():
    # deeplearning.ai week 1 quiz: 32x32x16, max pool size 2 stride 2 -> 16x16x16; a
    # 15x15x8 input padded with pad=2 -> 19x19x8.
    assert one("maxpool", {"size": 2, "stride": 2}, [32, 32, 16]).output == (16, 16, 16)
    assert one("pad", 2, [15, 15, 8]).output == (19, 19, 8)


# --- every layer type: shapes and counts -------------------------------------------------

def test_conv_rectangular_and_four_sided_padding():
    rec = one("conv", {"filters": 4, "kernel": [3, 5], "stride": [1, 2],
                       "padding": [1, 0, 2, 2]}, [10, 11, 2])
    assert rec.output == (10 - 3 + 1 + 1, (11 + 4 - 5) // 2 + 1, 4)
    assert rec.geometry.pads == (1, 0, 2, 2)
    assert rec.weights == 3 * 5 * 2 * 4


def test_hxw_strings_for_pairs_and_padding():
    """Inception's factorised kernels written like a shape (issue 10 item 5): `kernel: 1x7`,
    `stride: 2x1`, `padding: 0x3` mean [1, 7], [2, 1], [0, 3]; `0x3` is not hexadecimal."""
    as_text = one("conv", {"filters": 4, "kernel": "1x7", "stride": "2 × 1", "padding": "0x3"},
                  [17, 17, 8])
    as_list = one("conv", {"filters": 4, "kernel": [1, 7], "stride": [2, 1], "padding": [0, 3]},
                  [17, 17, 8])
    assert as_text.output == as_list.output == (9, 17, 4)
    assert as_text.geometry == as_list.geometry and as_text.params == as_list.params
    assert cnncalc.loads("input: 17x17x8\nlayers: [conv: {filters: 4, kernel: 1x7, padding: "
                         "0x3}]\n").body.items[0].layer.padding == (0, 0, 3, 3)
    assert one("maxpool", {"size": "3X1"}, [9, 9, 2]).output == (3, 9, 2)
    assert one("conv_transpose", {"filters": 2, "kernel": "1x3", "padding": "0x1"},
               [4, 4, 2]).output == (4, 4, 2)
    assert one("adaptive_avgpool", "7x7", [14, 14, 2]).output == (7, 7, 2)
    for bad in ("1x", "x7", "1x7x3", "1.5x2", "-1x2"):
        with pytest.raises(CnnCalcError, match="a string must be HxW"):
            one("conv", {"filters": 1, "kernel": bad}, [8, 8, 1])
    with pytest.raises(CnnCalcError, match="did you mean 'same'"):
        one("conv", {"filters": 1, "kernel": 3, "padding": "sme"}, [8, 8, 1])
    with pytest.raises(CnnCalcError, match="kernel must be >= 1, got '0x3'"):
        one("conv", {"filters": 1, "kernel": "0x3"}, [8, 8, 1])


def test_padding_modes_valid_same_full():
    assert one("conv", {"filters": 1, "kernel": 3, "padding": "valid"}, [8, 8, 1]).output[:2] \
        == (6, 6)
    assert one("conv", {"filters": 1, "kernel": 3, "padding": "full"}, [8, 8, 1]).output[:2] \
        == (10, 10)
    rec = one("conv", {"filters": 1, "kernel": 3, "stride": 2, "padding": "same"}, [8, 8, 1])
    assert rec.output[:2] == (4, 4) and rec.geometry.pads == (0, 1, 0, 1)
    assert one("conv", {"filters": 1, "kernel": 3, "padding": "SAME"}, [8, 8, 1]).output[:2] \
        == (8, 8)


def test_depthwise_and_separable_counts():
    # Keras DepthwiseConv2D(3) on 3 channels: 3*3*3 weights + 3 biases; depth_multiplier 2
    # doubles both. Keras SeparableConv2D(8, 3) on 3 channels: 27 depthwise + 24 pointwise
    # + 8 biases = 59 (Chollet, "Xception", 2017: depthwise then 1x1 pointwise).
    rec = one("depthwise_conv", {"kernel": 3, "padding": 1}, [10, 10, 3])
    assert rec.output == (10, 10, 3) and (rec.weights, rec.biases) == (27, 3)
    rec = one("depthwise_conv", {"kernel": 3, "depth_multiplier": 2}, [10, 10, 3])
    assert rec.output == (8, 8, 6) and (rec.weights, rec.biases) == (54, 6)
    rec = one("separable_conv", {"filters": 8, "kernel": 3}, [10, 10, 3])
    assert rec.output == (8, 8, 8) and (rec.weights, rec.biases) == (27 + 24, 8)
    assert rec.macs == 8 * 8 * (27 + 24)


def test_conv_transpose_shapes():
    # Dumoulin & Visin Figure 4.7 with PyTorch's output_padding: 3 -> 6
    rec = one("conv_transpose", {"filters": 2, "kernel": 3, "stride": 2, "padding": 1,
                                 "output_padding": 1}, [3, 3, 4])
    assert rec.output == (6, 6, 2) and rec.weights == 3 * 3 * 4 * 2
    rec = one("deconv", {"filters": 2, "kernel": 4, "stride": 2, "padding": "same"}, [7, 7, 4])
    assert rec.output == (14, 14, 2)


def test_pools_keep_channels_and_have_no_params():
    for kind in ("maxpool", "avgpool", "max_pool", "avg_pool"):
        rec = one(kind, {"size": 3, "stride": 2, "padding": 1}, [112, 112, 64])
        assert rec.output == (56, 56, 64) and rec.params == 0 and rec.macs == 0
    assert one("maxpool", 2, [7, 7, 1]).output == (3, 3, 1)           # stride = size
    assert one("maxpool", {"size": 2, "ceil_mode": True}, [7, 7, 1]).output == (4, 4, 1)


def test_global_adaptive_flatten_dense():
    assert one("global_avgpool", None, [7, 7, 512]).output == (1, 1, 512)
    assert one("global_maxpool", {"keepdims": False}, [7, 7, 512]).output == (512,)
    assert one("adaptive_avgpool", 7, [14, 14, 512]).output == (7, 7, 512)
    assert one("adaptive_maxpool", {"output": [2, 3]}, [5, 5, 1]).output == (2, 3, 1)
    assert one("flatten", None, [7, 7, 512]).output == (25088,)
    rec = one("dense", 4096, [25088])
    # Keras VGG16 fc1: 25088 * 4096 + 4096 = 102,764,544
    assert rec.params == 102_764_544 and rec.macs == 25088 * 4096
    rec = one("fc", {"units": 10, "bias": False}, [20])
    assert rec.params == 200


def test_dense_on_a_map_applies_to_the_last_axis_and_warns():
    rec = one("dense", 10, [4, 4, 8])
    assert rec.output == (4, 4, 10) and rec.params == 90 and rec.macs == 16 * 80
    assert rec.warnings and "flatten" in rec.warnings[0]


def test_batchnorm_counts():
    # Keras BatchNormalization on C channels: 2C trainable (gamma, beta) + 2C non-trainable
    # (moving mean, variance); e.g. ResNet50's bn_conv1 on 64 channels: 256 params.
    rec = one("batchnorm", None, [112, 112, 64])
    assert (rec.trainable, rec.non_trainable, rec.params) == (128, 128, 256)
    assert one("bn", None, [100]).params == 400


def test_passthrough_and_misc_layers():
    for name in ("dropout", "identity", "relu", "sigmoid", "tanh", "softmax", "gelu", "silu",
                 "swish", "hardswish", "relu6", "lrn", "leaky_relu"):
        rec = one(name, None, [5, 5, 3])
        assert rec.output == (5, 5, 3) and rec.params == 0 and rec.macs == 0
    assert one("dropout", 0.3, [10]).layer.rate == 0.3
    assert one("pad", [1, 2], [5, 5, 3]).output == (7, 9, 3)
    assert one("pad", [1, 0, 0, 3], [5, 5, 3]).output == (6, 8, 3)
    assert one("upsample", 2, [5, 6, 3]).output == (10, 12, 3)
    assert one("upsample", {"scale": [1, 3]}, [5, 6, 3]).output == (5, 18, 3)
    assert one("crop", [1, 2], [10, 10, 3]).output == (8, 6, 3)


def test_all_activations_valid_as_attribute():
    for act in ACTIVATIONS:
        rec = one("conv", {"filters": 1, "kernel": 1, "activation": act}, [2, 2, 1])
        assert rec.activation == (None if act == "linear" else act)


# --- parameter validation ----------------------------------------------------------------

@pytest.mark.parametrize("type_, params, message", [
    ("conv", {"filters": 3, "kernal": 3}, "unknown parameter 'kernal' for conv (did you mean "
                                          "'kernel'?)"),
    ("conv", {"kernel": 3}, "conv needs 'filters'"),
    ("conv", {"filters": "three", "kernel": 3}, "filters must be an integer, got 'three'"),
    ("conv", {"filters": 2.5, "kernel": 3}, "filters must be an integer, got 2.5"),
    ("conv", {"filters": True, "kernel": 3}, "filters must be an integer, got True"),
    ("conv", {"filters": 0, "kernel": 3}, "filters must be >= 1, got 0"),
    ("conv", {"filters": 4, "kernel": -1}, "kernel must be >= 1"),
    ("conv", {"filters": 4, "kernel": [3, 3, 3]}, "kernel must be an integer or [h, w]"),
    ("conv", {"filters": 4, "kernel": 3, "stride": 0}, "stride must be >= 1, got 0"),
    ("conv", {"filters": 4, "kernel": 3, "padding": -1}, "padding must be >= 0"),
    ("conv", {"filters": 4, "kernel": 3, "padding": "smae"}, "did you mean 'same'?"),
    ("conv", {"filters": 4, "kernel": 3, "padding": [1, 2, 3]}, "padding must be an integer"),
    ("conv", {"filters": 4, "kernel": 3, "bias": "yes"}, "bias must be true or false"),
    ("conv", {"filters": 4, "kernel": 3, "activation": "rleu"}, "did you mean 'relu'?"),
    ("conv", {"filters": 6, "kernel": 3, "groups": 4}, "groups 4 does not divide filters 6"),
    ("conv_transpose", {"filters": 2, "kernel": 3, "stride": 2, "output_padding": 2},
     "output_padding 2 must be smaller than the stride or the dilation (2)"),
    ("conv_transpose", {"filters": 2, "kernel": 3, "padding": "full"},
     "padding of conv_transpose must be"),
    ("maxpool", {"size": 2, "ceil_mode": True, "padding": "same"},
     "ceil_mode cannot be combined with padding 'same'"),
    ("maxpool", {"size": 2, "ceil_mode": True, "padding": 2},
     "ceil_mode needs padding <= size/2"),
    ("dropout", 1.0, "rate must be >= 0.0 and < 1.0, got 1.0"),
    ("dropout", "half", "rate must be a number"),
    ("dense", {"units": 10, "activation": 3}, "activation must be one of"),
    ("flatten", 3, "flatten takes no shorthand value"),
    ("crop", None, "crop needs exactly one of 'cropping' and 'to'"),
])
def test_invalid_parameters(type_, params, message):
    with pytest.raises(CnnCalcError) as info:
        one(type_, params, [16, 16, 4])
    assert message in str(info.value)
    assert "layer 1" in str(info.value)


def test_ceil_mode_padding_rule_regression():
    # Regression: padding above size/2 with ceil_mode used to give *fewer* outputs than floor
    # mode (1x1 input, size 1, padding 1: 2 vs 3), a case PyTorch rejects.
    with pytest.raises(CnnCalcError, match="ceil_mode needs padding <= size/2"):
        one("maxpool", {"size": 1, "padding": 1, "ceil_mode": True}, [1, 1, 1])
    assert one("maxpool", {"size": 2, "padding": 1, "ceil_mode": True}, [5, 5, 1]).output \
        == (3, 3, 1)


@pytest.mark.parametrize("type_, params, shape, message", [
    ("conv", {"filters": 2, "kernel": 7}, [4, 4, 3],
     "kernel 7 is larger than the padded input height 4 (4 + padding 0)"),
    ("conv", {"filters": 2, "kernel": 3, "dilation": 3}, [6, 6, 3],
     "kernel 7 (kernel 3, dilation 3) is larger than the padded input height 6"),
    ("conv", {"filters": 4, "kernel": 1, "groups": 2}, [4, 4, 3],
     "groups 2 does not divide the 3 input channels"),
    ("conv_transpose", {"filters": 1, "kernel": 1, "padding": 1}, [1, 1, 1],
     "output height would be -1"),
    ("conv", {"filters": 2, "kernel": 1}, [10], "conv needs an HxWxC input, got [10]"),
    ("maxpool", 2, [10], "maxpool needs an HxWxC input"),
    ("crop", 3, [5, 5, 1], "cropping [3, 3, 3, 3] leaves -1x-1 of 5x5x1"),
])
def test_shape_errors_name_the_value(type_, params, shape, message):
    with pytest.raises(CnnCalcError) as info:
        one(type_, params, shape)
    text = str(info.value)
    assert message in text and "layer 1" in text and f"({type_})" in text


def test_param_error_is_a_value_error():
    with pytest.raises(ParamError):
        REGISTRY["conv"](filters=0, kernel=3)


def test_layers_share_validated_values_but_never_a_remembered_error():
    """Issue 8: the layers of a long spec share one validated `(3, 3)` kernel (memory); the
    memo is keyed by the raw value's type too (`true` is not 1) and keeps no errors."""
    conv = REGISTRY["conv"]
    a, b = conv(filters=8, kernel=3), conv(filters=8, kernel=3, padding="same")
    c = conv(filters=8, kernel=3, padding="SAME")
    assert a.kernel == (3, 3) and a.kernel is b.kernel and a.stride is b.stride
    assert b.padding == c.padding == "same"
    conv(filters=1, kernel=3)
    for _ in range(2):
        with pytest.raises(ParamError, match="filters must be an integer, got True"):
            conv(filters=True, kernel=3)
        with pytest.raises(ParamError, match="kernel must be >= 1"):
            conv(filters=8, kernel=0)


def test_equal_windows_share_one_geometry_and_errors_are_raised_each_time():
    conv = "  - conv: {filters: 4, kernel: 3, padding: same}\n"
    a = analyse("input: 16x16x4\nlayers:\n" + conv * 3)
    assert a.layers[0].geometry.pads == (1, 1, 1, 1)
    assert a.layers[0].geometry is a.layers[1].geometry is a.layers[2].geometry
    # and one tuple for equal shapes, one number for a square receptive field (issue 8)
    assert a.layers[0].output is a.layers[1].output is a.layers[2].output
    assert a.layers[0].input_shapes is a.layers[1].input_shapes is a.layers[2].input_shapes
    assert a.layers[2].field.rf_w is a.layers[2].field.rf_h
    for _ in range(2):
        with pytest.raises(CnnCalcError, match="kernel 5 is larger than the padded input"):
            analyse("input: 4x4x1\nlayers:\n  - conv: {filters: 1, kernel: 5}\n")


# --- parameter counts and MACs against PyTorch -------------------------------------------

def torch_counts(module) -> tuple[int, int]:
    """(trainable parameters, float buffers): Keras's trainable / non-trainable split."""
    import torch as t
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers() if t.is_floating_point(b))
    return trainable, buffers


def torch_macs(module, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def assert_matches_torch(rec, m, x) -> None:
    """The record's output shape (HxWxC), trainable/non-trainable counts and MACs equal those of
    the torch module ``m`` run on ``x`` (NCHW)."""
    import torch
    with torch.no_grad():
        y = m(x)
    assert rec.output == (y.shape[2], y.shape[3], y.shape[1])
    assert (rec.trainable, rec.non_trainable) == torch_counts(m)
    assert rec.macs == torch_macs(m, x)


torch_settings = settings(max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


@torch_settings
@given(h=st.integers(3, 12), w=st.integers(3, 12), groups=st.sampled_from([1, 2, 3]),
       cpg=st.integers(1, 3), fpg=st.integers(1, 3), f=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), bias=st.booleans())
def test_conv_counts_vs_torch(torch, h, w, groups, cpg, fpg, f, s, p, d, bias):
    c, k = groups * cpg, groups * fpg
    if min(h, w) + 2 * p < d * (f - 1) + 1:
        return
    rec = one("conv", {"filters": k, "kernel": f, "stride": s, "padding": p, "dilation": d,
                       "groups": groups, "bias": bias}, [h, w, c])
    m = torch.nn.Conv2d(c, k, f, stride=s, padding=p, dilation=d, groups=groups, bias=bias)
    x = torch.zeros(1, c, h, w)
    assert_matches_torch(rec, m, x)


@torch_settings
@given(n=st.integers(1, 8), groups=st.sampled_from([1, 2]), cpg=st.integers(1, 3),
       fpg=st.integers(1, 3), f=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 1),
       op=st.integers(0, 2), bias=st.booleans())
def test_conv_transpose_counts_vs_torch(torch, n, groups, cpg, fpg, f, s, p, op, bias):
    c, k = groups * cpg, groups * fpg
    op = op % s
    if (n - 1) * s - 2 * p + f + op <= 0:
        return
    rec = one("conv_transpose", {"filters": k, "kernel": f, "stride": s, "padding": p,
                                 "output_padding": op, "groups": groups, "bias": bias},
              [n, n, c])
    m = torch.nn.ConvTranspose2d(c, k, f, stride=s, padding=p, output_padding=op,
                                 groups=groups, bias=bias)
    x = torch.zeros(1, c, n, n)
    assert_matches_torch(rec, m, x)


@torch_settings
@given(n=st.integers(3, 10), c=st.integers(1, 6), mult=st.integers(1, 3), f=st.integers(1, 3),
       s=st.integers(1, 2), bias=st.booleans())
def test_depthwise_counts_vs_torch(torch, n, c, mult, f, s, bias):
    # depthwise = conv with groups = C_in (PyTorch: Conv2d(C, C*m, f, groups=C))
    rec = one("depthwise_conv", {"kernel": f, "stride": s, "depth_multiplier": mult,
                                 "bias": bias}, [n, n, c])
    m = torch.nn.Conv2d(c, c * mult, f, stride=s, groups=c, bias=bias)
    x = torch.zeros(1, c, n, n)
    assert_matches_torch(rec, m, x)


@torch_settings
@given(n=st.integers(3, 10), c=st.integers(1, 6), mult=st.integers(1, 2), k=st.integers(1, 8),
       f=st.integers(1, 3), bias=st.booleans())
def test_separable_counts_vs_torch(torch, n, c, mult, k, f, bias):
    # Keras SeparableConv2D = depthwise (no bias) then 1x1 pointwise (bias)
    rec = one("separable_conv", {"filters": k, "kernel": f, "depth_multiplier": mult,
                                 "bias": bias}, [n, n, c])
    m = torch.nn.Sequential(torch.nn.Conv2d(c, c * mult, f, groups=c, bias=False),
                            torch.nn.Conv2d(c * mult, k, 1, bias=bias))
    x = torch.zeros(1, c, n, n)
    assert_matches_torch(rec, m, x)


@torch_settings
@given(n_in=st.integers(1, 300), units=st.integers(1, 300), bias=st.booleans())
def test_dense_counts_vs_torch(torch, n_in, units, bias):
    rec = one("dense", {"units": units, "bias": bias}, [n_in])
    m = torch.nn.Linear(n_in, units, bias=bias)
    x = torch.zeros(1, n_in)
    assert rec.output == (units,)
    assert (rec.trainable, rec.non_trainable) == torch_counts(m)
    assert rec.macs == torch_macs(m, x)


@pytest.mark.parametrize("c", [1, 3, 64, 2048])
def test_batchnorm_counts_vs_torch(torch, c):
    # trainable = gamma, beta (parameters); non-trainable = running mean and variance
    # (float buffers; num_batches_tracked is an integer counter, not a value of the model)
    rec = one("batchnorm", None, [4, 4, c])
    assert (rec.trainable, rec.non_trainable) == torch_counts(torch.nn.BatchNorm2d(c))


@pytest.mark.parametrize("type_, params, make", [
    ("adaptive_avgpool", [3, 2], lambda t: t.nn.AdaptiveAvgPool2d((3, 2))),
    ("adaptive_maxpool", 4, lambda t: t.nn.AdaptiveMaxPool2d(4)),
    ("upsample", 3, lambda t: t.nn.Upsample(scale_factor=3, mode="nearest")),
    ("pad", [1, 2, 3, 4], lambda t: t.nn.ZeroPad2d((3, 4, 1, 2))),   # torch: (l, r, t, b)
    ("global_avgpool", None, lambda t: t.nn.AdaptiveAvgPool2d(1)),
    ("flatten", None, None),
])
def test_other_spatial_layers_vs_torch(torch, type_, params, make):
    h, w, c = 9, 7, 5
    rec = one(type_, params, [h, w, c])
    x = torch.zeros(1, h, w, c)                   # channels-last, flattened in H, W, C order
    if make is None:
        assert rec.output == (x.flatten(1).shape[1],)
        return
    y = make(torch)(x.permute(0, 3, 1, 2))
    assert rec.output == (y.shape[2], y.shape[3], y.shape[1])


# --- channel_shuffle (ShuffleNet, Zhang et al. 2018) ---------------------------------------

def test_channel_shuffle_is_a_permutation():
    rec = one("channel_shuffle", 2, [7, 5, 6])
    assert rec.output == (7, 5, 6) and rec.params == 0 and rec.macs == 0
    with pytest.raises(CnnCalcError, match="groups 4 does not divide the 6 channels"):
        one("channel_shuffle", 4, [7, 5, 6])
    with pytest.raises(CnnCalcError, match="channel_shuffle needs 'groups'"):
        one("channel_shuffle", None, [7, 5, 6])


def test_channel_shuffle_run_orders_channels_like_shufflenet():
    # ShuffleNet, Fig. 1(c): 2 groups of 3 channels [a0 a1 a2 | b0 b1 b2] -> a0 b0 a1 b1 a2 b2
    import numpy as np

    from cnncalc import engine
    a = cnncalc.analyse(cnncalc.loads('{"input": [1, 1, 6], "layers": [{"channel_shuffle": 2}]}'))
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)
    assert engine.run(a, x).output.ravel().tolist() == [0, 3, 1, 4, 2, 5]


@settings(max_examples=30, deadline=None)
@given(g=st.integers(1, 4), cpg=st.integers(1, 5), h=st.integers(1, 4), n=st.integers(1, 2))
def test_channel_shuffle_run_matches_torch(torch, g, cpg, h, n):
    import numpy as np

    from cnncalc import engine
    c = g * cpg
    a = cnncalc.analyse(cnncalc.loads(json.dumps(
        {"input": [h, h + 1, c], "layers": [{"channel_shuffle": {"groups": g}}]})))
    x = np.random.default_rng(0).standard_normal((n, h, h + 1, c)).astype(np.float32)
    ours = engine.run(a, x).output
    ref = torch.nn.functional.channel_shuffle(torch.from_numpy(x).permute(0, 3, 1, 2), g)
    assert np.array_equal(ours, ref.permute(0, 2, 3, 1).numpy())


# --- chunk (torch.chunk along the channels; Darknet's route groups/group_id) ----------------

def test_chunk_takes_one_slice_of_the_channels():
    rec = one("chunk", {"groups": 2, "index": 1}, [13, 13, 64])
    assert rec.output == (13, 13, 32) and rec.params == 0 and rec.macs == 0
    assert one("chunk", {"chunks": 4, "group_id": 3}, [8]).output == (2,)   # aliases
    with pytest.raises(CnnCalcError, match="index 2 must be smaller than groups 2"):
        one("chunk", {"groups": 2, "index": 2}, [4, 4, 8])
    with pytest.raises(CnnCalcError, match="groups 3 does not divide the 8 channels"):
        one("chunk", 3, [4, 4, 8])


@settings(max_examples=30, deadline=None)
@given(g=st.integers(1, 4), cpg=st.integers(1, 5), i=st.integers(0, 3), n=st.integers(1, 2))
def test_chunk_run_matches_torch(torch, g, cpg, i, n):
    import numpy as np

    from cnncalc import engine
    i = i % g
    c = g * cpg
    a = cnncalc.analyse(cnncalc.loads(json.dumps(
        {"input": [3, 4, c], "layers": [{"chunk": {"groups": g, "index": i}}]})))
    x = np.random.default_rng(0).standard_normal((n, 3, 4, c)).astype(np.float32)
    ours = engine.run(a, x).output
    ref = torch.from_numpy(x).permute(0, 3, 1, 2).chunk(g, dim=1)[i]
    assert np.array_equal(ours, ref.permute(0, 2, 3, 1).numpy())


# --- mish, reshape (issue 11: the readers need them) ---------------------------------------

def test_mish_is_an_activation_layer_and_attribute():
    rec = one("mish", None, [5, 5, 3])
    assert rec.output == (5, 5, 3) and rec.params == 0 and rec.macs == 0
    rec = one("conv", {"filters": 4, "kernel": 3, "activation": "mish"}, [8, 8, 3])
    assert rec.activation == "mish" and rec.params == 3 * 3 * 3 * 4 + 4


def test_reshape_keeps_the_values():
    # Keras EfficientNet's se_reshape: GlobalAveragePooling2D [96] → Reshape (1, 1, 96)
    assert one("reshape", [1, 1, 96], [96]).output == (1, 1, 96)
    assert one("reshape", [-1], [7, 7, 512]).output == (25088,)
    assert one("reshape", {"target_shape": [128, -1]}, [64, 64, 2]).output == (128, 64)
    with pytest.raises(CnnCalcError, match="cannot reshape 5x5x3 .75 values. to 8x8x1"):
        one("reshape", [8, 8, 1], [5, 5, 3])
    with pytest.raises(CnnCalcError, match="may have one -1"):
        one("reshape", [-1, -1], [4])


def test_mish_reshape_vs_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from test_forward import inputs, nchw, nhwc, run_npz
    a = cnncalc.analyse(cnncalc.loads("input: 4x5x6\nlayers: [mish]"))
    x = inputs((4, 5, 6), scale=8.0)
    x[0, 0, 0, :] = [-90, -25, -3, 3, 25, 90]
    want = nhwc(torch.nn.functional.mish(nchw(x)))
    np.testing.assert_allclose(run_npz(a, x, {}, tmp_path), want, rtol=2e-4, atol=1e-5)
    a = cnncalc.analyse(cnncalc.loads("input: 4x5x6\nlayers: [{reshape: [20, -1]}]"))
    np.testing.assert_allclose(run_npz(a, x, {}, tmp_path), x.reshape(2, 20, 6))


def test_rescaling_and_normalization():
    # Keras: Rescaling(1/255) has no weights; Normalization() on RGB holds mean (3), variance (3)
    # and count (1): EfficientNetB0's 7 non-trainable input values
    rec = one("rescaling", {"scale": 0.00392156862745098}, [224, 224, 3])
    assert rec.output == (224, 224, 3) and rec.params == 0
    assert one("rescaling", {"scale": [1, 2, 3], "offset": -1}, [4, 4, 3]).params == 0
    with pytest.raises(CnnCalcError, match="scale has 2 values for 3 channels"):
        one("rescaling", {"scale": [1, 2]}, [4, 4, 3])
    rec = one("normalization", None, [224, 224, 3])
    assert (rec.trainable, rec.non_trainable) == (0, 7)


def test_rescaling_and_normalization_run(tmp_path):
    from test_forward import inputs, run_npz
    a = cnncalc.analyse(cnncalc.loads(
        "input: 3x3x2\nlayers: [{rescaling: {scale: [2, 3], offset: 1}}, normalization]"))
    x = inputs((3, 3, 2))
    mean, var = np.array([0.5, -1], np.float32), np.array([4, 0.25], np.float32)
    p = {"normalization_1.mean": mean, "normalization_1.var": var,
         "normalization_1.count": np.array(9, np.float32)}
    want = ((x * [2, 3] + 1) - mean) / np.sqrt(var)
    np.testing.assert_allclose(run_npz(a, x, p, tmp_path), want, rtol=1e-6)


# --- layernorm, layer_scale, stochastic_depth, resize (issue 10 item 4) ---------------------------

def _run(text: str, x: np.ndarray, weights: dict | None = None) -> np.ndarray:
    from cnncalc import engine
    a = cnncalc.analyse(cnncalc.loads(text))
    res = engine.run(a, x, DictWeights(weights) if weights is not None else None)
    assert res.failure is None and res.verified, res.failure
    return res.output


def test_layernorm_counts():
    # ConvNeXt-T's LayerNorm2d(96) after the stem: γ and β, 2·96 = 192 values, all trainable
    # (torchvision convnext_tiny: features.0.1.weight, features.0.1.bias); no running statistics
    rec = one("layernorm", 1e-6, [56, 56, 96])
    assert (rec.output, rec.trainable, rec.non_trainable, rec.macs) == ((56, 56, 96), 192, 0, 0)
    assert rec.layer.epsilon == 1e-6
    assert one("layer_norm", None, [768]).params == 1536       # the classifier's LayerNorm2d
    assert one("layernorm", {"affine": False}, [4, 4, 8]).params == 0
    assert one("layernorm", {"bias": False, "eps": 1e-5}, [4, 4, 8]).params == 8
    with pytest.raises(CnnCalcError, match="epsilon must be a number"):
        one("layernorm", "tiny", [4, 4, 8])


def test_layer_scale_and_stochastic_depth_counts():
    # ConvNeXt's CNBlock: layer_scale = nn.Parameter(ones(dim, 1, 1) * 1e-6): dim values;
    # StochasticDepth has none
    rec = one("layer_scale", None, [7, 7, 768])
    assert (rec.output, rec.trainable, rec.non_trainable, rec.macs) == ((7, 7, 768), 768, 0, 0)
    assert one("layer_scale", None, [10]).params == 10
    rec = one("stochastic_depth", {"p": 0.1, "mode": "row"}, [7, 7, 768])
    assert (rec.output, rec.params, rec.macs) == ((7, 7, 768), 0, 0)
    assert one("drop_path", 0.0, [5]).output == (5,)
    for params, message in (({"rate": 1.5}, "rate must be >= 0.0 and <= 1.0"),
                            ({"mode": "rows"}, "mode must be row or batch, got 'rows' (did you "
                                               "mean 'row'?)")):
        with pytest.raises(CnnCalcError) as info:
            one("stochastic_depth", params, [4, 4, 2])
        assert message in str(info.value)


@pytest.mark.parametrize("params, shape, out", [
    ({"scale": 2}, [5, 7, 3], (10, 14, 3)),
    ({"scale": 1.5, "mode": "bilinear"}, [5, 7, 3], (7, 10, 3)),     # ⌊5·1.5⌋, ⌊7·1.5⌋
    ({"scale": "2x1"}, [5, 7, 3], (10, 7, 3)),
    ({"scale": [0.5, 0.25]}, [9, 9, 3], (4, 2, 3)),
    ({"size": [65, 65], "mode": "bilinear", "align_corners": True}, [33, 33, 3], (65, 65, 3)),
    ({"size": "1x1"}, [9, 9, 3], (1, 1, 3)),
])
def test_resize_shapes(params, shape, out):
    rec = one("resize", params, shape)
    assert (rec.output, rec.params, rec.macs) == (out, 0, 0)


def test_resize_to_another_layer():
    """DeepLabV3's ASPP pooling branch: a global pool, a 1x1 conv, then bilinear back to the
    size of the branch input; FCN: the head's output upsampled to the network input."""
    a = cnncalc.analyse(cnncalc.loads("""
        input: 520x520x3
        layers:
          - conv: {filters: 8, kernel: 3, stride: 8, padding: 1, name: features}
          - global_avgpool
          - conv: {filters: 4, kernel: 1}
          - resize: {to: features, mode: bilinear, align_corners: false, name: up}
          - resize: {to: input, mode: bilinear, name: out}
        """))
    assert a.layers[3].output == (65, 65, 4) and a.layers[3].inputs == (3, 1)
    assert a.output == (520, 520, 4)
    assert float(a.layers[-1].field.jump_h) == 1.0


@pytest.mark.parametrize("params, message", [
    ({}, "resize needs exactly one of 'scale', 'size' and 'to'"),
    ({"scale": 2, "size": 3}, "resize needs exactly one of"),
    ({"scale": 2, "align_corners": True}, "align_corners applies to mode: bilinear only"),
    ({"scale": 0}, "scale must be a positive number"),
    ({"scale": 0.01}, "scale [0.01, 0.01] makes 5x7 0x0"),
    ({"scale": 2, "mode": "bicubic"}, "mode must be nearest or bilinear, got 'bicubic'"),
])
def test_resize_errors(params, message):
    with pytest.raises(CnnCalcError) as info:
        one("resize", params, [5, 7, 3])
    assert message in str(info.value)
    with pytest.raises(CnnCalcError, match="resize needs an HxWxC input"):
        one("resize", {"scale": 2}, [5])


def test_new_layer_types_vs_torch_modules(torch):
    from conftest import layer_norm_2d
    """Shapes, trainable/non-trainable counts and MACs against torchvision's own modules."""
    x = torch.randn(2, 24, 7, 9)
    assert_matches_torch(one("layernorm", 1e-6, [7, 9, 24]), layer_norm_2d(torch, 24), x)
    rec = one("stochastic_depth", 0.3, [7, 9, 24])
    assert rec.output == (7, 9, 24) and rec.params == 0
    scale = torch.nn.Module()
    scale.gamma = torch.nn.Parameter(torch.ones(24, 1, 1) * 1e-6)
    scale.forward = lambda t: scale.gamma * t
    assert_matches_torch(one("layer_scale", None, [7, 9, 24]), scale, x)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 4), n=st.integers(1, 2),
       affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-6, 1e-3]))
def test_layernorm_run_matches_torch(torch, h, w, c, n, affine, eps):
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    x = (rng.standard_normal((n, h, w, c)) * 3 + 1).astype(np.float32)
    p = {"ln.gamma": rng.standard_normal(c).astype(np.float32),
         "ln.beta": rng.standard_normal(c).astype(np.float32)} if affine else {}
    got = _run(json.dumps({"input": [h, w, c], "layers": [
        {"layernorm": {"epsilon": eps, "affine": affine, "name": "ln"}}]}), x, p)
    t = torch.from_numpy(x)          # channels last: LayerNorm(C) over the last axis
    want = torch.nn.functional.layer_norm(
        t, (c,), torch.from_numpy(p["ln.gamma"]) if affine else None,
        torch.from_numpy(p["ln.beta"]) if affine else None, eps)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=2e-5)
    v = (rng.standard_normal((n, c * 3)) * 2).astype(np.float32)      # a vector
    got = _run(json.dumps({"input": [c * 3], "layers": [{"layernorm": {"name": "ln"}}]}), v,
               {"ln.gamma": np.ones(c * 3, np.float32), "ln.beta": np.zeros(c * 3, np.float32)})
    want = torch.nn.functional.layer_norm(torch.from_numpy(v), (c * 3,))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=2e-5)


def test_layer_scale_and_stochastic_depth_run(torch):
    from conftest import stochastic_depth
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    gamma = rng.standard_normal(5).astype(np.float32)
    got = _run("input: 3x4x5\nlayers: [layer_scale: {name: s}, stochastic_depth: 0.5]", x,
               {"s.gamma": gamma})
    ref = torch.from_numpy(gamma).reshape(5, 1, 1) * torch.from_numpy(x).permute(0, 3, 1, 2)
    ref = stochastic_depth(torch, ref, 0.5, "row", training=False)   # identity at inference
    np.testing.assert_array_equal(got, ref.permute(0, 2, 3, 1).numpy())


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), n=st.integers(1, 2),
       mode=st.sampled_from(["nearest", "bilinear"]), align=st.booleans(),
       how=st.sampled_from(["scale", "size"]),
       scale=st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 2.5, 0.75]),
       size=st.tuples(st.integers(1, 17), st.integers(1, 17)))
def test_resize_matches_torch_interpolate(torch, h, w, n, mode, align, how, scale, size):
    """Shape and values against F.interpolate (by scale_factor, where torch places the samples
    by the factor, and by size), nearest and bilinear, align_corners both ways."""
    params: dict = {"mode": mode}
    kw: dict = {"mode": mode}
    if how == "scale":
        if math.floor(h * scale) < 1 or math.floor(w * scale) < 1:
            return
        params["scale"] = scale
        kw["scale_factor"] = scale
    else:
        params["size"] = list(size)
        kw["size"] = size
    if mode == "bilinear":
        params["align_corners"] = kw["align_corners"] = align
    x = np.random.default_rng(h * 10 + w).standard_normal((n, h, w, 3)).astype(np.float32)
    got = _run(json.dumps({"input": [h, w, 3], "layers": [{"resize": params}]}), x)
    want = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), **kw)
    np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-5)


def test_resize_to_runs_like_torch(torch):
    x = np.random.default_rng(3).standard_normal((2, 33, 31, 4)).astype(np.float32)
    got = _run("""
        input: 33x31x4
        layers:
          - maxpool: {size: 3, stride: 2, name: small}
          - global_avgpool
          - resize: {to: small, mode: bilinear, align_corners: false}
          - resize: {to: input, mode: bilinear, align_corners: true}
        """, x)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    small = torch.nn.functional.max_pool2d(t, 3, 2)
    y = torch.nn.functional.interpolate(small.mean((2, 3), keepdim=True), size=small.shape[2:],
                                        mode="bilinear", align_corners=False)
    y = torch.nn.functional.interpolate(y, size=(33, 31), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(got, y.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-6)

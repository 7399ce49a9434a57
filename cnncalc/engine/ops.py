"""The layer operations: :data:`OPS` maps the name a layer class gives in ``op`` (by default its
type name) to an :class:`Op`, the function that runs the layer and the one that tells the planner
what scratch memory it allocates besides its output. Each operation reads the layer's attributes
(its ``kind``, ``function``, strides, padding, ...) and calls a kernel; nothing here branches on a
type name.

The table is built once, here, and never changed while cnncalc runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from .activations import TEMPORARIES, activate
from .config import F32, EngineConfig
from .conv import (conv2d, conv_prepare, conv_transpose2d, conv_workspace, depthwise,
                   depthwise_workspace, transposed_workspace)
from .dense import dense
from .geometry import Pads, Pair, resolve_pads
from .pool import adaptive_pool2d, lrn, pool2d, pool_workspace
from .resize import centre_crop, crop, pad_nhwc, resize, upsample_nearest
from .threads import Engine

if TYPE_CHECKING:
    from ..analysis import LayerRecord
    from ..layers.activation import Activation
    from ..layers.conv import Conv, ConvTranspose, DepthwiseConv, SeparableConv, Sliding
    from ..layers.norm import LRN, BatchNorm
    from ..layers.pooling import AdaptivePool, GlobalPool, Pool
    from ..layers.shape_ops import Crop, Pad, Resize, Upsample


class Ctx(NamedTuple):
    """What an operation (or a layer's own ``forward``) gets besides its inputs."""
    rec: LayerRecord
    params: dict[str, Any]         # the layer's arrays by key (np.ndarray or StreamedUniform)
    inplace: bool                  # input 0 may be overwritten (nothing else needs it)
    engine: Engine                 # the run: its threads and config


Run = Callable[[Ctx, list[np.ndarray]], np.ndarray]
Workspace = Callable[["LayerRecord", int, EngineConfig], int]
# weight preparation (record, arrays by key, engine, batch) → arrays by key, run with the weights
Prepare = Callable[["LayerRecord", dict[str, Any], Engine, int], dict[str, Any]]


def no_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """An operation that allocates nothing but its output (or returns a view)."""
    return 0


def input_copies(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """An operation that builds input-sized temporaries: three are counted."""
    return 3 * math.prod(rec.input_shapes[0]) * 4 * batch


class Op(NamedTuple):
    run: Run
    workspace: Workspace = no_workspace
    prepare: Prepare | None = None


def _act(ctx: Ctx) -> tuple[str | None, float]:
    return ctx.rec.activation, 0.01


def _pads(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, padding: str | Pads,
          kind: str = "window") -> Pads:
    return resolve_pads(kind, x.shape[1:3], kernel, stride, dilation, padding)


def _conv_pads(lay: Sliding, x: np.ndarray, kind: str = "window") -> Pads:
    return _pads(x, lay.kernel, lay.stride, lay.dilation, lay.padding, kind)


def _conv(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("Conv", ctx.rec.layer)
    act, alpha = _act(ctx)
    return conv2d(ctx.engine, xs[0], ctx.params["weight"], ctx.params.get("bias"), lay.stride,
                  lay.dilation, _conv_pads(lay, xs[0]), lay.groups, act, alpha,
                  ctx.params.get("winograd"))


def _depthwise_conv(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("DepthwiseConv", ctx.rec.layer)
    act, alpha = _act(ctx)
    return conv2d(ctx.engine, xs[0], ctx.params["weight"], ctx.params.get("bias"), lay.stride,
                  lay.dilation, _conv_pads(lay, xs[0]), xs[0].shape[-1], act, alpha)


def _separable(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("SeparableConv", ctx.rec.layer)
    mid = depthwise(ctx.engine, xs[0], ctx.params["depthwise"], lay.stride, lay.dilation,
                    _conv_pads(lay, xs[0]))
    act, alpha = _act(ctx)
    return conv2d(ctx.engine, mid, ctx.params["pointwise"], ctx.params.get("bias"), (1, 1),
                  (1, 1), (0, 0, 0, 0), 1, act, alpha)


def _conv_transpose(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("ConvTranspose", ctx.rec.layer)
    out = conv_transpose2d(ctx.engine, xs[0], ctx.params["weight"], ctx.params.get("bias"),
                           lay.stride, lay.dilation, _conv_pads(lay, xs[0], "transposed"),
                           lay.output_padding, lay.groups)
    act, alpha = _act(ctx)
    return activate(out, act, True, alpha)


def _pool(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("Pool", ctx.rec.layer)
    pads = _pads(xs[0], lay.size, lay.stride, (1, 1), lay.padding)
    return pool2d(ctx.engine, xs[0], lay.kind, lay.size, lay.stride, pads, lay.ceil_mode,
                  getattr(lay, "count_include_pad", True))


def _global_pool(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("GlobalPool", ctx.rec.layer)
    if lay.kind == "max":
        return xs[0].max(axis=(1, 2), keepdims=lay.keepdims)
    return xs[0].mean(axis=(1, 2), keepdims=lay.keepdims, dtype=F32)


def _adaptive(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("AdaptivePool", ctx.rec.layer)
    return adaptive_pool2d(xs[0], lay.kind, lay.output)


def _flatten(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0].reshape(xs[0].shape[0], -1)      # H×W×C order (channels fastest)


def _dense(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    act, alpha = _act(ctx)
    return dense(ctx.engine, xs[0], ctx.params["weight"], ctx.params.get("bias"), act, alpha)


def _identity(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0]                                  # dropout is the identity at inference


def _batchnorm(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    p = ctx.params
    eps = F32(cast("BatchNorm", ctx.rec.layer).epsilon)
    scale = p["gamma"] / np.sqrt(p["var"] + eps)
    shift = p["beta"] - p["mean"] * scale
    x = xs[0]
    if ctx.inplace:
        x *= scale
        x += shift
        return x
    out = x * scale
    out += shift
    return out


def _activation(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("Activation", ctx.rec.layer)
    return activate(xs[0], lay.function, ctx.inplace, getattr(lay, "alpha", 0.01))


def _activation_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """An activation that builds temporaries (:data:`~.activations.TEMPORARIES`): three
    input-sized arrays; none for those computed in place."""
    function = cast("Activation", rec.layer).function
    return input_copies(rec, batch, config) if function in TEMPORARIES else 0


def _lrn(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("LRN", ctx.rec.layer)
    return lrn(xs[0], lay.size, lay.alpha, lay.beta, lay.k)


def _pad(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return pad_nhwc(ctx.engine, xs[0], *cast("Pad", ctx.rec.layer).padding)


def _upsample(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return upsample_nearest(xs[0], *cast("Upsample", ctx.rec.layer).scale)


def _resize(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("Resize", ctx.rec.layer)
    h, w = xs[0].shape[1:3]
    out_h, out_w = lay.target(h, w, xs[1].shape[1:3] if lay.to is not None else None)
    scale_h, scale_w = lay.scale if lay.scale is not None else (None, None)
    return resize(xs[0], out_h, out_w, lay.mode, bool(lay.align_corners), scale_h, scale_w)


def _resize_workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """The rows gathered at the output's height (two, and their blend), then the columns."""
    (_, w, c), (oh, ow, _) = rec.input_shapes[0], rec.output
    return 4 * batch * c * (3 * oh * w + 2 * oh * ow)


def _crop(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = cast("Crop", ctx.rec.layer)
    if lay.to is not None:      # a centre crop to the other input's H×W
        return centre_crop(xs[0], *xs[1].shape[1:3])
    assert lay.cropping is not None
    return crop(xs[0], *lay.cropping)


def _add(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    out = xs[0] if ctx.inplace else xs[0].copy()
    for x in xs[1:]:
        out += x
    return out


def _align(x: np.ndarray, rank: int) -> np.ndarray:
    """A gate of lower rank (N×C against N×H×W×C) as N×1×1×C for broadcasting."""
    if x.ndim < rank:
        return x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])
    return x


def _multiply(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    rank = max(x.ndim for x in xs)
    out = _align(xs[0], rank)
    for x in xs[1:]:
        out = out * _align(x, rank)
    return out


def _concat(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


_ACTIVATION = Op(_activation, _activation_workspace)
_POOL = Op(_pool, pool_workspace)
_ADAPTIVE = Op(_adaptive, input_copies)

OPS: dict[str, Op] = {
    "conv": Op(_conv, conv_workspace, conv_prepare),
    "depthwise_conv": Op(_depthwise_conv, depthwise_workspace),
    "separable_conv": Op(_separable, depthwise_workspace),
    "conv_transpose": Op(_conv_transpose, transposed_workspace),
    "maxpool": _POOL,
    "avgpool": _POOL,
    "global_avgpool": Op(_global_pool),
    "global_maxpool": Op(_global_pool),
    "adaptive_avgpool": _ADAPTIVE,
    "adaptive_maxpool": _ADAPTIVE,
    "flatten": Op(_flatten),
    "dense": Op(_dense),
    "identity": Op(_identity),
    "dropout": Op(_identity),
    "batchnorm": Op(_batchnorm),
    **{name: _ACTIVATION for name in ("relu", "sigmoid", "tanh", "gelu", "hardswish", "relu6",
                                      "hardsigmoid", "elu", "selu", "softplus", "silu",
                                      "leaky_relu", "softmax")},
    "lrn": Op(_lrn, input_copies),
    "pad": Op(_pad, input_copies),
    "upsample": Op(_upsample),
    "crop": Op(_crop),
    "resize": Op(_resize, _resize_workspace),
    "add": Op(_add),
    "multiply": Op(_multiply, input_copies),
    "concat": Op(_concat),
}


def workspace(rec: LayerRecord, batch: int, config: EngineConfig) -> int:
    """Scratch bytes a layer allocates besides its output, as its operation declares them (a
    layer with its own ``forward``: none)."""
    op = OPS.get(rec.layer.op)
    if op is None or getattr(rec.layer, "forward", None) is not None:
        return 0
    return op.workspace(rec, batch, config)

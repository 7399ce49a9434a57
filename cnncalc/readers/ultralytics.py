"""Ultralytics model YAML (the ``backbone:``/``head:`` files of YOLOv8 and its relatives) → a
cnncalc spec mapping.

Written from the format's public description, not from Ultralytics' code (AGPL-3.0): each layer
is ``[from, repeats, module, args]``; ``from`` is -1 (the previous layer), a layer index or a
list of them; ``scales:`` maps n/s/m/l/x to ``[depth, width, max_channels]`` and the scale is the
letter after the version in the file name (``yolov8s.yaml``), or ``--scale``. A module's output
channels ``c2`` become ``make_divisible(min(c2, max_channels) · width, 8)`` (rounded up to a
multiple of 8), its repeats ``max(round(n · depth), 1)`` when n > 1.

The modules, as the published architecture describes them (c1 input channels, c2 output):

- ``Conv(c2, k=1, s=1)``: convolution without bias, padding k//2, batchnorm (eps 0.001), SiLU.
- ``Bottleneck``: Conv(c2·e, k1) → Conv(c2, k2), added to its input when it has c2 channels
  and ``shortcut``.
- ``C2f(c2, shortcut=False)``: Conv(2c, 1) split into two halves; n Bottlenecks (c → c, 3×3,
  e = 1) chained on the second half; all 2 + n pieces concatenated; Conv(c2, 1); c = c2/2.
- ``C3(c2, shortcut=True)``: Conv(c_, 1) → n Bottlenecks (1×1 then 3×3), concatenated with a
  second Conv(c_, 1) of the input; Conv(c2, 1); c_ = c2/2.
- ``C3k2(c2, c3k=False, e=0.5)``: C2f's layout with Bottlenecks (e = 0.5), or with C3k blocks
  (a C3 of two 3×3 Bottlenecks) when c3k, which the m, l and x scales always use.
- ``SPPF(c2, k=5)``: Conv(c1/2, 1), three chained k×k stride-1 max pools, the four
  concatenated, Conv(c2, 1).
- ``nn.Upsample(None, 2, 'nearest')``, ``Concat(1)``.
- ``Detect(nc)``: per input level a box branch (two 3×3 Convs of max(16, c1₀/4, 64) channels and a
  1×1 convolution to 4·16 distribution bins, with bias) and a class branch (two 3×3 Convs of
  max(c1₀, min(nc, 100)) channels and a 1×1 convolution to nc, with bias; yolo11-style files,
  those with C3k2, use a depthwise 3×3 + 1×1 pair for each of the two). Then the DFL: softmax
  over each side's 16 bins and a fixed 1×1 convolution 16 → 1 without bias (its 16 weights are
  frozen in training; cnncalc counts them as trainable parameters, as PyTorch's parameter count
  and the published totals do), to an output of anchors × (4 + nc). The anchor and stride
  decoding that follows has no parameters and is left out.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import CnnCalcError
from ..layers import suggest
from ..limits import MAX_LAYERS
from ..source import LDict, parse_yaml
from . import entry, seq

REG_MAX = 16
MODULES = ("Conv", "C2f", "C3", "C3k2", "SPPF", "Bottleneck", "Concat", "nn.Upsample", "Detect")
KNOWN_KEYS = ("nc", "scales", "backbone", "head", "depth_multiple", "width_multiple",
              "max_channels", "ch", "channels", "kpt_shape", "activation", "scale", "imgsz")
IMAGE_SIZE = 640


def make_divisible(x: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` that is at least ``x``."""
    return math.ceil(x / divisor) * divisor


def _rest(args: list, *defaults: Any) -> list:
    """A module's arguments after c2, with the defaults of those not given."""
    if len(args) - 1 > len(defaults):
        raise ValueError(f"at most {len(defaults) + 1} arguments")
    return list(args[1:]) + list(defaults[len(args) - 1:])


def scale_letter(stem: str) -> str | None:
    """The scale in a file name: the letter after the version, ``yolov8s`` → ``s``."""
    m = re.search(r"\d+([nslmx])(?![a-z])", stem.lower())
    return m.group(1) if m else None


def read(text: str, label: str, stem: str, scale: str | None = None) -> dict:
    doc = parse_yaml(text, label)
    if not isinstance(doc, dict):
        raise CnnCalcError("an Ultralytics model YAML is a mapping with backbone: and head:",
                           file=label)
    for key in doc:
        if key not in KNOWN_KEYS:
            raise CnnCalcError(f"unknown top-level key {key!r}{suggest(str(key), KNOWN_KEYS)}",
                               file=label, line=getattr(doc, "line", None))
    if doc.get("activation") not in (None, "nn.SiLU()"):
        raise CnnCalcError(f"activation {doc['activation']!r} is not supported (Conv uses SiLU)",
                           file=label)
    nc = doc.get("nc", 80)
    if not isinstance(nc, int) or isinstance(nc, bool) or nc < 1:
        raise CnnCalcError(f"nc must be a positive integer, got {nc!r}", file=label)
    depth, width, max_channels, note = _multipliers(doc, label, stem, scale)
    layers = doc.get("backbone"), doc.get("head")
    for part, value in zip(("backbone", "head"), layers):
        if not isinstance(value, list) or not value:
            raise CnnCalcError(f"'{part}' must be a non-empty list of [from, repeats, module, "
                               f"args]", file=label, line=getattr(value, "line", None))
    entries: list[Any] = [*(layers[0] or ()), *(layers[1] or ())]
    if len(entries) > MAX_LAYERS:
        raise CnnCalcError(f"more than {MAX_LAYERS:,} layers (docs/LIMITS.md)", file=label)
    channels = doc.get("ch", doc.get("channels", 3))
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise CnnCalcError(f"ch must be a positive integer, got {channels!r}", file=label)
    uses_c3k2 = any(isinstance(e, list) and len(e) > 2 and e[2] == "C3k2" for e in entries)
    b = _Builder(label, nc, depth, width, max_channels, scale_letter(stem) if scale is None
                 else scale, legacy=not uses_c3k2)
    b.ch = [channels]
    for i, item in enumerate(entries):
        b.layer(i, item)
    out = LDict(name=stem, description=f"Ultralytics {stem}{note}")
    out.line = 1
    out["input"] = [IMAGE_SIZE, IMAGE_SIZE, channels]
    out["blocks"] = b.blocks
    out["layers"] = b.layers
    return out


def _multipliers(doc: dict, label: str, stem: str,
                 scale: str | None) -> tuple[float, float, float, str]:
    scales = doc.get("scales")
    if not scales:
        if scale is not None:
            raise CnnCalcError(f"--scale {scale}: the file has no scales:", file=label)
        return (float(doc.get("depth_multiple", 1.0)), float(doc.get("width_multiple", 1.0)),
                float(doc.get("max_channels", math.inf)), "")
    if not isinstance(scales, dict):
        raise CnnCalcError("scales: must map n/s/m/l/x to [depth, width, max_channels]",
                           file=label, line=getattr(scales, "line", None))
    letter = scale or scale_letter(stem)
    note = f", scale {letter}"
    if letter is None:
        letter = next(iter(scales))
        note = f", scale {letter} (the first: the file name has no scale letter; see --scale)"
    if letter not in scales:
        raise CnnCalcError(f"scale {letter!r} is not in the file's scales: "
                           f"{', '.join(map(str, scales))}", file=label,
                           line=getattr(scales, "line", None))
    values = scales[letter]
    if not (isinstance(values, list) and len(values) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)):
        raise CnnCalcError(f"scale {letter}: expected [depth, width, max_channels], got "
                           f"{values!r}"[:200], file=label, line=getattr(values, "line", None))
    return float(values[0]), float(values[1]), float(values[2]), note


class _Builder:
    def __init__(self, label: str, nc: int, depth: float, width: float, max_channels: float,
                 scale: str | None, legacy: bool):
        self.label = label
        self.nc = nc
        self.depth = depth
        self.width = width
        self.max_channels = max_channels
        self.scale = scale
        self.legacy = legacy
        self.ch: list[int] = []
        self.names: list[str] = []
        self.layers = seq(line=1)
        self.blocks: dict[str, Any] = {}

    # -- one [from, repeats, module, args] entry --
    def layer(self, i: int, item: Any) -> None:
        line = getattr(item, "line", None)
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[2], str)
                and isinstance(item[3], list)):
            raise CnnCalcError(f"layer {i}: expected [from, repeats, module, args], got "
                               f"{item!r}"[:200], file=self.label, line=line)
        frm, n, module, args = item
        name = f"{module.split('.')[-1]}_{i}"

        def fail(message: str) -> CnnCalcError:
            return CnnCalcError(message, file=self.label, line=line, name=name, type=module)

        if module not in MODULES:
            raise fail(f"module {module!r} is not supported{suggest(module, MODULES)}; "
                       f"supported: {', '.join(MODULES)}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise fail(f"repeats must be a positive integer, got {n!r}")
        refs = frm if isinstance(frm, list) else [frm]
        idx = []
        for f in refs:
            target = i + f if isinstance(f, int) and f < 0 else f
            if not isinstance(f, int) or isinstance(f, bool) or not -1 <= target < i:
                raise fail(f"from {f!r} must be -1 or an earlier layer's index (0…{i - 1})")
            idx.append(target)           # -1: the input
        args = [self.nc if a == "nc" else None if a == "None" else a for a in args]
        n = max(round(n * self.depth), 1) if n > 1 else n
        source = [self.names[j] if j >= 0 else None for j in idx]    # None: the input
        c1 = [self.ch[j + 1] for j in idx]
        try:
            item_, c2 = getattr(self, "_" + module.replace("nn.", "").lower())(
                name, line, args, n, c1, source)
        except (TypeError, ValueError, IndexError) as e:
            raise fail(f"bad args {args!r}: {e}"[:300]) from None
        if len(idx) == 1 and idx[0] != i - 1:
            item_[next(iter(item_))]["from"] = source[0] or "input"
        self.layers.append(item_)
        self.names.append(name)
        self.ch.append(c2)

    def channels(self, c2: int) -> int:
        if c2 == self.nc:
            return c2
        return make_divisible(min(c2, self.max_channels) * self.width, 8)

    # -- blocks, defined on first use --
    def conv_block(self) -> str:
        if "Conv" not in self.blocks:
            self.blocks["Conv"] = {
                "params": {"c2": None, "k": 1, "s": 1, "g": 1},
                "layers": [
                    {"conv": {"filters": "$c2", "kernel": "$k", "stride": "$s",
                              "padding": "$k // 2", "groups": "$g", "bias": False,
                              "name": "conv"}},
                    {"batchnorm": {"epsilon": 0.001, "momentum": 0.03, "name": "bn"}},
                    {"silu": {"name": "act"}}]}
        return "Conv"

    def bottleneck_block(self, k: tuple[int, int], add: bool) -> str:
        """Bottleneck(c_ hidden, c2 out, g): Conv(c_, k1) → Conv(c2, k2, g) [+ input]."""
        use = f"Bottleneck_k{k[0]}{k[1]}" + ("" if add else "_noadd")
        if use not in self.blocks:
            conv = self.conv_block()
            body = [{"block": {"use": conv, "c2": "$c_", "k": k[0], "name": "cv1"}},
                    {"block": {"use": conv, "c2": "$c2", "k": k[1], "g": "$g", "name": "cv2"}}]
            self.blocks[use] = {"params": {"c_": None, "c2": None, "g": 1},
                                "layers": [{"residual": {"body": body}}] if add else body}
        return use

    def c2f_block(self, n: int, inner: list[dict], kind: str) -> str:
        """Conv(2c, 1) split in two halves; n blocks chained on the second; concat; Conv(c2)."""
        use = f"{kind}_n{n}" + ("_" + inner[0]["block"]["use"] if inner else "")
        if use not in self.blocks:
            conv = self.conv_block()
            layers: list[dict] = [
                {"block": {"use": conv, "c2": "$c * 2", "k": 1, "name": "cv1"}},
                {"chunk": {"groups": 2, "index": 0, "from": "cv1", "name": "y0"}},
                {"chunk": {"groups": 2, "index": 1, "from": "cv1", "name": "y1"}}]
            for j in range(n):
                layers.append({"block": {**inner[0]["block"], "name": f"m{j}"}})
            layers.append({"concat": {"from": ["y0", "y1", *(f"m{j}" for j in range(n))],
                                      "name": "cat"}})
            layers.append({"block": {"use": conv, "c2": "$c2", "k": 1, "name": "cv2"}})
            self.blocks[use] = {"params": {"c2": None, "c": None, "g": 1}, "layers": layers}
        return use

    def c3_block(self, n: int, bottleneck: str) -> str:
        """Conv(c_, 1) → n Bottlenecks, concat with Conv(c_, 1) of the input, Conv(c2, 1)."""
        use = f"C3_n{n}_{bottleneck}"
        if use not in self.blocks:
            conv = self.conv_block()
            layers: list[dict] = [{"block": {"use": conv, "c2": "$c_", "k": 1, "name": "cv1"}}]
            for j in range(n):
                layers.append({"block": {"use": bottleneck, "c_": "$c_", "c2": "$c_",
                                         "g": "$g", "name": f"m{j}"}})
            layers.append({"block": {"use": conv, "c2": "$c_", "k": 1, "name": "cv2",
                                     "from": -(n + 2)}})    # -(position): the block's input
            layers.append({"concat": {"from": [f"m{n - 1}", "cv2"], "name": "cat"}})
            layers.append({"block": {"use": conv, "c2": "$c2", "k": 1, "name": "cv3"}})
            self.blocks[use] = {"params": {"c2": None, "c_": None, "g": 1}, "layers": layers}
        return use

    # -- the modules: each returns (the entry, its output channels) --
    def _conv(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        k, s, p, g, d = _rest(args, 1, 1, None, 1, 1)
        if d != 1 or (p is not None and p != k // 2):
            raise ValueError("only dilation 1 and the automatic padding k//2 are supported")
        return entry("block", line, use=self.conv_block(), c2=c2, k=k if k != 1 else None,
                     s=s if s != 1 else None, g=g if g != 1 else None, name=name), c2

    def _bottleneck(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        shortcut, g, k, e = _rest(args, True, 1, (3, 3), 0.5)
        if n != 1:
            raise ValueError("Bottleneck takes repeats 1")
        use = self.bottleneck_block((int(k[0]), int(k[1])), bool(shortcut) and c1[0] == c2)
        return entry("block", line, use=use, c_=int(c2 * e), c2=c2, g=g if g != 1 else None,
                     name=name), c2

    def _c2f(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        shortcut, g, e = _rest(args, False, 1, 0.5)
        c = int(c2 * e)
        inner = {"block": {"use": self.bottleneck_block((3, 3), bool(shortcut)), "c_": "$c",
                           "c2": "$c", "g": "$g"}}
        use = self.c2f_block(n, [inner], "C2f")
        return entry("block", line, use=use, c2=c2, c=c, g=g if g != 1 else None,
                     name=name), c2

    def _c3(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        shortcut, g, e = _rest(args, True, 1, 0.5)
        use = self.c3_block(n, self.bottleneck_block((1, 3), bool(shortcut)))
        return entry("block", line, use=use, c2=c2, c_=int(c2 * e), g=g if g != 1 else None,
                     name=name), c2

    def _c3k2(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        c3k, e, g, shortcut = _rest(args, False, 0.5, 1, True)
        c3k = bool(c3k) or self.scale in ("m", "l", "x")    # the larger scales always do
        c = int(c2 * e)
        if c3k:
            c3 = self.c3_block(2, self.bottleneck_block((3, 3), bool(shortcut)))
            inner = {"block": {"use": c3, "c2": "$c", "c_": "$c // 2", "g": "$g"}}
        else:
            inner = {"block": {"use": self.bottleneck_block((3, 3), bool(shortcut)),
                               "c_": "$c // 2", "c2": "$c", "g": "$g"}}
        use = self.c2f_block(n, [inner], "C3k2")
        return entry("block", line, use=use, c2=c2, c=c, g=g if g != 1 else None,
                     name=name), c2

    def _sppf(self, name, line, args, n, c1, src):
        c2 = self.channels(args[0])
        (k,) = _rest(args, 5)
        use = f"SPPF_k{k}"
        if use not in self.blocks:
            conv = self.conv_block()
            pool = {"size": k, "stride": 1, "padding": k // 2}
            self.blocks[use] = {"params": {"c_": None, "c2": None}, "layers": [
                {"block": {"use": conv, "c2": "$c_", "name": "cv1"}},
                {"maxpool": {**pool, "name": "m1"}}, {"maxpool": {**pool, "name": "m2"}},
                {"maxpool": {**pool, "name": "m3"}},
                {"concat": {"from": ["cv1", "m1", "m2", "m3"], "name": "cat"}},
                {"block": {"use": conv, "c2": "$c2", "name": "cv2"}}]}
        return entry("block", line, use=use, c_=c1[0] // 2, c2=c2, name=name), c2

    def _upsample(self, name, line, args, n, c1, src):
        scale = args[1] if len(args) > 1 else 2
        if args and args[0] is not None:
            raise ValueError("an output size is not supported, only a scale factor")
        return entry("upsample", line, scale=int(scale), name=name), c1[0]

    def _concat(self, name, line, args, n, c1, src):
        if args and args[0] not in (1, -1):
            raise ValueError("Concat joins channels (dimension 1)")
        return entry("concat", line, name=name, **{"from": [s or "input" for s in src]}), sum(c1)

    def _detect(self, name, line, args, n, c1, src):
        nc = args[0] if args else self.nc
        c2 = max(16, c1[0] // 4, REG_MAX * 4)
        c3 = max(c1[0], min(nc, 100))
        conv = self.conv_block()
        layers: list[dict] = []
        for i, (x, s) in enumerate(zip(c1, src)):
            layers += [{"block": {"use": conv, "c2": c2, "k": 3, "name": f"cv2_{i}_0",
                                  "from": s}},
                       {"block": {"use": conv, "c2": c2, "k": 3, "name": f"cv2_{i}_1"}},
                       {"conv": {"filters": 4 * REG_MAX, "kernel": 1, "name": f"cv2_{i}_2"}}]
            if self.legacy:
                cls = [{"block": {"use": conv, "c2": c3, "k": 3, "name": f"cv3_{i}_0",
                                  "from": s}},
                       {"block": {"use": conv, "c2": c3, "k": 3, "name": f"cv3_{i}_1"}}]
            else:           # a depthwise 3x3 and a 1x1 Conv, twice
                cls = [{"block": {"use": conv, "c2": x, "k": 3, "g": x, "name": f"cv3_{i}_0_0",
                                  "from": s}},
                       {"block": {"use": conv, "c2": c3, "name": f"cv3_{i}_0_1"}},
                       {"block": {"use": conv, "c2": c3, "k": 3, "g": c3,
                                  "name": f"cv3_{i}_1_0"}},
                       {"block": {"use": conv, "c2": c3, "name": f"cv3_{i}_1_1"}}]
            layers += cls + [{"conv": {"filters": nc, "kernel": 1, "name": f"cv3_{i}_2"}}]
        levels = range(len(c1))
        layers += [{"reshape": {"shape": [4 * REG_MAX, -1], "from": f"cv2_{i}_2",
                                "name": f"box_{i}"}} for i in levels]
        layers += [{"concat": {"from": [f"box_{i}" for i in levels], "name": "box"}},
                   {"reshape": {"shape": [4, -1, REG_MAX], "name": "bins"}},
                   {"softmax": {"name": "softmax"}},
                   {"conv": {"filters": 1, "kernel": 1, "bias": False, "name": "dfl"}},
                   {"reshape": {"shape": [-1, 4], "name": "dbox"}}]
        layers += [{"reshape": {"shape": [nc, -1], "from": f"cv3_{i}_2", "name": f"cls_{i}"}}
                   for i in levels]
        layers += [{"concat": {"from": [f"cls_{i}" for i in levels], "name": "cls"}},
                   {"sigmoid": {"name": "sigmoid"}},
                   {"reshape": {"shape": [-1, nc], "name": "scores"}},
                   {"concat": {"from": ["dbox", "scores"], "name": "out"}}]
        use = f"Detect_{len(c1)}"
        self.blocks[use] = {"layers": layers}
        return entry("block", line, use=use, name=name, **{"from": src[-1] or "input"}), 4 + nc

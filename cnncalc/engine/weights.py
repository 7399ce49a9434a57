"""Where a run's parameters come from: :class:`RandomWeights` (seeded Kaiming-uniform, PyTorch's
default initialisation, generated per layer and dropped after it; large dense matrices streamed),
:class:`NpzWeights` (``--weights FILE.npz``, every array checked from the file's headers before
anything runs) and the fixed kernels a spec may carry (``conv: {weights: ...}``).

:func:`param_specs` names every array a layer needs, with its shape, as its layer class declares
it; their sizes are the layer's parameter counts.
"""

from __future__ import annotations

import math
import zipfile
from typing import Protocol

import numpy as np

from ..analysis import Analysis, LayerRecord
from ..errors import CnnCalcError
from ..layers import ParamSpec
from .config import F32
from .dense import STREAM_MIN_VALUES, StreamedUniform, is_streamed
from .rng import uniform
from .threads import Engine


class WeightSource(Protocol):
    """What :func:`~.run.run` takes as weights."""
    description: str

    def check(self, a: Analysis) -> list[str]:
        """Validate before running; return warnings."""
        ...

    def get(self, rec: LayerRecord, spec: ParamSpec, keyno: int, eng: Engine | None = None
            ) -> np.ndarray | StreamedUniform:
        """The array ``spec`` of layer ``rec`` (its ``keyno``-th); ``eng`` may do the work."""
        ...


def param_specs(rec: LayerRecord) -> list[ParamSpec]:
    """The arrays a layer needs, in the ``--weights`` npz layout (HWIO kernels, dense ``(in,
    units)``), as its layer class declares them; their sizes are the layer's parameter counts."""
    return rec.layer.param_specs(list(rec.input_shapes))


class RandomWeights:
    """Seeded Kaiming-uniform weights, as PyTorch initialises conv and linear layers
    (``kaiming_uniform_(a=√5)``: U(±1/√fan_in), and the same bound for the biases); batchnorm
    starts at γ = 1, β = 0, mean 0, variance 1. Each layer's arrays depend only on the seed,
    the layer's index and the array, so they are reproducible and generated only when needed.
    Dense weight matrices of ``stream_min`` values or more are streamed
    (:class:`~.dense.StreamedUniform`) unless ``stream`` is False."""

    description = "random (Kaiming-uniform)"

    def __init__(self, seed: int = 0, stream: bool = True, stream_min: int = STREAM_MIN_VALUES):
        self.seed = seed
        self.stream = stream
        self.stream_min = stream_min

    def get(self, rec: LayerRecord, spec: ParamSpec, keyno: int, eng: Engine | None = None
            ) -> np.ndarray | StreamedUniform:
        fixed = inline(rec, spec)
        if fixed is not None:
            return fixed
        if spec.init == "ones":
            return np.ones(spec.shape, F32)
        if spec.init == "zeros":
            return np.zeros(spec.shape, F32)
        bound = 1.0 / math.sqrt(spec.fan_in)
        seed = (self.seed, rec.index, keyno)
        if self.stream and is_streamed(rec, spec.key, spec.size, self.stream_min):
            rows, units = spec.shape
            return StreamedUniform((rows, units), bound, seed)
        return uniform(spec.shape, bound, seed, eng)

    def check(self, a: Analysis) -> list[str]:
        return []


def inline(rec: LayerRecord, spec: ParamSpec) -> np.ndarray | None:
    """Fixed kernels written in the spec (``conv: {weights: [...]}``); their biases are zero."""
    fixed = getattr(rec.layer, "weights", None)
    if fixed is None:
        return None
    if spec.key == "bias":
        return np.zeros(spec.shape, F32)
    out = np.empty(spec.shape, F32)
    for f, kernel in enumerate(fixed):
        arr = np.asarray(kernel, dtype=F32)
        if arr.ndim == 2:                 # one kh×kw matrix for every input channel
            out[:, :, :, f] = arr[:, :, None]
        else:                             # one matrix per input channel: (cg, kh, kw)
            out[:, :, :, f] = arr.transpose(1, 2, 0)
    return out


def npz_keys(rec: LayerRecord, spec: ParamSpec) -> list[str]:
    """Keys tried for an array: ``<path>.<key>``, then ``<name>.<key>``."""
    keys = [f"{rec.path}.{spec.key}"]
    if rec.name != rec.path:
        keys.append(f"{rec.name}.{spec.key}")
    return keys


class NpzWeights:
    """``--weights FILE.npz``: arrays named ``<layer>.weight``, ``.bias``, ``.depthwise``,
    ``.pointwise``, ``.gamma``, ``.beta``, ``.mean``, ``.var`` (by the layer's path, which is
    its name at the top level; the bare name works when it is unique). Layers with fixed
    kernels in the spec use those unless the file has their arrays."""

    def __init__(self, path: str):
        self.path = path
        self.description = f"from {path}"
        try:
            npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise CnnCalcError(f"no such weights file: {path}") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise CnnCalcError(f"cannot read weights file {path}: {e}") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CnnCalcError(f"weights file {path} is a single .npy array; it must be an .npz "
                               f"archive of named arrays (numpy.savez)")
        self.npz = npz
        self.headers = self._headers()
        self.keys: dict[tuple[int, str], str] = {}

    def _headers(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Shapes and dtypes of every array, read from the .npy headers without the data."""
        out = {}
        try:
            with zipfile.ZipFile(self.path) as zf:
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        continue
                    name = info.filename[:-4]
                    with zf.open(info) as fh:
                        version = np.lib.format.read_magic(fh)
                        read = {(1, 0): np.lib.format.read_array_header_1_0,
                                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                        if read is not None:
                            shape, _, dtype = read(fh)
                        else:                  # a newer header format: read the array
                            arr = self.npz[name]
                            shape, dtype = arr.shape, arr.dtype
                    out[name] = (tuple(shape), dtype)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise CnnCalcError(f"cannot read weights file {self.path}: {e}") from None
        return out

    def _key(self, rec: LayerRecord, spec: ParamSpec, unique: bool) -> str | None:
        for k in npz_keys(rec, spec)[: 2 if unique else 1]:
            if k in self.headers:
                return k
        return None

    def check(self, a: Analysis) -> list[str]:
        """Validate every array's presence, shape and dtype before running; returns warnings
        (arrays in the file that no layer uses)."""
        counts: dict[str, int] = {}
        for rec in a.layers:
            counts[rec.name] = counts.get(rec.name, 0) + 1
        self.keys = {}
        for rec in a.layers:
            for spec in param_specs(rec):
                key = self._key(rec, spec, counts[rec.name] == 1)
                where = f"layer {rec.index} '{rec.path}' ({rec.type})"
                if key is None:
                    if inline(rec, spec) is not None:
                        continue
                    raise CnnCalcError(f"{self.path}: {where}: missing array "
                                       f"'{npz_keys(rec, spec)[0]}' of shape "
                                       f"{_shape_text(spec.shape)}")
                shape, dtype = self.headers[key]
                if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
                    raise CnnCalcError(f"{self.path}: {where}: array '{key}' has dtype {dtype}; "
                                       f"it must be numeric")
                if shape != spec.shape and not _reshapeable(spec, shape):
                    raise CnnCalcError(f"{self.path}: {where}: array '{key}' has shape "
                                       f"{_shape_text(shape)}, expected {_shape_text(spec.shape)}"
                                       + _layout_hint(spec, shape))
                self.keys[(rec.index, spec.key)] = key
        used = set(self.keys.values())
        extra = sorted(k for k in self.headers if k not in used)
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            return [f"{self.path}: {len(extra)} array(s) not used by any layer: "
                    f"{', '.join(extra[:5])}{more}"]
        return []

    def get(self, rec: LayerRecord, spec: ParamSpec, keyno: int, eng: Engine | None = None
            ) -> np.ndarray:
        key = self.keys.get((rec.index, spec.key))
        if key is None:
            fixed = inline(rec, spec)
            assert fixed is not None
            return fixed
        arr = self.npz[key]
        with np.errstate(over="ignore"):      # float64 beyond float32's range: refused below
            out = np.ascontiguousarray(arr, dtype=F32)
        if not np.all(np.isfinite(out)):
            where = f"{self.path}: layer {rec.index} '{rec.path}' ({rec.type}): array '{key}'"
            if np.all(np.isfinite(arr)):
                raise CnnCalcError(f"{where} has values beyond float32's range (±3.4e38), up to "
                                   f"{float(np.max(np.abs(arr))):g}")
            raise CnnCalcError(f"{where} contains NaN or infinite values")
        return out.reshape(spec.shape)


def _reshapeable(spec: ParamSpec, shape: tuple[int, ...]) -> bool:
    """Depthwise kernels are also accepted in Keras's (f_h, f_w, C, multiplier) layout, which
    has the same memory order as (f_h, f_w, 1, C·multiplier)."""
    s = spec.shape
    return (spec.key in ("weight", "depthwise") and len(s) == 4 and s[2] == 1 and len(shape) == 4
            and shape[:2] == s[:2] and shape[2] * shape[3] == s[3])


def _layout_hint(spec: ParamSpec, shape: tuple[int, ...]) -> str:
    s = spec.shape
    if len(s) == 4 and len(shape) == 4 and sorted(s) == sorted(shape):
        return " (kernels are HWIO: f_h, f_w, C_in/groups, filters; PyTorch's OIHW " \
               "needs .transpose(2, 3, 1, 0))"
    if len(s) == 2 and shape == s[::-1]:
        return " (dense weights are (in, units); PyTorch's Linear.weight needs .T)"
    return ""


def _shape_text(shape: tuple[int, ...]) -> str:
    return str(tuple(int(d) for d in shape))       # NumPy's notation: (2,), (3, 3, 3, 64)

"""The NumPy forward pass behind ``--run``: execute an :class:`~cnncalc.analysis.Analysis` for real
and compare every layer's actual output shape with the computed one.

Conventions inside the engine: float32, channels last, batch first (``N×H×W×C``; vectors ``N×L``).
Layers run in :attr:`Analysis.layers` order; each :class:`~cnncalc.analysis.LayerRecord` supplies
the validated parameters (``.layer``) and its inputs (node ids: 0 = the network input, ``i`` =
``layers[i - 1]``). An activation is freed as soon as no later layer needs it.

The engine is an independent check of the analysis: it never takes an output size from it. Padding
is resolved here from the layer's parameters and the actual input (:func:`resolve_pads`, a second
implementation of the rules in SPEC-FORMAT.md), and every output size is whatever the array
operations produce (the number of window positions in the padded array, the crop of a transposed
convolution's full output, ...). Each actual shape is then compared with the computed one.

Convolutions run as large float32 matrix products so that BLAS does the work: the windows of a
block of output rows are gathered from a zero-padded buffer (im2col, through a strided view, about
a MiB at a time) and multiplied by the ``(f_h·f_w·C, filters)`` weight matrix in one GEMM, with the
bias and activation applied to the block while it is in cache. 3×3 stride-1 convolutions of enough
channels use Winograd F(2×2, 3×3) instead (16 GEMMs on transformed tiles, 2.25× fewer
multiplications). Grouped convolutions are a batched GEMM over the groups; depthwise ones (one input
channel per group) a multiply-accumulate over the ``f_h·f_w`` kernel offsets, vectorised over
pixels and channels. Transposed convolutions are one GEMM followed by a scatter-add over the kernel
offsets (col2im). Pools loop over the kernel offsets only. No Python loop runs over pixels or
channels.

Threads: during a run BLAS is set to one thread and the blocks run on the engine's own worker
threads (see :class:`_BlasThreads`), as do large products, padding copies and pools (row bands).

Weights (:func:`param_specs` names every array a layer needs, with its shape) come from
:class:`RandomWeights` (seeded Kaiming-uniform, PyTorch's default initialisation, generated per
layer and dropped after it; large dense matrices are streamed, :class:`StreamedUniform`),
:class:`NpzWeights` (``--weights FILE.npz``) and the fixed kernels a spec may carry
(``conv: {weights: ...}``).

Only this module (and :mod:`cnncalc.images`) imports NumPy.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .analysis import Analysis, LayerRecord
from .errors import CnnCalcError
from .layers import ParamSpec, fmt_shape

F32 = np.float32
CHUNK_BYTES = 8 << 20          # im2col block, one multithreaded GEMM at a time: fits in L3
PAR_CHUNK_BYTES = 1 << 20      # im2col block per worker thread (single-threaded GEMMs): ~L2
BAND_MIN_BYTES = 1 << 20       # smaller copies and pools are not worth splitting over threads
WINOGRAD = True                # 3×3 stride-1 convolutions by Winograd F(2×2, 3×3)
WINOGRAD_MIN_CHANNELS = 16     # below these the im2col GEMM is cheaper than the transforms
WINOGRAD_MIN_FILTERS = 16
WINOGRAD_MIN_TILES = 100       # few tiles: the 16 GEMMs are too small to pay for the transforms
WINOGRAD_BLOCK_BYTES = 2 << 20 # transformed tiles per block and worker
OVERHEAD_BYTES = 96 << 20      # interpreter, NumPy and BLAS themselves, for the memory estimate


# --- threads -------------------------------------------------------------------------------------

class _BlasThreads:
    """The BLAS thread count, through ctypes as threadpoolctl does it (OpenBLAS, which NumPy's
    wheels bundle). During a run the engine sets BLAS to one thread and runs blocks of work on
    its own threads instead (each gathers its windows and multiplies them): the copies run in
    parallel too, and no GEMM waits for a sleeping BLAS thread, which costs a lot on a busy
    machine. Without a controllable OpenBLAS, BLAS keeps its threads and blocks run in turn."""

    SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
               "openblas_set_num_threads64_", "openblas_set_num_threads")

    def __init__(self) -> None:
        self.set: Any = None
        self.get: Any = None
        try:
            self._find()
        except Exception:     # any platform oddity: no control, the sequential path is used
            self.set = self.get = None

    warm = False

    def _warm_up(self) -> None:
        """Have every worker thread run one multithreaded GEMM first. Measured with NumPy's
        OpenBLAS 0.3.31: threads whose first BLAS call is single-threaded keep running
        single-threaded GEMMs about 3x slower (22 instead of 63 GFLOP/s on two cores), threads
        that once ran a threaded one do not."""
        barrier = threading.Barrier(WORKERS)

        def gemm(_: int) -> None:
            try:
                barrier.wait(timeout=5)     # one task per worker thread
            except threading.BrokenBarrierError:
                pass
            a = np.ones((256, 256), F32)
            np.matmul(a, a)

        for _ in _threads().map(gemm, range(WORKERS)):
            pass
        self.warm = True

    def _libraries(self) -> list[str]:
        found: list[str] = []
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    path = line.rsplit(" ", 1)[-1].strip()
                    if "openblas" in path.lower() and path not in found:
                        found.append(path)
        except OSError:
            pass
        if not found:
            import glob
            base = os.path.dirname(os.path.dirname(np.__file__))
            for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
                found += glob.glob(os.path.join(base, pattern))
        return found

    def _find(self) -> None:
        import ctypes
        for path in self._libraries():
            lib = ctypes.CDLL(path)
            for name in self.SETTERS:
                setter = getattr(lib, name, None)
                getter = getattr(lib, name.replace("set_num", "get_num"), None)
                if setter is not None and getter is not None:
                    setter.argtypes = [ctypes.c_int]
                    getter.restype = ctypes.c_int
                    self.set, self.get = setter, getter
                    return

    def single(self):
        """Context manager: BLAS on one thread (if it can be controlled); yields whether it
        could."""
        from contextlib import contextmanager

        @contextmanager
        def manage():
            if self.set is None or WORKERS < 2:
                yield False
                return
            before = self.get()
            if not self.warm:
                self._warm_up()
            self.set(1)
            try:
                yield True
            finally:
                self.set(before)
        return manage()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


WORKERS = max(1, min(8, _cpus()))
_BLAS: _BlasThreads | None = None
_PARALLEL = False              # True while a run has BLAS on one thread and uses the pool


def _parallel(fn: Callable[[Any], None], items: list) -> None:
    """fn(item) for every item: on the worker threads during a parallel run, else in turn."""
    if _PARALLEL and len(items) > 1:
        for _ in _threads().map(fn, items):
            pass
    else:
        for item in items:
            fn(item)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D float32 arrays, split over the worker threads when it is large (by
    rows of ``a``, or by columns of ``b`` for few rows: a dense layer at batch 1)."""
    m, k = a.shape
    n = b.shape[1]
    if not _PARALLEL or m * k * n < 1 << 21:
        return np.matmul(a, b)
    out = np.empty((m, n), F32)
    parts = WORKERS
    if m >= 4 * parts:
        cuts = [m * i // parts for i in range(parts + 1)]
        _parallel(lambda i: np.matmul(a[cuts[i]:cuts[i + 1]], b, out=out[cuts[i]:cuts[i + 1]]),
                  list(range(parts)))
    else:
        cuts = [n * i // parts for i in range(parts + 1)]

        def cols(i: int) -> None:
            out[:, cuts[i]:cuts[i + 1]] = np.matmul(a, b[:, cuts[i]:cuts[i + 1]])
        _parallel(cols, list(range(parts)))
    return out


_LOCAL = threading.local()


def _scratch(size: int) -> np.ndarray:
    """A per-thread float32 buffer of at least ``size`` values, reused between calls."""
    buf = getattr(_LOCAL, "buf", None)
    if buf is None or buf.size < size:
        buf = _LOCAL.buf = np.empty(size, F32)
    return buf


# --- weights -----------------------------------------------------------------------------------

def param_specs(rec: LayerRecord) -> list[ParamSpec]:
    """The arrays a layer needs, in the ``--weights`` npz layout (HWIO kernels, dense ``(in,
    units)``), as its layer class declares them; their sizes are the layer's parameter counts."""
    return rec.layer.param_specs(list(rec.input_shapes))


_POOL: ThreadPoolExecutor | None = None
_RNG_CHUNK = 1 << 20
STREAM_MIN_VALUES = 8 << 20    # random dense weights from this size on are never held whole


def _threads() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(WORKERS, thread_name_prefix="cnncalc")
    return _POOL


def _fill_chunk(part: np.ndarray, bound: float, seed: tuple[int, ...], c: int) -> None:
    """Chunk ``c`` (2^20 values, or fewer at the end) of a seeded U(−bound, bound) array."""
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence([*seed, c])))
    gen.random(out=part, dtype=F32)
    part *= F32(2 * bound)
    part -= F32(bound)


def uniform(shape: tuple[int, ...], bound: float, seed: tuple[int, ...]) -> np.ndarray:
    """U(−bound, bound) float32, reproducible from ``seed`` whatever the number of threads:
    the array is filled in chunks of 2^20 values, each from its own seeded SFC64 stream, in
    parallel (NumPy's generators release the GIL)."""
    n = math.prod(shape)
    flat = np.empty(n, F32)

    def fill(c: int) -> None:
        _fill_chunk(flat[c * _RNG_CHUNK:(c + 1) * _RNG_CHUNK], bound, seed, c)

    chunks = range(-(-n // _RNG_CHUNK))
    if len(chunks) > 1:
        list(_threads().map(fill, chunks))
    elif n:
        fill(0)
    return flat.reshape(shape)


class StreamedUniform:
    """A large random dense weight matrix that is never held whole: ``x @ W`` generates W's
    chunks (the same values :func:`uniform` gives) on the worker threads and multiplies each
    into a per-thread partial sum while it is in cache. VGG-16's fc1 (102.8 M values, 392 MiB)
    then costs 4 MiB per thread instead of its full size, and no time faulting in fresh pages."""

    def __init__(self, shape: tuple[int, int], bound: float, seed: tuple[int, ...]):
        self.shape = shape
        self.bound = bound
        self.seed = seed

    def left_multiply(self, x: np.ndarray) -> np.ndarray:
        """``x @ W`` for a 2-D ``x`` (N × in)."""
        n_in, units = self.shape
        total = n_in * units
        accs: dict[int, np.ndarray] = {}         # one partial sum per thread

        def job(c: int) -> None:
            acc = accs.get(threading.get_ident())
            if acc is None:
                acc = accs[threading.get_ident()] = np.zeros((x.shape[0], units), F32)
            a, b = c * _RNG_CHUNK, min(total, (c + 1) * _RNG_CHUNK)
            flat = _scratch(b - a)[:b - a]
            _fill_chunk(flat, self.bound, self.seed, c)
            r, col = divmod(a, units)
            pos = 0
            if col:                              # the end of a row begun in the last chunk
                k = min(units - col, b - a)
                acc[:, col:col + k] += x[:, r:r + 1] * flat[:k]
                pos, r = k, r + 1
            full = (b - a - pos) // units
            if full:
                acc += x[:, r:r + full] @ flat[pos:pos + full * units].reshape(full, units)
                pos, r = pos + full * units, r + full
            if pos < b - a:                      # the start of a row the next chunk ends
                acc[:, :b - a - pos] += x[:, r:r + 1] * flat[pos:]

        _parallel(job, list(range(-(-total // _RNG_CHUNK))))
        parts = list(accs.values())
        out = parts[0]
        for p in parts[1:]:
            out += p
        return out


class RandomWeights:
    """Seeded Kaiming-uniform weights, as PyTorch initialises conv and linear layers
    (``kaiming_uniform_(a=√5)``: U(±1/√fan_in), and the same bound for the biases); batchnorm
    starts at γ = 1, β = 0, mean 0, variance 1. Each layer's arrays depend only on the seed,
    the layer's index and the array, so they are reproducible and generated only when needed."""

    description = "random (Kaiming-uniform)"

    def __init__(self, seed: int = 0, stream: bool = True):
        self.seed = seed
        self.stream = stream            # large dense weights as StreamedUniform

    def get(self, rec: LayerRecord, spec: ParamSpec, keyno: int) -> np.ndarray:
        inline = _inline(rec, spec)
        if inline is not None:
            return inline
        if spec.init == "ones":
            return np.ones(spec.shape, F32)
        if spec.init == "zeros":
            return np.zeros(spec.shape, F32)
        bound = 1.0 / math.sqrt(spec.fan_in)
        if self.stream and rec.layer.op == "dense" and spec.key == "weight" and \
                math.prod(spec.shape) >= STREAM_MIN_VALUES:
            return StreamedUniform(spec.shape, bound, (self.seed, rec.index, keyno))  # type: ignore
        return uniform(spec.shape, bound, (self.seed, rec.index, keyno))

    def check(self, a: Analysis) -> list[str]:
        return []


def _inline(rec: LayerRecord, spec: ParamSpec) -> np.ndarray | None:
    """Fixed kernels written in the spec (``conv: {weights: [...]}``); their biases are zero."""
    fixed = getattr(rec.layer, "weights", None)
    if fixed is None:
        return None
    if spec.key == "bias":
        return np.zeros(spec.shape, F32)
    kh, kw, cg, filters = spec.shape
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
            self.npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise CnnCalcError(f"no such weights file: {path}") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise CnnCalcError(f"cannot read weights file {path}: {e}") from None
        if not isinstance(self.npz, np.lib.npyio.NpzFile):
            raise CnnCalcError(f"weights file {path} is a single .npy array; it must be an .npz "
                               f"archive of named arrays (numpy.savez)")
        self.headers = self._headers()
        self.used: set[str] = set()

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
        self.keys: dict[tuple[int, str], str] = {}
        for rec in a.layers:
            for spec in param_specs(rec):
                key = self._key(rec, spec, counts[rec.name] == 1)
                where = f"layer {rec.index} '{rec.path}' ({rec.type})"
                if key is None:
                    if _inline(rec, spec) is not None:
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
                                       + _layout_hint(rec, spec, shape))
                self.keys[(rec.index, spec.key)] = key
        used = set(self.keys.values())
        extra = sorted(k for k in self.headers if k not in used)
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            return [f"{self.path}: {len(extra)} array(s) not used by any layer: "
                    f"{', '.join(extra[:5])}{more}"]
        return []

    def get(self, rec: LayerRecord, spec: ParamSpec, keyno: int) -> np.ndarray:
        key = self.keys.get((rec.index, spec.key))
        if key is None:
            inline = _inline(rec, spec)
            assert inline is not None
            return inline
        arr = self.npz[key]
        if not np.all(np.isfinite(arr)):
            raise CnnCalcError(f"{self.path}: layer {rec.index} '{rec.path}' ({rec.type}): "
                               f"array '{key}' contains NaN or infinite values")
        return np.ascontiguousarray(arr, dtype=F32).reshape(spec.shape)


def _reshapeable(spec: ParamSpec, shape: tuple[int, ...]) -> bool:
    """Depthwise kernels are also accepted in Keras's (f_h, f_w, C, multiplier) layout, which
    has the same memory order as (f_h, f_w, 1, C·multiplier)."""
    s = spec.shape
    return (spec.key in ("weight", "depthwise") and len(s) == 4 and s[2] == 1 and len(shape) == 4
            and shape[:2] == s[:2] and shape[2] * shape[3] == s[3])


def _layout_hint(rec: LayerRecord, spec: ParamSpec, shape: tuple[int, ...]) -> str:
    s = spec.shape
    if len(s) == 4 and len(shape) == 4 and sorted(s) == sorted(shape):
        return " (kernels are HWIO: f_h, f_w, C_in/groups, filters; PyTorch's OIHW " \
               "needs .transpose(2, 3, 1, 0))"
    if len(s) == 2 and shape == s[::-1]:
        return " (dense weights are (in, units); PyTorch's Linear.weight needs .T)"
    return ""


def _shape_text(shape: tuple[int, ...]) -> str:
    return str(tuple(int(d) for d in shape))       # NumPy's notation: (2,), (3, 3, 3, 64)


# --- building blocks ---------------------------------------------------------------------------

def pad_nhwc(x: np.ndarray, t: int, b: int, l: int, r: int, value: float = 0.0) -> np.ndarray:
    """A new contiguous array with ``value`` around ``x`` (N×H×W×C); only the border is filled."""
    if not (t or b or l or r):
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + t + b, w + l + r, c), F32)
    if t:
        out[:, :t] = value
    if b:
        out[:, t + h:] = value
    if l:
        out[:, t:t + h, :l] = value
    if r:
        out[:, t:t + h, l + w:] = value
    for_bands(h, x.nbytes, lambda r0, r1: out[:, t + r0:t + r1, l:l + w].__setitem__(
        Ellipsis, x[:, r0:r1]))
    return out


def for_bands(rows: int, nbytes: int, fn: Callable[[int, int], None]) -> None:
    """fn(r0, r1) over bands of rows: split over the workers in a parallel run when the work
    is big enough to gain from it (copies and element-wise NumPy release the GIL), else once."""
    parts = min(rows, WORKERS) if _PARALLEL and nbytes >= BAND_MIN_BYTES else 1
    cuts = [rows * i // parts for i in range(parts + 1)]
    _parallel(lambda i: fn(cuts[i], cuts[i + 1]), list(range(parts)))


def resolve_pads(kind: str, n: tuple[int, int], kernel, stride, dilation, padding
                 ) -> tuple[int, int, int, int]:
    """Concrete (top, bottom, left, right) padding for an input of H×W ``n``.

    ``same`` (TensorFlow): output ceil(n/s), total max((ceil(n/s) − 1)·s + d·(f − 1) + 1 − n, 0),
    the odd pixel at the end; for a transposed convolution (Keras) total d·(f − 1) + 1 − s.
    ``full``: d·(f − 1) on each side. ``valid``: none. Numbers are used as given."""
    if not isinstance(padding, str):
        return tuple(padding)  # type: ignore[return-value]
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
    return tuple(out)  # type: ignore[return-value]


def positions(size: int, span: int, stride: int) -> int:
    """How many windows of ``span`` fit in ``size`` at ``stride`` (counted, not by formula)."""
    return len(range(0, size - span + 1, stride))


def _offset(xp: np.ndarray, i: int, j: int, out_h: int, out_w: int, sh: int, sw: int
            ) -> np.ndarray:
    """The strided slice of a padded map that kernel offset (i, j) sees for every output."""
    return xp[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below float32's resolution)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + F32(0.3275911) * a)
    y = t * (F32(0.254829592) + t * (F32(-0.284496736) + t * (F32(1.421413741) + t * (
        F32(-1.453152027) + t * F32(1.061405429)))))
    return s * (1.0 - y * np.exp(-a * a))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return F32(0.5) * (np.tanh(F32(0.5) * x) + F32(1.0))


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def activate(x: np.ndarray, name: str | None, inplace: bool, alpha: float = 0.01) -> np.ndarray:
    """Apply an activation (PyTorch's definitions; ``softmax`` over the last axis)."""
    if name is None:
        return x
    if name == "relu":
        return np.maximum(x, 0, out=x if inplace else None)
    if name == "relu6":
        return np.clip(x, 0, 6, out=x if inplace else None)
    if name == "leaky_relu":
        if 0 <= alpha <= 1:
            return np.maximum(x, F32(alpha) * x, out=x if inplace else None)
        return np.where(x >= 0, x, F32(alpha) * x)
    if name == "tanh":
        return np.tanh(x, out=x if inplace else None)
    if name == "sigmoid":
        return _sigmoid(x)
    if name in ("silu", "swish"):
        return x * _sigmoid(x)
    if name == "hardsigmoid":
        return np.clip(x + F32(3), 0, 6) / F32(6)
    if name == "hardswish":
        return x * (np.clip(x + F32(3), 0, 6) / F32(6))
    if name == "gelu":
        return F32(0.5) * x * (F32(1.0) + _erf(x * F32(1 / math.sqrt(2))))
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    if name == "selu":
        return F32(_SELU_SCALE) * np.where(x > 0, x, F32(_SELU_ALPHA) * np.expm1(np.minimum(x, 0)))
    if name == "softplus":
        # PyTorch: x above the threshold 20, else log(1 + exp(x))
        return np.where(x > 20, x, np.logaddexp(F32(0), np.minimum(x, 20)))
    if name == "softmax":
        return _softmax(x if inplace else x.copy())
    raise CnnCalcError(f"the NumPy engine has no activation '{name}'")


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride, dilation, pads,
           groups: int = 1, act: str | None = None, act_alpha: float = 0.01) -> np.ndarray:
    """A 2-D convolution (cross-correlation, as in every framework) of N×H×W×C ``x`` with the
    HWIO kernel ``w`` (f_h, f_w, C/groups, filters), padded by ``pads`` (top, bottom, left,
    right)."""
    n, h, wd, c = x.shape
    kh, kw, cg, filters = w.shape
    sh, sw = stride
    dh, dw = dilation
    if groups > 1 and cg == 1:
        out = _depthwise(x, w, stride, dilation, pads)
        if bias is not None:
            out += bias
        return activate(out, act, True, act_alpha)
    xp = pad_nhwc(x, *pads)
    oh = positions(xp.shape[1], dh * (kh - 1) + 1, sh)
    ow = positions(xp.shape[2], dw * (kw - 1) + 1, sw)
    if kh == kw == 1 and groups == 1:          # 1×1: no windows to gather
        xs = xp[:, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw, :]
        out = matmul(np.ascontiguousarray(xs).reshape(-1, c), w.reshape(c, filters))
        if bias is not None:
            out += bias
        return activate(out, act, True, act_alpha).reshape(n, oh, ow, filters)
    if WINOGRAD and kh == kw == 3 and sh == sw == 1 and dh == dw == 1 and groups == 1 and \
            c >= WINOGRAD_MIN_CHANNELS and filters >= WINOGRAD_MIN_FILTERS and \
            (oh // 2) * (ow // 2) * n >= WINOGRAD_MIN_TILES:
        return winograd3x3(xp, w, bias, act, act_alpha)
    xp = np.ascontiguousarray(xp)
    s0, s1, s2, s3 = xp.strides
    g = groups
    fg = filters // g
    k = kh * kw * cg
    out = np.empty((n, oh, ow, filters), F32)
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
    row = ow * kh * kw * c * 4                  # im2col bytes of one output row
    blocks = _blocks(n, oh, row, PAR_CHUNK_BYTES if _PARALLEL else CHUNK_BYTES)
    size = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in blocks) * ow * kh * kw * c

    def block(span: tuple[int, int, int, int]) -> None:
        n0, n1, r0, r1 = span
        buf = _scratch(size)
        m = (n1 - n0) * (r1 - r0) * ow
        dst = out[n0:n1, r0:r1].reshape(m, filters)
        if g == 1:
            src = view[n0:n1, r0:r1]
            cols = buf[:m * k].reshape(src.shape)
            np.copyto(cols, src)
            np.matmul(cols.reshape(m, k), wm, out=dst)
        else:
            src = view[:, n0:n1, r0:r1]
            cols = buf[:g * m * k].reshape(src.shape)
            np.copyto(cols, src)
            res = np.matmul(cols.reshape(g, m, k), wm)          # (g, m, fg)
            dst.reshape(m, g, fg)[...] = res.transpose(1, 0, 2)
        if bias is not None:
            dst += bias
        activate(dst, act, True, act_alpha)

    _parallel(block, blocks)
    return out


# Winograd F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
# 2016): a 2×2 output tile of a 3×3 convolution is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 4×4 input
# tile d, so the work becomes 16 matrix products of (tiles × C)·(C × filters): 16·C·F
# multiplications per 4 outputs instead of 36·C·F.
_WG = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], F32)


def winograd_weights(w: np.ndarray) -> np.ndarray:
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

    for_bands(filters, w.nbytes, band)
    return u.reshape(16, c, filters)


def _wino_in(band: np.ndarray, rows: int, tw: int, v: np.ndarray) -> None:
    """Bᵀ d B for every 4×4 input tile of ``band`` (N×(2·rows+2)×(2·tw+2)×C) into v (16, tiles,
    C); B holds 0 and ±1, so it is additions of strided slices, along the rows then columns."""
    nb, c = band.shape[0], band.shape[3]
    d = [band[:, r:r + 2 * rows:2] for r in range(4)]
    shape = (nb, rows, tw, c)
    for i, t in enumerate((d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3])):
        cc = [t[:, :, k:k + 2 * tw:2] for k in range(4)]
        np.subtract(cc[0], cc[2], out=v[4 * i].reshape(shape))
        np.add(cc[1], cc[2], out=v[4 * i + 1].reshape(shape))
        np.subtract(cc[2], cc[1], out=v[4 * i + 2].reshape(shape))
        np.subtract(cc[1], cc[3], out=v[4 * i + 3].reshape(shape))


def _wino_out(m: np.ndarray, dst: np.ndarray, nb: int, rows: int, tw: int) -> None:
    """Aᵀ M A for every tile of m (16, tiles, F) into ``dst`` (N×≤2·rows×≤2·tw×F; the last
    row/column of tiles is cut where the output size is odd)."""
    filters = m.shape[2]
    s0 = [m[j] + m[4 + j] + m[8 + j] for j in range(4)]
    s1 = [m[4 + j] - m[8 + j] - m[12 + j] for j in range(4)]
    shape = (nb, rows, tw, filters)
    for dy, s in enumerate((s0, s1)):
        y_rows = dst[:, dy::2]
        if y_rows.shape[1] == 0:
            continue
        for dx, y in enumerate((s[0] + s[1] + s[2], s[1] - s[2] - s[3])):
            target = y_rows[:, :, dx::2]
            target[...] = y.reshape(shape)[:, :target.shape[1], :target.shape[2]]


def winograd3x3(xp: np.ndarray, w: np.ndarray, bias: np.ndarray | None, act: str | None,
                act_alpha: float = 0.01) -> np.ndarray:
    """A stride-1, undilated 3×3 convolution of the already padded ``xp`` (N×H×W×C) with the
    HWIO kernel ``w``; the output is (H − 2)×(W − 2). Large maps go in blocks of tile rows
    (each: input transform, 16 GEMMs, output transform, bias and activation, in cache) on the
    worker threads; small maps are transformed whole and the 16 GEMMs share the threads."""
    n, hp, wp, c = xp.shape
    filters = w.shape[3]
    oh, ow = positions(hp, 3, 1), positions(wp, 3, 1)
    th, tw = -(-oh // 2), -(-ow // 2)
    if (2 * th + 2, 2 * tw + 2) != (hp, wp):       # odd output: one more zero row/column
        xp = pad_nhwc(xp, 0, 2 * th + 2 - hp, 0, 2 * tw + 2 - wp)
    u = winograd_weights(w)
    out = np.empty((n, oh, ow, filters), F32)
    row = tw * 16 * (c + filters) * 4            # transformed bytes per row of tiles
    blocks = _blocks(n, th, row, WINOGRAD_BLOCK_BYTES if _PARALLEL else 4 * WINOGRAD_BLOCK_BYTES)

    def finish(dst: np.ndarray) -> None:
        if bias is not None:
            dst += bias
        activate(dst, act, True, act_alpha)

    if _PARALLEL and len(blocks) < 2 * WORKERS:   # few tiles: whole map, GEMMs in parallel
        tiles = n * th * tw
        v = np.empty((16, tiles, c), F32)
        m = np.empty((16, tiles, filters), F32)
        _wino_in(xp, th, tw, v)
        _parallel(lambda k: np.matmul(v[k], u[k], out=m[k]), list(range(16)))
        _wino_out(m, out, n, th, tw)
        finish(out)
        return out
    most = max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in blocks) * tw

    def block(span: tuple[int, int, int, int]) -> None:
        n0, n1, t0, t1 = span
        rows, nb = t1 - t0, n1 - n0
        tiles = nb * rows * tw
        buf = _scratch(16 * most * (c + filters))
        v = buf[:16 * tiles * c].reshape(16, tiles, c)
        m = buf[16 * most * c:16 * most * c + 16 * tiles * filters].reshape(16, tiles, filters)
        _wino_in(xp[n0:n1, 2 * t0:2 * t1 + 2], rows, tw, v)
        for k in range(16):
            np.matmul(v[k], u[k], out=m[k])
        dst = out[n0:n1, 2 * t0:min(oh, 2 * t1)]
        _wino_out(m, dst, nb, rows, tw)
        finish(dst)

    _parallel(block, blocks)
    return out


def _blocks(n: int, oh: int, row: int, budget: int) -> list[tuple[int, int, int, int]]:
    """Split N images × ``oh`` output rows into blocks (n0, n1, r0, r1) of about ``budget``
    bytes of im2col: several whole images per block when they are small, else row bands of one
    image. In a parallel run the blocks are balanced: their number is a multiple of the
    workers (when there is enough to split) and their sizes differ by at most one row/image."""
    if oh * row <= budget and n > 1:
        per = min(n, budget // (oh * row))
        nb = -(-n // per)
        if _PARALLEL:
            nb = min(n, -(-max(nb, WORKERS) // WORKERS) * WORKERS)
        cuts = [n * i // nb for i in range(nb + 1)]
        return [(cuts[i], cuts[i + 1], 0, oh) for i in range(nb) if cuts[i] < cuts[i + 1]]
    per = max(1, min(oh, budget // row))
    nb = -(-oh // per)
    if _PARALLEL:
        nb = min(oh, -(-(-(-(n * nb) // WORKERS) * WORKERS) // n))
    cuts = [oh * i // nb for i in range(nb + 1)]
    return [(i, i + 1, cuts[j], cuts[j + 1]) for i in range(n) for j in range(nb)
            if cuts[j] < cuts[j + 1]]


def _depthwise(x: np.ndarray, w: np.ndarray, stride, dilation, pads) -> np.ndarray:
    """Depthwise convolution (one input channel per group; output channel ``c·m + j`` from input
    channel ``c``): a multiply-accumulate over the kernel offsets, vectorised over everything
    else."""
    kh, kw, _, filters = w.shape
    c = x.shape[-1]
    mult = filters // c
    xp = pad_nhwc(x, *pads)
    if mult > 1:
        xp = np.repeat(xp, mult, axis=-1)
    sh, sw = stride
    dh, dw = dilation
    oh = positions(xp.shape[1], dh * (kh - 1) + 1, sh)
    ow = positions(xp.shape[2], dw * (kw - 1) + 1, sw)
    out = np.zeros((x.shape[0], oh, ow, filters), F32)
    tmp = np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            np.multiply(_offset(xp, i * dh, j * dw, oh, ow, sh, sw), w[i, j, 0], out=tmp)
            out += tmp
    return out


def conv_transpose2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride, dilation,
                     pads, output_padding, groups: int = 1) -> np.ndarray:
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
    if g == 1:
        wm = np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(c, kh * kw * filters)
        y = matmul(xm, wm).reshape(n, h, wd, kh, kw, filters)
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


def pool_positions(n: int, before: int, after: int, k: int, s: int, ceil_mode: bool) -> int:
    """Window positions of a pool along one axis, counted: windows inside the padded input, or
    with ``ceil_mode`` (PyTorch) also a last partial window, provided it starts inside the input
    or the left padding."""
    if not ceil_mode:
        return positions(n + before + after, k, s)
    starts = range(0, n + before + after - k + s, s)
    return sum(1 for start in starts if start < n + before)


def pool2d(x: np.ndarray, kind: str, size, stride, pads, ceil_mode: bool = False,
           count_include_pad: bool = True) -> np.ndarray:
    """Max or average pooling (PyTorch semantics: max ignores the padding; average divides by
    the window's size clipped to the padded input with ``count_include_pad``, else by the
    number of input pixels in it; ceil_mode windows hanging past the padding are clipped)."""
    n, h, w, c = x.shape
    kh, kw = size
    sh, sw = stride
    t, b, l, r = pads
    oh = pool_positions(h, t, b, kh, sh, ceil_mode)
    ow = pool_positions(w, l, r, kw, sw, ceil_mode)
    extra_b = max(0, (oh - 1) * sh + kh - (h + t + b))
    extra_r = max(0, (ow - 1) * sw + kw - (w + l + r))
    fill = -np.inf if kind == "max" else 0.0
    xp = pad_nhwc(x, t, b + extra_b, l, r + extra_r, fill)
    acc = np.empty((n, oh, ow, c), F32)

    def band(r0: int, r1: int) -> None:      # output rows r0..r1, every kernel offset
        part = acc[:, r0:r1]
        for i in range(kh):
            for j in range(kw):
                sl = _offset(xp[:, r0 * sh:], i, j, r1 - r0, ow, sh, sw)
                if i == j == 0:
                    part[...] = sl
                elif kind == "max":
                    np.maximum(part, sl, out=part)
                else:
                    part += sl

    for_bands(oh, x.nbytes, band)
    if kind == "max":
        return acc
    mask = np.zeros(xp.shape[1:3], F32)
    if count_include_pad:
        mask[:t + h + b, :l + w + r] = 1
    else:
        mask[t:t + h, l:l + w] = 1
    div = np.zeros((oh, ow), F32)
    for i in range(kh):
        for j in range(kw):
            div += mask[i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
    acc /= div[None, :, :, None]
    return acc


def adaptive_pool2d(x: np.ndarray, kind: str, out_hw: tuple[int, int]) -> np.ndarray:
    """PyTorch's adaptive pooling: output ``i`` pools input ``[floor(i·n/out),
    ceil((i+1)·n/out))`` along each axis (separable, so one loop per axis over the outputs)."""
    from .shapes import adaptive_windows
    reduce = np.max if kind == "max" else np.mean
    for axis, o in ((1, out_hw[0]), (2, out_hw[1])):
        size = x.shape[axis]
        if size % o == 0:      # equal windows: a reshape
            k = size // o
            shape = x.shape[:axis] + (o, k) + x.shape[axis + 1:]
            x = reduce(x.reshape(shape), axis=axis + 1)
            continue
        parts = [reduce(x.take(range(s, e), axis=axis), axis=axis, keepdims=True)
                 for s, e in adaptive_windows(size, o)]
        x = np.concatenate(parts, axis=axis)
    return np.ascontiguousarray(x, dtype=F32)


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Local response normalisation across channels (Krizhevsky et al. 2012, §3.3):
    ``b_c = a_c / (k + α·Σ a_j²)^β`` over the ``size`` channels centred on ``c`` (channels
    ``c − size//2 … c + (size−1)//2``, clipped at the ends). Unlike PyTorch's
    LocalResponseNorm, α is not divided by ``size`` (the paper's and TensorFlow's form)."""
    sq = x * x
    c = x.shape[-1]
    lo, hi = size // 2, (size - 1) // 2
    padded = np.zeros(x.shape[:-1] + (c + lo + hi,), F32)
    padded[..., lo:lo + c] = sq
    acc = np.zeros_like(x)
    for i in range(size):
        acc += padded[..., i:i + c]
    acc *= F32(alpha)
    acc += F32(k)
    np.power(acc, F32(beta), out=acc)
    return x / acc


# --- the layer operations ------------------------------------------------------------------------

class Ctx(NamedTuple):
    rec: LayerRecord
    params: dict[str, np.ndarray]
    inplace: bool                  # input 0 may be overwritten (nothing else needs it)


OPS: dict[str, Callable[[Ctx, list[np.ndarray]], np.ndarray]] = {}


def op(*names: str):
    def deco(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _act(ctx: Ctx) -> tuple[str | None, float]:
    return ctx.rec.activation, 0.01


def _pads(ctx: Ctx, x: np.ndarray, kind: str = "window") -> tuple[int, int, int, int]:
    lay = ctx.rec.layer
    kernel = getattr(lay, "kernel", None) or lay.size
    return resolve_pads(kind, x.shape[1:3], kernel, lay.stride, getattr(lay, "dilation", (1, 1)),
                        lay.padding)


@op("conv")
def _conv(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    act, alpha = _act(ctx)
    return conv2d(xs[0], ctx.params["weight"], ctx.params.get("bias"), lay.stride,
                  lay.dilation, _pads(ctx, xs[0]), lay.groups, act, alpha)


@op("depthwise_conv")
def _depthwise_conv(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    act, alpha = _act(ctx)
    return conv2d(xs[0], ctx.params["weight"], ctx.params.get("bias"), lay.stride,
                  lay.dilation, _pads(ctx, xs[0]), xs[0].shape[-1], act, alpha)


@op("separable_conv")
def _separable(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    mid = _depthwise(xs[0], ctx.params["depthwise"], lay.stride, lay.dilation,
                     _pads(ctx, xs[0]))
    act, alpha = _act(ctx)
    return conv2d(mid, ctx.params["pointwise"], ctx.params.get("bias"), (1, 1), (1, 1),
                  (0, 0, 0, 0), 1, act, alpha)


@op("conv_transpose")
def _conv_transpose(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    out = conv_transpose2d(xs[0], ctx.params["weight"], ctx.params.get("bias"), lay.stride,
                           lay.dilation, _pads(ctx, xs[0], "transposed"), lay.output_padding,
                           lay.groups)
    act, alpha = _act(ctx)
    return activate(out, act, True, alpha)


@op("maxpool", "avgpool")
def _pool(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    return pool2d(xs[0], lay.kind, lay.size, lay.stride, _pads(ctx, xs[0]), lay.ceil_mode,
                  getattr(lay, "count_include_pad", True))


@op("global_avgpool", "global_maxpool")
def _global_pool(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    keep = ctx.rec.layer.keepdims
    if ctx.rec.layer.kind == "max":
        return xs[0].max(axis=(1, 2), keepdims=keep)
    return xs[0].mean(axis=(1, 2), keepdims=keep, dtype=F32)


@op("adaptive_avgpool", "adaptive_maxpool")
def _adaptive(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return adaptive_pool2d(xs[0], ctx.rec.layer.kind, ctx.rec.layer.output)


@op("flatten")
def _flatten(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0].reshape(xs[0].shape[0], -1)      # H×W×C order (channels fastest)


@op("dense")
def _dense(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0]
    w = ctx.params["weight"]
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    y = w.left_multiply(x2) if isinstance(w, StreamedUniform) else matmul(x2, w)
    out = y.reshape(x.shape[:-1] + (w.shape[1],))
    if "bias" in ctx.params:
        out += ctx.params["bias"]
    act, alpha = _act(ctx)
    return activate(out, act, True, alpha)


@op("dropout", "identity")
def _identity(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return xs[0]                                  # dropout is the identity at inference


@op("batchnorm")
def _batchnorm(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    p = ctx.params
    scale = p["gamma"] / np.sqrt(p["var"] + F32(ctx.rec.layer.epsilon))
    shift = p["beta"] - p["mean"] * scale
    x = xs[0]
    if ctx.inplace:
        x *= scale
        x += shift
        return x
    out = x * scale
    out += shift
    return out


@op("relu", "sigmoid", "tanh", "gelu", "hardswish", "relu6", "hardsigmoid", "elu", "selu",
    "softplus", "silu", "leaky_relu", "softmax")
def _activation(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    return activate(xs[0], lay.function, ctx.inplace, getattr(lay, "alpha", 0.01))


@op("lrn")
def _lrn(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    lay = ctx.rec.layer
    return lrn(xs[0], lay.size, lay.alpha, lay.beta, lay.k)


@op("pad")
def _pad(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return pad_nhwc(xs[0], *ctx.rec.layer.padding)


@op("upsample")
def _upsample(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0]
    n, h, w, c = x.shape
    sh, sw = ctx.rec.layer.scale
    if (sh, sw) == (1, 1):
        return x
    big = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
    return big.reshape(n, h * sh, w * sw, c)      # a copy: the broadcast view is read-only


@op("crop")
def _crop(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0]
    lay = ctx.rec.layer
    if lay.to is not None:      # a centre crop to the other input's H×W (floor on the top/left)
        h, w = x.shape[1:3]
        th, tw = xs[1].shape[1:3]
        t, l = (h - th) // 2, (w - tw) // 2
        return x[:, t:t + th, l:l + tw, :]
    t, b, l, r = lay.cropping
    return x[:, t:x.shape[1] - b, l:x.shape[2] - r, :]


@op("add")
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


@op("multiply")
def _multiply(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    rank = max(x.ndim for x in xs)
    out = _align(xs[0], rank)
    for x in xs[1:]:
        out = out * _align(x, rank)
    return out


@op("concat")
def _concat(ctx: Ctx, xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(xs, axis=-1)


# --- memory estimate -----------------------------------------------------------------------------

def _last_uses(a: Analysis) -> list[int]:
    """For each node (0 = input), the index of the last layer that reads it."""
    last = [0] * (len(a.layers) + 1)
    for rec in a.layers:
        for i in rec.inputs:
            last[i] = max(last[i], rec.index)
    return last


def _workspace(rec: LayerRecord, batch: int) -> int:
    """Scratch bytes a layer allocates besides its output (padded copies, im2col blocks)."""
    ins = rec.input_shapes[0]
    op = rec.layer.op
    per = 4 * batch
    win = rec.geometry
    if op in ("conv", "depthwise_conv", "separable_conv", "maxpool", "avgpool") and \
            len(ins) == 3:
        h, w, c = ins
        t, b, l, r = win.pads
        padded = (h + t + b + 1) * (w + l + r + 1) * c * per
        if op in ("depthwise_conv", "separable_conv") or (
                op == "conv" and rec.layer.groups > 1 and c == rec.layer.groups):
            mult = getattr(rec.layer, "depth_multiplier", rec.output[-1] // c)
            return padded * mult + 2 * math.prod(rec.output) * per * max(1, mult)
        if op == "conv":
            kh, kw = rec.layer.kernel
            row = win.out_w * kh * kw * c * 4
            im2col = max(min(CHUNK_BYTES, row * win.out_h * batch), row)
            extra = math.prod(rec.output) * per if rec.layer.groups > 1 else 0
            return padded + im2col + extra
        return padded
    if op == "conv_transpose":
        h, w, c = ins
        kh, kw = rec.layer.kernel
        return (h * w * kh * kw * rec.output[-1] + math.prod(rec.output) * 2) * per
    if op in ("lrn", "pad", "multiply", "gelu", "silu", "hardswish", "selu", "elu",
              "softplus", "sigmoid", "hardsigmoid", "adaptive_avgpool", "adaptive_maxpool"):
        return 3 * math.prod(ins) * per
    return 0


@dataclass
class MemoryEstimate:
    peak: int               # bytes, including OVERHEAD_BYTES
    at: LayerRecord | None  # the layer where it happens
    weights: int            # the largest layer's parameter bytes


def _weight_bytes(rec: LayerRecord, batch: int, streamed: bool) -> int:
    """Bytes a layer's parameters take while it runs (a streamed random dense matrix: one
    chunk and one partial sum per worker)."""
    total = 0
    for spec in param_specs(rec):
        n = math.prod(spec.shape)
        if streamed and rec.layer.op == "dense" and spec.key == "weight" and \
                n >= STREAM_MIN_VALUES and getattr(rec.layer, "weights", None) is None:
            total += WORKERS * (_RNG_CHUNK + batch * spec.shape[1]) * 4
        else:
            total += n * 4
    return total


def estimate_memory(a: Analysis, batch: int | None = None, streamed: bool = False
                    ) -> MemoryEstimate:
    """Peak bytes of a run: the live activations (freed after their last use) + the current
    layer's output, weights and scratch, + a fixed interpreter overhead. ``streamed``: random
    weights, whose large dense matrices are never held whole (:class:`StreamedUniform`)."""
    batch = batch or a.batch
    last = _last_uses(a)
    size = [math.prod(a.input)] + [math.prod(r.output) for r in a.layers]
    live = size[0] * 4 * batch * 2          # the input (and its float32 copy)
    peak, at, wmax = 0, None, 0
    for rec in a.layers:
        wbytes = _weight_bytes(rec, batch, streamed)
        wmax = max(wmax, wbytes)
        now = live + size[rec.index] * 4 * batch + wbytes + _workspace(rec, batch)
        if now > peak:
            peak, at = now, rec
        live += size[rec.index] * 4 * batch
        for i in set(rec.inputs):
            if last[i] == rec.index:
                live -= size[i] * 4 * batch
    return MemoryEstimate(peak + OVERHEAD_BYTES, at, wmax)


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the physical memory size, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(a: Analysis, limit: int | None, batch: int | None = None,
                 streamed: bool = False) -> MemoryEstimate:
    """Refuse (CnnCalcError) a run whose estimated peak exceeds ``limit`` bytes."""
    from .report import mib
    est = estimate_memory(a, batch, streamed)
    if limit is not None and est.peak > limit:
        where = f" at layer {est.at.index} '{est.at.path}'" if est.at is not None else ""
        bigger = f"--input smaller than {fmt_shape(a.input)}" if len(a.input) == 3 \
            else "a smaller --input"
        raise CnnCalcError(
            f"--run would need about {mib(est.peak)}{where}, more than the limit of "
            f"{mib(limit)} (--max-memory); try {bigger}"
            + (f" or a smaller --batch than {batch or a.batch}" if (batch or a.batch) > 1 else "")
            + ", or raise --max-memory if the memory is there")
    return est


# --- running -------------------------------------------------------------------------------------

@dataclass
class LayerRun:
    index: int
    name: str
    path: str
    shape: tuple[int, ...]           # without the batch dimension
    seconds: float
    ok: bool


@dataclass
class RunResult:
    layers: list[LayerRun]
    output: np.ndarray | None        # N×... (None if the run stopped early)
    forward_seconds: float
    weights_seconds: float
    failure: str | None = None       # why the run stopped early
    warnings: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.failure is None and all(lr.ok for lr in self.layers)

    def mismatches(self) -> list[LayerRun]:
        return [lr for lr in self.layers if not lr.ok]


def _root(x: np.ndarray) -> np.ndarray:
    while isinstance(x.base, np.ndarray):
        x = x.base
    return x


def random_input(shape: tuple[int, ...], batch: int, seed: int) -> np.ndarray:
    """A seeded random input in [0, 1), like an image scaled to that range."""
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, 0x1A9E])))
    return gen.random((batch,) + tuple(shape), dtype=F32)


def run(a: Analysis, x: np.ndarray, weights: Any = None,
        on_layer: Callable[[LayerRecord, np.ndarray, LayerRun], None] | None = None
        ) -> RunResult:
    """Execute the network on ``x`` (N × the analysis's input shape) and check every shape.

    ``weights``: :class:`RandomWeights` (the default) or :class:`NpzWeights`. ``on_layer`` is
    called after each layer with its record, its output (batch first) and its :class:`LayerRun`
    (for progress bars and saving feature maps); the output must not be modified.
    """
    weights = weights or RandomWeights()
    warnings = weights.check(a)
    if tuple(x.shape[1:]) != tuple(a.input):
        raise CnnCalcError(f"the input array is {fmt_shape(x.shape[1:])}, but the network "
                           f"expects {fmt_shape(a.input)}")
    global _BLAS, _PARALLEL
    if _BLAS is None:
        _BLAS = _BlasThreads()
    with _BLAS.single() as parallel:
        _PARALLEL = parallel
        try:
            return _run(a, x, weights, warnings, on_layer)
        finally:
            _PARALLEL = False


def _run(a: Analysis, x: np.ndarray, weights: Any, warnings: list[str],
         on_layer: Callable[[LayerRecord, np.ndarray, LayerRun], None] | None) -> RunResult:
    last = _last_uses(a)
    final = len(a.layers)
    values: dict[int, np.ndarray] = {0: np.array(x, dtype=F32, order="C", copy=True)}
    runs: list[LayerRun] = []
    t_fwd = t_w = 0.0
    failure = None
    for rec in a.layers:
        t0 = time.perf_counter()
        specs = param_specs(rec)
        params = {s.key: weights.get(rec, s, k) for k, s in enumerate(specs)}
        t1 = time.perf_counter()
        xs = [values[i] for i in rec.inputs]
        first = rec.inputs[0]
        inplace = (last[first] == rec.index and rec.inputs.count(first) == 1 and first != 0
                   and not any(_root(values[j]) is _root(xs[0])
                               for j in values if j != first and last[j] > rec.index))
        try:
            ctx = Ctx(rec, params, inplace)
            own = getattr(rec.layer, "forward", None)    # a layer may carry its own kernel
            y = own(xs, params, ctx) if own is not None else OPS[rec.layer.op](ctx, xs)
        except CnnCalcError:
            raise
        except Exception as e:   # an engine failure is a failed check, reported per layer
            failure = (f"layer {rec.index} '{rec.path}' ({rec.type}) failed on input "
                       f"{', '.join(fmt_shape(v.shape[1:]) for v in xs)}: "
                       f"{type(e).__name__}: {e}")
            break
        del params, xs
        t2 = time.perf_counter()
        t_w += t1 - t0
        t_fwd += t2 - t1
        shape = tuple(int(d) for d in y.shape[1:])
        lr = LayerRun(rec.index, rec.name, rec.path, shape, t2 - t1, shape == tuple(rec.output))
        runs.append(lr)
        if last[rec.index] or rec.index == final:      # an output nothing reads is dropped
            values[rec.index] = y
        for i in set(rec.inputs):
            if last[i] == rec.index and i != final:
                values.pop(i, None)
        if on_layer is not None:
            on_layer(rec, y, lr)
    out = values.get(final) if failure is None else None
    return RunResult(runs, out, t_fwd, t_w, failure, warnings)


# --- the --run command ---------------------------------------------------------------------------

_SIZE = {"": 1, "b": 1, "k": 2 ** 10, "kb": 10 ** 3, "kib": 2 ** 10, "m": 2 ** 20, "mb": 10 ** 6,
         "mib": 2 ** 20, "g": 2 ** 30, "gb": 10 ** 9, "gib": 2 ** 30, "t": 2 ** 40,
         "tb": 10 ** 12, "tib": 2 ** 40}


def parse_size(text: str) -> int:
    """``--max-memory``: bytes, or a number with K/M/G/T (binary), KiB/MiB/GiB, KB/MB/GB."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _SIZE:
        raise CnnCalcError(f"--max-memory must be a size like 2G, 500M or 1.5GiB, got {text!r}")
    value = int(float(m.group(1)) * _SIZE[unit])
    if value <= 0:
        raise CnnCalcError(f"--max-memory must be positive, got {text!r}")
    return value


def default_memory_limit() -> int | None:
    """80 % of the memory available now."""
    avail = available_memory()
    return int(avail * 0.8) if avail else None


def resolve_layers(a: Analysis, text: str) -> set[int]:
    """``--maps-layers``: comma-separated layer names, paths or indices → layer indices."""
    from .layers import suggest
    chosen: set[int] = set()
    names = {}
    for rec in a.layers:
        names.setdefault(rec.name, []).append(rec.index)
        names.setdefault(rec.path, []).append(rec.index)
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if item.isdigit() and 1 <= int(item) <= len(a.layers):
            chosen.add(int(item))
        elif item in names:
            chosen.update(names[item])
        else:
            raise CnnCalcError(f"--maps-layers: no layer '{item}'{suggest(item, names)}; give "
                               f"names, paths or indices 1-{len(a.layers)}")
    return chosen


@dataclass
class RunSetup:
    """What ``cnncalc SPEC --run`` was asked to do (all optional but the analysis)."""
    seed: int = 0
    image: np.ndarray | None = None      # H×W×C, already loaded (see images.load_input)
    image_name: str | None = None
    weights: str | None = None           # an .npz path
    save_output: str | None = None
    save_maps: str | None = None
    maps_layers: str | None = None
    max_memory: int | None = None


def execute(a: Analysis, setup: RunSetup,
            on_layer: Callable[[LayerRecord, np.ndarray, LayerRun], None] | None = None
            ) -> tuple[RunResult, dict[str, Any]]:
    """Check memory, build the input and weights, run, and write the requested files.
    Returns the result and facts for the report (input, weights, files written)."""
    weights = NpzWeights(setup.weights) if setup.weights else RandomWeights(setup.seed)
    est = check_memory(a, setup.max_memory, streamed=isinstance(weights, RandomWeights))
    if setup.image is not None:
        x = np.broadcast_to(setup.image, (a.batch,) + setup.image.shape)
        source = setup.image_name or "image"
    else:
        x = random_input(a.input, a.batch, setup.seed)
        source = f"random [0, 1), seed {setup.seed}"
    writer = None
    only = resolve_layers(a, setup.maps_layers) if setup.maps_layers else None
    if setup.save_maps:
        from .images import MapWriter
        writer = MapWriter(setup.save_maps, only)
        writer.input(np.asarray(x))

    def hook(rec: LayerRecord, y: np.ndarray, lr: LayerRun) -> None:
        if writer is not None:
            writer.layer(rec.index, rec.path, y)
        if on_layer is not None:
            on_layer(rec, y, lr)

    result = run(a, x, weights, hook)
    fixed = [r for r in a.layers if getattr(r.layer, "weights", None) is not None]
    described = weights.description
    if fixed and not setup.weights:
        weighted = [r for r in a.layers if param_specs(r)]
        described = "fixed in the spec" if len(fixed) == len(weighted) else \
            f"{described} and fixed kernels from the spec"
    if isinstance(weights, RandomWeights) and described != "fixed in the spec":
        described += f", seed {setup.seed}"
    facts: dict[str, Any] = {"input": source, "weights": described,
                             "estimated_peak_bytes": est.peak, "files": []}
    if writer is not None:
        facts["files"] = [str(p) for p in writer.written]
        facts["maps_dir"] = str(writer.dir)
        facts["maps_skipped"] = writer.skipped
    if setup.save_output and result.output is not None:
        out = result.output[0] if result.output.shape[0] == 1 else result.output
        try:
            with open(setup.save_output, "wb") as fh:
                np.save(fh, np.ascontiguousarray(out))
        except OSError as e:
            raise CnnCalcError(f"cannot write --save-output {setup.save_output}: "
                               f"{e.strerror or e}") from None
        facts["output_file"] = setup.save_output
        facts["output_shape"] = tuple(out.shape)
    return result, facts


def estimate_seconds(a: Analysis) -> float:
    """A rough run time (for deciding whether a progress bar is worth showing): ~25 G MAC/s of
    GEMM and ~300 M random weights per second."""
    t = a.totals()
    return t["macs"] / 25e9 + t["params"] / 3e8

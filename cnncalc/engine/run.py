"""Running a network: :func:`run` executes an analysis layer by layer on one
:class:`~.threads.Engine` (made for the run and closed after it) and checks every output shape;
:func:`execute` is the ``--run`` command around it (memory check, input, weights, files
written)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis import Analysis, LayerRecord
from ..errors import CnnCalcError
from ..layers import fmt_shape, suggest
from .arena import prepare_process
from .config import F32, EngineConfig
from .ops import OPS, Ctx
from .dense import is_streamed
from .planner import Budget, check_memory, estimate_memory, last_uses, whole_weights_fit
from .threads import Engine
from .weights import NpzWeights, RandomWeights, WeightSource, param_specs


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
    nonfinite: str | None = None     # the output holds NaN or infinity: where they first appeared
    threads: int = 1                 # worker threads the run used
    init_seconds: float = 0.0        # the weights (made and prepared) and starting the threads

    @property
    def verified(self) -> bool:
        """Every layer ran and every shape is the computed one."""
        return self.failure is None and all(lr.ok for lr in self.layers)

    @property
    def passed(self) -> bool:
        """Verified, and the output is finite (else ``--run`` exits 1)."""
        return self.verified and self.nonfinite is None

    def mismatches(self) -> list[LayerRun]:
        return [lr for lr in self.layers if not lr.ok]


OnLayer = Callable[[LayerRecord, np.ndarray, LayerRun], None]


def _root(x: np.ndarray) -> np.ndarray:
    while isinstance(x.base, np.ndarray):
        x = x.base
    return x


def _writable(x: np.ndarray) -> bool:
    """``x`` may be written element by element: not a read-only view, and no two of its
    elements share memory (a broadcast view repeats one value with stride 0)."""
    return bool(x.flags.writeable) and all(st != 0 for st, d in zip(x.strides, x.shape) if d > 1)


def _finite(y: np.ndarray) -> bool:
    """No NaN or infinity in ``y``, found without a temporary of its size."""
    if y.size == 0 or y.dtype.kind != "f":
        return True
    return bool(np.isfinite(y.min()) and np.isfinite(y.max()))


class OutOfMemory(CnnCalcError):
    """A layer's arrays did not fit (a MemoryError during the run)."""


def random_input(shape: tuple[int, ...], batch: int, seed: int) -> np.ndarray:
    """A seeded random input in [0, 1), like an image scaled to that range."""
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, 0x1A9E])))
    return gen.random((batch,) + tuple(shape), dtype=F32)


def run(a: Analysis, x: np.ndarray, weights: WeightSource | None = None,
        on_layer: OnLayer | None = None, config: EngineConfig | None = None) -> RunResult:
    """Execute the network on ``x`` (N × the analysis's input shape) and check every shape.

    ``weights``: :class:`RandomWeights` (the default) or :class:`NpzWeights`. ``on_layer`` is
    called after each layer with its record, its output (batch first) and its :class:`LayerRun`
    (for progress bars and saving feature maps); the output must not be modified. ``config``:
    the engine's settings (the defaults are ``--run``'s).
    """
    source: WeightSource = weights or RandomWeights()
    warnings = source.check(a)
    if tuple(x.shape[1:]) != tuple(a.input):
        raise CnnCalcError(f"the input array is {fmt_shape(x.shape[1:])}, but the network "
                           f"expects {fmt_shape(a.input)}")
    # overflow and invalid values are reported once, as a non-finite output, not as warnings
    start = time.perf_counter()
    with Engine(config) as eng, eng.threads(), np.errstate(all="ignore"):
        setup = time.perf_counter() - start           # the threads started, BLAS set
        result = _run(eng, a, x, source, warnings, on_layer)
    result.init_seconds = setup + result.weights_seconds
    return result


def _run(eng: Engine, a: Analysis, x: np.ndarray, weights: WeightSource, warnings: list[str],
         on_layer: OnLayer | None) -> RunResult:
    last = last_uses(a)
    final = len(a.layers)
    values: dict[int, np.ndarray] = {0: np.array(x, dtype=F32, order="C", copy=True)}
    runs: list[LayerRun] = []
    t_fwd = t_w = 0.0
    failure = None
    bad_from: LayerRecord | None = None      # the first layer with a non-finite output
    for rec in a.layers:
        try:
            t0 = time.perf_counter()
            specs = param_specs(rec)
            params = {s.key: weights.get(rec, s, k, eng) for k, s in enumerate(specs)}
            own = getattr(rec.layer, "forward", None)    # a layer may carry its own kernel
            op = OPS.get(rec.layer.op) if own is None else None
            if op is not None and op.prepare is not None and params:
                params = op.prepare(rec, params, eng, x.shape[0])
            t1 = time.perf_counter()
            xs = [values[i] for i in rec.inputs]
            first = rec.inputs[0]
            # input 0 may be overwritten when nothing else reads it (or shares its memory) and
            # it is writable element by element (a kernel may return a read-only or broadcast
            # view: upsampling a 1x1 map, a crop)
            inplace = (last[first] == rec.index and rec.inputs.count(first) == 1 and first != 0
                       and _writable(xs[0])
                       and not any(_root(values[j]) is _root(xs[0])
                                   for j in values if j != first and last[j] > rec.index))
            try:
                ctx = Ctx(rec, params, inplace, eng)
                y = own(xs, params, ctx) if own is not None else OPS[rec.layer.op].run(ctx, xs)
            except (CnnCalcError, MemoryError):
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
            lr = LayerRun(rec.index, rec.name, rec.path, shape, t2 - t1,
                          shape == tuple(rec.output))
            runs.append(lr)
            if bad_from is None and not _finite(y):
                bad_from = rec
            if last[rec.index] or rec.index == final:      # an output nothing reads is dropped
                values[rec.index] = y
            for i in set(rec.inputs):
                if last[i] == rec.index and i != final:
                    values.pop(i, None)
            if on_layer is not None:
                on_layer(rec, y, lr)
        except MemoryError as e:
            raise OutOfMemory(f"out of memory at layer {rec.index} '{rec.path}' ({rec.type})"
                              + (f": {e}" if str(e) else "")) from None
    out = values.get(final) if failure is None else None
    nonfinite = None
    if out is not None and not _finite(out):
        where = a.layers[bad_from.index - 1] if bad_from is not None else a.layers[-1]
        nonfinite = (f"the output holds NaN or infinite values; they first appeared in the "
                     f"output of layer {where.index} '{where.path}' ({where.type})")
    return RunResult(runs, out, t_fwd, t_w, failure, warnings, nonfinite,
                     eng.workers)


# --- the --run command ---------------------------------------------------------------------------

def resolve_layers(a: Analysis, text: str) -> set[int]:
    """``--maps-layers``: comma-separated layer names, paths or indices → layer indices."""
    chosen: set[int] = set()
    names: dict[str, list[int]] = {}
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
    max_memory: int | Budget | None = None   # bytes (--max-memory) or a budget with its source
    # the files read (by option): no file written may be one of them
    inputs: dict[str, str | os.stat_result | None] = field(default_factory=dict)


def execute(a: Analysis, setup: RunSetup, on_layer: OnLayer | None = None
            ) -> tuple[RunResult, dict[str, Any]]:
    """Check memory (the run, and writing the maps), build the input and weights, run, and write
    the requested files (each one whole or not at all). Returns the result and facts for the
    report (input, weights, files written)."""
    from ..files import atomic_file

    weights: NpzWeights | RandomWeights = NpzWeights(setup.weights) if setup.weights \
        else RandomWeights(setup.seed)
    only = resolve_layers(a, setup.maps_layers) if setup.maps_layers else None
    writer = None
    if setup.save_maps is not None:
        from ..images import MapWriter
        writer = MapWriter(setup.save_maps, only)
        writer.check_inputs([(r.index, r.path) for r in a.layers if len(r.output) == 3],
                            setup.inputs)
    after = writer.scratch_bytes if writer is not None else None
    whole = estimate_memory(a, after=after)               # with every weight array whole
    streamed = isinstance(weights, RandomWeights) and not whole_weights_fit(whole,
                                                                            setup.max_memory)
    if isinstance(weights, RandomWeights) and not streamed:
        weights = RandomWeights(setup.seed, stream=False)
    est = check_memory(a, setup.max_memory, streamed=streamed, after=after,
                       est=None if streamed else whole)
    if setup.image is not None:
        x = np.broadcast_to(setup.image, (a.batch,) + setup.image.shape)
        source = setup.image_name or "image"
    else:
        x = random_input(a.input, a.batch, setup.seed)
        source = f"random [0, 1), seed {setup.seed}"
    if writer is not None:
        writer.open()
        writer.input(np.asarray(x))

    def hook(rec: LayerRecord, y: np.ndarray, lr: LayerRun) -> None:
        if writer is not None:
            writer.layer(rec.index, rec.path, y)
        if on_layer is not None:
            on_layer(rec, y, lr)

    try:
        t0 = time.perf_counter()
        prepare_process(est.working)        # memory kept and faulted in: see arena.py
        reserved = time.perf_counter() - t0
        result = run(a, x, weights, hook)
        result.init_seconds += reserved
    except OutOfMemory as e:
        from ..report import mib
        budget = Budget(setup.max_memory, "--max-memory") \
            if isinstance(setup.max_memory, int) else setup.max_memory
        within = f"the limit of {mib(budget.limit)} ({budget.source})" if budget is not None \
            else "no limit"
        raise CnnCalcError(f"--run {e}; the estimate was {mib(est.peak)} against {within}: "
                           f"the memory is not there, try a smaller --input or --max-memory"
                           ) from None
    fixed = [r for r in a.layers if getattr(r.layer, "weights", None) is not None]
    described = weights.description
    if fixed and not setup.weights:
        weighted = [r for r in a.layers if param_specs(r)]
        described = "fixed in the spec" if len(fixed) == len(weighted) else \
            f"{described} and fixed kernels from the spec"
    if isinstance(weights, RandomWeights) and described != "fixed in the spec":
        described += f", seed {setup.seed}"
    facts: dict[str, Any] = {"input": source, "weights": described,
                             "weights_streamed": isinstance(weights, RandomWeights)
                             and weights.stream and any(
                                 is_streamed(r, s.key, s.size, weights.stream_min)
                                 for r in a.layers for s in param_specs(r)),
                             "estimated_peak_bytes": est.peak, "files": []}
    if writer is not None:
        facts["files"] = [str(p) for p in writer.written]
        facts["maps_dir"] = str(writer.dir)
        facts["maps_skipped"] = writer.skipped
    if setup.save_output and result.output is not None:
        out = result.output[0] if result.output.shape[0] == 1 else result.output
        with atomic_file(setup.save_output, "--save-output") as fh:
            np.save(fh, np.ascontiguousarray(out))
        facts["output_file"] = setup.save_output
        facts["output_shape"] = tuple(out.shape)
    return result, facts

"""Planning a run before it starts: the peak memory it will need (live activations, the current
layer's output, weights and scratch, as each operation declares its scratch), the ``--max-memory``
check and its default, and a rough run time for deciding on a progress bar."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord
from ..errors import CnnCalcError
from ..layers import fmt_shape
from .config import EngineConfig
from .dense import STREAM_MIN_VALUES, is_streamed, streamed_bytes
from .ops import workspace
from .weights import param_specs

OVERHEAD_BYTES = 96 << 20      # interpreter, NumPy and BLAS themselves
DEFAULT_LIMIT_SHARE = 0.8      # of the memory available now


def last_uses(a: Analysis) -> list[int]:
    """For each node (0 = input), the index of the last layer that reads it."""
    last = [0] * (len(a.layers) + 1)
    for rec in a.layers:
        for i in rec.inputs:
            last[i] = max(last[i], rec.index)
    return last


@dataclass
class MemoryEstimate:
    peak: int               # bytes, including OVERHEAD_BYTES
    at: LayerRecord | None  # the layer where it happens
    weights: int            # the largest layer's parameter bytes


def _weight_bytes(rec: LayerRecord, batch: int, streamed: bool, config: EngineConfig) -> int:
    """Bytes a layer's parameters take while it runs (a streamed random dense matrix: one
    chunk and one partial sum per worker)."""
    total = 0
    for spec in param_specs(rec):
        if streamed and is_streamed(rec, spec.key, spec.size, STREAM_MIN_VALUES):
            total += streamed_bytes(spec.shape[1], batch, config)
        else:
            total += spec.size * 4
    return total


def estimate_memory(a: Analysis, batch: int | None = None, streamed: bool = False,
                    config: EngineConfig | None = None) -> MemoryEstimate:
    """Peak bytes of a run: the live activations (freed after their last use) + the current
    layer's output, weights and scratch (its operation's ``workspace``), + a fixed interpreter
    overhead. ``streamed``: random weights, whose large dense matrices are never held whole
    (:class:`~.dense.StreamedUniform`)."""
    config = config or EngineConfig()
    batch = batch or a.batch
    last = last_uses(a)
    size = [math.prod(a.input)] + [math.prod(r.output) for r in a.layers]
    live = size[0] * 4 * batch * 2          # the input (and its float32 copy)
    peak, at, wmax = 0, None, 0
    for rec in a.layers:
        wbytes = _weight_bytes(rec, batch, streamed, config)
        wmax = max(wmax, wbytes)
        now = live + size[rec.index] * 4 * batch + wbytes + workspace(rec, batch, config)
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


def default_memory_limit() -> int | None:
    """80 % of the memory available now."""
    avail = available_memory()
    return int(avail * DEFAULT_LIMIT_SHARE) if avail else None


def check_memory(a: Analysis, limit: int | None, batch: int | None = None,
                 streamed: bool = False, config: EngineConfig | None = None) -> MemoryEstimate:
    """Refuse (CnnCalcError) a run whose estimated peak exceeds ``limit`` bytes."""
    from ..report import mib
    est = estimate_memory(a, batch, streamed, config)
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


def estimate_seconds(a: Analysis) -> float:
    """A rough run time (for deciding whether a progress bar is worth showing): ~25 G MAC/s of
    GEMM and ~300 M random weights per second."""
    t = a.totals()
    return t["macs"] / 25e9 + t["params"] / 3e8

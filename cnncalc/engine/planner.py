"""Planning a run before it starts: the peak memory it will need (live activations, the current
layer's output, weights and scratch, as each operation declares its scratch, and what the caller
does with each output, such as writing a feature-map PNG), the memory budget (``--max-memory``,
else what the machine and the process's limits allow) and the check against it, and a rough run
time for deciding on a progress bar."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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
WHOLE_WEIGHTS_MAX = 1 << 30    # random dense weights are streamed when holding them whole
                               # would take a run over this (or over its budget)
# Address space (ulimit -v) a worker thread takes besides the data: glibc's malloc arena (64 MiB
# reserved), its stack and OpenBLAS's buffer (measured: about 106 MiB per worker)
THREAD_ADDRESS_SPACE = 112 << 20
ADDRESS_SPACE_SLACK = 64 << 20  # growth of the main thread's heap and libraries during a run

# After a layer ran: bytes its caller needs while the output is live (node 0 = the input), e.g.
# to write its feature maps
AfterLayer = Callable[[int, tuple[int, ...]], int]


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
    working: int = 0        # the most that activations and scratch take at once (no weights)


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
                    config: EngineConfig | None = None,
                    after: AfterLayer | None = None) -> MemoryEstimate:
    """Peak bytes of a run: the live activations (freed after their last use) + the current
    layer's output, weights and scratch (its operation's ``workspace``), + a fixed interpreter
    overhead. ``streamed``: random weights, whose large dense matrices are never held whole
    (:class:`~.dense.StreamedUniform`). ``after(index, shape)``: bytes the caller needs once a
    layer has run, while its output is live (its weights and scratch are gone by then)."""
    config = config or EngineConfig()
    batch = batch or a.batch
    last = last_uses(a)
    size = [math.prod(a.input)] + [math.prod(r.output) for r in a.layers]
    live = size[0] * 4 * batch * 2          # the input (and its float32 copy)
    peak, at, wmax, working = 0, None, 0, 0
    if after is not None:
        peak = live + after(0, tuple(a.input))
    for rec in a.layers:
        wbytes = _weight_bytes(rec, batch, streamed, config)
        wmax = max(wmax, wbytes)
        scratch = live + size[rec.index] * 4 * batch + workspace(rec, batch, config)
        working = max(working, scratch)
        now = scratch + wbytes
        if now > peak:
            peak, at = now, rec
        live += size[rec.index] * 4 * batch
        for i in set(rec.inputs):
            if last[i] == rec.index:
                live -= size[i] * 4 * batch
        if after is not None:
            now = live + after(rec.index, tuple(rec.output))
            if now > peak:
                peak, at = now, rec
    return MemoryEstimate(peak + OVERHEAD_BYTES, at, wmax, working)


def whole_weights_fit(est: MemoryEstimate, limit: int | Budget | None) -> bool:
    """Whether random weights may be generated whole, each array before its layer runs (as a
    framework holds its weights, so that the forward time is the forward pass alone): the
    run's estimate with them whole (``est``) stays within ``limit`` (as :func:`check_memory`
    takes it) and within :data:`WHOLE_WEIGHTS_MAX`. Otherwise large random dense matrices are
    streamed (:class:`~.dense.StreamedUniform`), generated inside their layer."""
    budget = Budget(limit, "--max-memory") if isinstance(limit, int) else limit
    return est.peak <= WHOLE_WEIGHTS_MAX and (budget is None or est.peak <= budget.limit)


def _proc_bytes(path: str, key: str) -> int | None:
    """The ``key: N kB`` line of a Linux /proc file, in bytes (None elsewhere)."""
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the physical memory size, else None."""
    avail = _proc_bytes("/proc/meminfo", "MemAvailable")
    if avail is not None:
        return avail
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class Budget:
    """The bytes a run may take, and where that number comes from (for the refusal)."""
    limit: int
    source: str            # "--max-memory", "80% of the available memory", ...


def _mapped_bytes() -> int | None:
    """The address space this process has mapped now (VmSize, Linux)."""
    return _proc_bytes("/proc/self/status", "VmSize")


def address_space_budget(config: EngineConfig | None = None) -> Budget | None:
    """What a soft address-space limit (``ulimit -v``, RLIMIT_AS) leaves for a run, in the
    estimate's terms, or None without such a limit: the limit, less what is mapped already (the
    interpreter: the estimate's fixed overhead is added back), the worker threads' reservations
    (:data:`THREAD_ADDRESS_SPACE` each) and some slack. Never below 0."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        infinite = resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if soft == infinite or soft < 0:
        return None
    from ..report import mib
    workers = (config or EngineConfig()).workers
    mapped = _mapped_bytes() or 0
    threads = workers * THREAD_ADDRESS_SPACE
    room = soft - mapped - threads - ADDRESS_SPACE_SLACK + OVERHEAD_BYTES
    return Budget(max(room, 0),
                  f"the address-space limit, ulimit -v {soft // 1024}: {mib(soft)} less "
                  f"{mib(mapped)} mapped already and {mib(threads)} for {workers} worker "
                  f"thread(s)")


def default_memory_limit() -> int | None:
    """80 % of the memory available now."""
    avail = available_memory()
    return int(avail * DEFAULT_LIMIT_SHARE) if avail else None


def memory_budget(max_memory: int | None = None,
                  config: EngineConfig | None = None) -> Budget | None:
    """The budget of a run: ``--max-memory`` when given, else 80 % of the memory available now;
    either way no more than an address-space limit (``ulimit -v``) leaves. None if nothing is
    known (no limit is then applied)."""
    budgets = []
    if max_memory is not None:
        budgets.append(Budget(max_memory, "--max-memory"))
    else:
        avail = default_memory_limit()
        if avail is not None:
            budgets.append(Budget(avail, f"{DEFAULT_LIMIT_SHARE:.0%} of the memory available "
                                         f"now; --max-memory sets another"))
    space = address_space_budget(config)
    if space is not None:
        budgets.append(space)
    return min(budgets, key=lambda b: b.limit) if budgets else None


def check_memory(a: Analysis, limit: int | Budget | None, batch: int | None = None,
                 streamed: bool = False, config: EngineConfig | None = None,
                 after: AfterLayer | None = None, est: MemoryEstimate | None = None
                 ) -> MemoryEstimate:
    """Refuse (CnnCalcError) a run whose estimated peak exceeds ``limit`` bytes (a plain number
    is ``--max-memory``'s). ``est``: the estimate, when the caller has made it already."""
    from ..report import mib
    if est is None:
        est = estimate_memory(a, batch, streamed, config, after)
    budget = Budget(limit, "--max-memory") if isinstance(limit, int) else limit
    if budget is not None and est.peak > budget.limit:
        where = f" at layer {est.at.index} '{est.at.path}'" if est.at is not None else ""
        bigger = f"--input smaller than {fmt_shape(a.input)}" if len(a.input) == 3 \
            else "a smaller --input"
        raise CnnCalcError(
            f"--run would need about {mib(est.peak)}{where}, more than the limit of "
            f"{mib(budget.limit)} ({budget.source}); try {bigger}"
            + (f" or a smaller --batch than {batch or a.batch}" if (batch or a.batch) > 1 else "")
            + (", or raise --max-memory if the memory is there" if budget.source == "--max-memory"
               else ""))
    return est


def estimate_seconds(a: Analysis) -> float:
    """A rough run time (for deciding whether a progress bar is worth showing): ~25 G MAC/s of
    GEMM and ~300 M random weights per second."""
    t = a.totals()
    return t["macs"] / 25e9 + t["params"] / 3e8

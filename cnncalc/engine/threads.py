"""Threads: the run object (:class:`Engine`: its worker pool, whether it runs in parallel, its
config), the BLAS thread control behind it (:class:`BlasThreads`), and the helpers kernels use to
split work over the workers: :meth:`Engine.each`, :meth:`Engine.matmul`, :meth:`Engine.bands`,
:func:`split_blocks` and the per-call scratch buffers (:class:`Scratch`).

A run uses its threads in one of two ways (:attr:`EngineConfig.threading`, entered by
:meth:`Engine.threads`):

- ``"blas"`` (the default): the layers and their blocks run in turn, and BLAS splits every matrix
  product over the run's threads. OpenBLAS's threads spin between products, so handing work to
  them is cheap; waking a sleeping Python worker thread is not (in a virtual machine it takes a
  host round trip), and on a quiet 2-CPU Xeon this way measured best (VGG-16 162 ms against 194
  ms with workers, the same engine timed alternately).
- ``"workers"``: BLAS is set to one thread and the blocks of work run on the engine's own worker
  threads (each gathers its windows and multiplies them), so the copies run in parallel too and
  no product waits for a sleeping BLAS thread, which costs a lot on a busy machine (measured on an
  AMD EPYC under load). Products that are one big GEMM still go to BLAS's threads
  (:meth:`Engine.blas_threads`). Without a controllable OpenBLAS, BLAS keeps its threads and the
  blocks run in turn.

Random weights are generated on the worker threads either way (:meth:`Engine.map`).

An engine is made for one run and closed after it (its pool shut down, BLAS restored): nothing
one run sets up is left for the next.
"""

from __future__ import annotations

import ctypes
import glob
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from .config import F32, EngineConfig

T = TypeVar("T")
Block = tuple[int, int, int, int]          # images n0..n1, output rows r0..r1
MATMUL_SPLIT_MIN = 1 << 21                 # m·k·n below which a product is not split


class BlasThreads:
    """The BLAS thread count, through ctypes as threadpoolctl does it (OpenBLAS, which NumPy's
    wheels bundle). ``set``/``get`` are None when it cannot be controlled."""

    SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
               "openblas_set_num_threads64_", "openblas_set_num_threads")

    def __init__(self) -> None:
        self.set: Callable[[int], None] | None = None
        self.get: Callable[[], int] | None = None
        try:
            self._find()
        except Exception:     # any platform oddity: no control, the sequential path is used
            self.set = self.get = None

    @staticmethod
    def _libraries() -> list[str]:
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
            base = os.path.dirname(os.path.dirname(np.__file__))
            for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
                found += glob.glob(os.path.join(base, pattern))
        return found

    def _find(self) -> None:
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


class Scratch:
    """The float32 work buffers of one kernel call, ``size`` values each: a block takes one,
    uses it and gives it back, so a call holds as many as run at once (one in turn, at most
    one per worker on threads), and they go with the call."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()

    @contextmanager
    def take(self) -> Iterator[np.ndarray]:
        try:
            buf = self._free.get_nowait()
        except queue.Empty:
            buf = np.empty(self.size, F32)
        try:
            yield buf
        finally:
            self._free.put(buf)


def split_blocks(n: int, oh: int, row: int, budget: int, workers: int, parallel: bool
                 ) -> list[Block]:
    """Split N images × ``oh`` output rows into blocks (n0, n1, r0, r1) of about ``budget``
    bytes (``row``: the bytes of one output row): several whole images per block when they are
    small, else row bands of one image. In a parallel run the blocks are balanced: their number
    is a multiple of the workers (when there is enough to split) and their sizes differ by at
    most one row/image. A pure function of its arguments, so the planner sizes the same blocks
    as the kernels."""
    if oh * row <= budget and n > 1:
        per = min(n, budget // (oh * row))
        nb = -(-n // per)
        if parallel:
            nb = min(n, -(-max(nb, workers) // workers) * workers)
        cuts = [n * i // nb for i in range(nb + 1)]
        return [(cuts[i], cuts[i + 1], 0, oh) for i in range(nb) if cuts[i] < cuts[i + 1]]
    per = max(1, min(oh, budget // row))
    nb = -(-oh // per)
    if parallel:
        nb = min(oh, -(-(-(-(n * nb) // workers) * workers) // n))
    cuts = [oh * i // nb for i in range(nb + 1)]
    return [(i, i + 1, cuts[j], cuts[j + 1]) for i in range(n) for j in range(nb)
            if cuts[j] < cuts[j + 1]]


def largest_block(blocks: Sequence[Block]) -> int:
    """Images × rows of the largest block."""
    return max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in blocks)


class Engine:
    """One run's state: its :class:`EngineConfig`, its worker pool (started on first use, shut
    down by :meth:`close`) and whether kernels split their work over the workers (``parallel``:
    set by :meth:`single_blas` when BLAS could be put on one thread, or given for tests).

    Use it as a context manager: ``with Engine() as eng, eng.single_blas(): ...``."""

    def __init__(self, config: EngineConfig | None = None, parallel: bool = False) -> None:
        self.config = config or EngineConfig()
        self.workers = self.config.workers
        self.parallel = parallel
        self._pool: ThreadPoolExecutor | None = None
        self._blas: BlasThreads | None = None       # the run's BLAS control, while it runs
        self._owner: int | None = None              # the thread that set it (runs the layers)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cnncalc")
        return self._pool

    def map(self, fn: Callable[[T], Any], items: Iterable[T]) -> None:
        """fn(item) for every item on the worker threads, whatever the mode (for work that
        releases the GIL and never calls BLAS, such as random number generation). The caller's
        floating-point error handling (``np.errstate``: a run ignores overflow and reports a
        non-finite output instead) holds on the workers too."""
        errors = np.geterr()

        def task(item: T) -> Any:
            with np.errstate(**errors):
                return fn(item)

        for _ in self.pool().map(task, items):
            pass

    def each(self, fn: Callable[[T], Any], items: Sequence[T]) -> None:
        """fn(item) for every item: on the worker threads in a parallel run, else in turn."""
        if self.parallel and len(items) > 1:
            self.map(fn, items)
        else:
            for item in items:
                fn(item)

    @contextmanager
    def threads(self) -> Iterator[bool]:
        """The run's threading (:attr:`EngineConfig.threading`) for the duration: BLAS on the
        run's thread count, or on one thread with the engine's workers (:meth:`single_blas`).
        Yields whether the engine's workers split the work."""
        if self.config.threading == "workers":
            with self.single_blas() as parallel:
                yield parallel
            return
        blas = BlasThreads()
        if blas.set is None or blas.get is None:
            yield False
            return
        before = blas.get()
        blas.set(self.workers)
        self._blas, self._owner = blas, threading.get_ident()
        if self.workers > 1:          # start BLAS's threads now, not in the first layer
            a = np.ones((256, 256), F32)
            np.matmul(a, a)
        try:
            yield False
        finally:
            self._blas = None
            blas.set(before)

    @contextmanager
    def blas_on_one_thread(self) -> Iterator[None]:
        """In a ``"blas"`` run, for work handed to the engine's workers that calls BLAS (each
        of a streamed dense matrix's chunks is generated and multiplied on a worker): BLAS on
        one thread for the duration, so that the workers' products do not each start BLAS's
        threads on the same CPUs. Elsewhere it does nothing."""
        blas = self._switchable()
        if self.parallel or blas is None:
            yield
            return
        blas(1)
        try:
            yield
        finally:
            blas(self.workers)

    @contextmanager
    def single_blas(self) -> Iterator[bool]:
        """BLAS on one thread and the engine in parallel mode for the duration (if BLAS can be
        controlled and there are two workers or more); yields whether it could."""
        blas = BlasThreads()
        if blas.set is None or blas.get is None or self.workers < 2:
            yield False
            return
        before = blas.get()
        self._warm_up()
        blas.set(1)
        self.parallel = True
        self._blas, self._owner = blas, threading.get_ident()
        try:
            yield True
        finally:
            self.parallel = False
            self._blas = None
            blas.set(before)

    @contextmanager
    def blas_threads(self) -> Iterator[None]:
        """Within a parallel run, for work that is one large matrix product after another: BLAS
        on the workers' count and the kernel's blocks in turn for the duration. BLAS splits
        one product over its threads better than the engine splits it into blocks when the
        blocks would be few or would each pack the same matrix again (measured on a quiet
        2-CPU Xeon: a 14×14×512 im2col convolution 5.0 ms against 10.1, the whole-map
        Winograd of 56×56×128 6.4 against 9.2); handing work to the engine's threads costs
        more per step there than BLAS's spinning threads do. Elsewhere it does nothing."""
        blas = self._switchable()
        if not self.parallel or blas is None:
            yield
            return
        blas(self.workers)
        self.parallel = False
        try:
            yield
        finally:
            blas(1)
            self.parallel = True

    def _switchable(self) -> Callable[[int], None] | None:
        """BLAS's thread-count setter while this run controls BLAS, called from the thread that
        runs the layers (never from inside a worker's task); else None."""
        if self._blas is None or threading.get_ident() != self._owner:
            return None
        return self._blas.set

    def _warm_up(self) -> None:
        """Have every worker thread run one multithreaded GEMM first. Measured with NumPy's
        OpenBLAS 0.3.31: threads whose first BLAS call is single-threaded keep running
        single-threaded GEMMs about 3x slower (22 instead of 63 GFLOP/s on two cores), threads
        that once ran a threaded one do not."""
        barrier = threading.Barrier(self.workers)

        def gemm(_: int) -> None:
            try:
                barrier.wait(timeout=5)     # one task per worker thread
            except threading.BrokenBarrierError:
                pass
            a = np.ones((256, 256), F32)
            np.matmul(a, a)

        self.map(gemm, range(self.workers))

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
               ) -> np.ndarray:
        """``a @ b`` for 2-D float32 arrays (into ``out`` when given), split over the worker
        threads by rows of ``a`` when it is large; with few rows (a dense layer at batch 1),
        over BLAS's threads."""
        m, k = a.shape
        n = b.shape[1]
        if not self.parallel or m * k * n < MATMUL_SPLIT_MIN:
            return np.matmul(a, b, out=out)
        parts = self.workers
        if m < 4 * parts:
            # few rows (a dense layer at batch 1): BLAS's threads split it without packing
            # half of b per thread (measured: VGG-16's fc1 15 ms against 28 split in columns)
            with self.blas_threads():
                return np.matmul(a, b, out=out)
        if out is None:
            out = np.empty((m, n), F32)
        rows = [m * i // parts for i in range(parts + 1)]
        self.each(lambda i: np.matmul(a[rows[i]:rows[i + 1]], b, out=out[rows[i]:rows[i + 1]]),
                  range(parts))
        return out

    def bands(self, rows: int, nbytes: int, fn: Callable[[int, int], None]) -> None:
        """fn(r0, r1) over bands of rows: split over the workers when the work is big enough
        to gain from it (copies and element-wise NumPy release the GIL; in a ``"blas"`` run
        from :attr:`EngineConfig.blas_band_min_bytes`, as waking a worker costs more there:
        VGG-16's first pool 1.4 ms against 2.0), else once."""
        big = nbytes >= (self.config.band_min_bytes if self.parallel
                         else self.config.blas_band_min_bytes)
        parts = min(rows, self.workers) if big else 1
        cuts = [rows * i // parts for i in range(parts + 1)]
        if parts > 1 and not self.parallel:
            self.map(lambda i: fn(cuts[i], cuts[i + 1]), range(parts))
        else:
            self.each(lambda i: fn(cuts[i], cuts[i + 1]), range(parts))

    def blocks(self, n: int, oh: int, row: int, budget: int) -> list[Block]:
        """:func:`split_blocks` for this run's workers and mode."""
        return split_blocks(n, oh, row, budget, self.workers, self.parallel)

"""The process's memory for a ``--run``: freed arrays kept for reuse, and the run's working memory
faulted in before the forward pass.

A fresh process gets every page of a new array from the kernel on first touch (zeroed, and with
NumPy's transparent huge pages sometimes compacted first), and glibc hands a large freed block
straight back to the kernel, so each layer's output and scratch would pay for new pages again.
On a 2-CPU Xeon VM that made the first (and only) forward pass of ``cnncalc vgg16 --run`` about a
fifth slower than the same pass in a warm process. :func:`prepare_process` asks glibc to keep
freed memory (``mallopt``: no trimming, no separate mapping below 1 GiB) and touches the run's
working set once (the planner's estimate of activations and scratch at their peak, without the
weights), so the layers reuse pages that are already there, as in a framework's warm process.
The time it takes is the run's init time, not its forward time.

This changes the allocator of the whole process, so it is done for the ``--run`` command
(:func:`~.run.execute`), not by :func:`~.run.run`, which a library caller may use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import numpy as np

M_TRIM_THRESHOLD = -1          # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_BELOW = 1 << 30           # allocations under this come from the heap and are kept
RESERVE_MAX = 1 << 30          # the most touched in advance


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse instead of returning it to the kernel; whether it
    could (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BELOW) and
                mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))


def reserve(nbytes: int) -> int:
    """Touch ``nbytes`` (at most :data:`RESERVE_MAX`) of fresh memory and free it again, so
    that, kept by glibc, later arrays reuse faulted-in pages; the bytes touched."""
    n = min(max(nbytes, 0), RESERVE_MAX) // 4
    if n:
        block = np.empty(n, np.float32)
        block.fill(0)
        del block
    return n * 4


def prepare_process(working_bytes: int) -> int:
    """:func:`keep_freed_memory`, then :func:`reserve` the working set when freed memory is
    kept; the bytes touched."""
    return reserve(working_bytes) if keep_freed_memory() else 0

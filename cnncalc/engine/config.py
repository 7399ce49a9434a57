"""The engine's settings: one immutable :class:`EngineConfig` per run (block sizes, when Winograd
applies, how many worker threads), and the float type every kernel computes in.

Nothing here changes during a run: the config is frozen, and a test or a caller that wants other
settings makes its own (``dataclasses.replace(EngineConfig(), winograd=False)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

F32 = np.float32
MAX_WORKERS = 8                 # more threads than this do not pay on the engine's block sizes


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers() -> int:
    """Worker threads for a run: ``OMP_NUM_THREADS`` when it is set to a whole number of at
    least 1 (as PyTorch and NumPy's OpenBLAS read it), else one per usable CPU; at most
    :data:`MAX_WORKERS`."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    # OpenMP also allows a nested list ("4,2"): its first level is this process's
    wanted = text.split(",")[0].strip()
    if wanted.isdigit() and int(wanted) >= 1:
        return min(MAX_WORKERS, int(wanted))
    return max(1, min(MAX_WORKERS, cpus()))


@dataclass(frozen=True)
class EngineConfig:
    """How a run splits and schedules its work. The defaults are what ``--run`` uses."""
    workers: int = field(default_factory=default_workers)
    threading: str = "blas"              # "blas" or "workers": see threads.py
    chunk_bytes: int = 8 << 20           # im2col block, one multithreaded GEMM at a time: ~L3
    par_chunk_bytes: int = 1 << 20       # im2col block per worker thread (1-thread GEMMs): ~L2
    band_min_bytes: int = 1 << 20        # smaller copies and pools are not split over threads
    blas_band_min_bytes: int = 4 << 20   # the same in a "blas" run (a worker must be woken)
    winograd: bool = True                # 3×3 stride-1 convolutions by Winograd (below)
    winograd_tiles: tuple[int, ...] = (4, 2)   # F(4×4, 3×3) and F(2×2, 3×3), tried in turn
    winograd_min_channels: int = 16      # below these the im2col GEMM is cheaper than the
    winograd_min_filters: int = 16       # transforms
    winograd_f4_min_tiles: int = 32      # F(4×4) from this many 4×4 output tiles on
    winograd_min_tiles: int = 36         # F(2×2) from this many 2×2 tiles on, else im2col
    winograd_block_bytes: int = 8 << 20  # gathered and transformed tiles per block and worker
    winograd_min_block_tiles: int = 64   # but at least this many tiles (and one per filter)

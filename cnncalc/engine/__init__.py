"""The NumPy forward pass behind ``--run``: execute an :class:`~cnncalc.analysis.Analysis` for real
and compare every layer's actual output shape with the computed one.

Conventions inside the engine: float32, channels last, batch first (``N×H×W×C``; vectors ``N×L``).
Layers run in :attr:`Analysis.layers` order; each :class:`~cnncalc.analysis.LayerRecord` supplies
the validated parameters (``.layer``) and its inputs (node ids: 0 = the network input, ``i`` =
``layers[i - 1]``). An activation is freed as soon as no later layer needs it.

The engine is an independent check of the analysis: it never takes an output size from it. Padding
is resolved here from the layer's parameters and the actual input (:func:`resolve_pads`), and every
output size is whatever the array operations produce. Each actual shape is then compared with the
computed one.

The package, one job per module (imports go one way: engine → analysis/layers, never back):

- :mod:`.run`: :func:`run`, :func:`execute` (the ``--run`` command), the results;
- :mod:`.ops`: :data:`OPS`, each layer operation with the scratch it declares;
- :mod:`.conv` (im2col/GEMM, depthwise, transposed), :mod:`.winograd` (F(4×4, 3×3), F(2×2, 3×3)),
  :mod:`.pool` (pools, LRN), :mod:`.dense` (streamed random weights), :mod:`.resize` (pad,
  upsample, crop), :mod:`.activations`, :mod:`.geometry` (padding, window positions): the kernels;
- :mod:`.weights` (random, npz and fixed weights) and :mod:`.rng` (reproducible chunks);
- :mod:`.planner`: the memory estimate, ``--max-memory``, the run-time guess; :mod:`.arena`:
  the ``--run`` command's process memory (freed memory kept, the working set faulted in);
- :mod:`.threads`: the per-run :class:`Engine` (BLAS's threads, or a worker pool with BLAS on
  one thread) and the helpers that split work; :mod:`.config`: its frozen :class:`EngineConfig`.

There is no module-level mutable state: everything a run sets up lives in its :class:`Engine`,
passed to the kernels (through :class:`~.ops.Ctx` for the operations), and goes with it. The one
process-wide change is :mod:`.arena`'s, made by the ``--run`` command, not by :func:`run`.

Only this package (and :mod:`cnncalc.images`) imports NumPy.
"""

from .activations import activate
from .config import F32, EngineConfig
from .conv import conv2d, conv_transpose2d, depthwise
from .dense import STREAM_MIN_VALUES, StreamedUniform
from .geometry import positions, resolve_pads
from .ops import OPS, Ctx, Op
from .planner import (OVERHEAD_BYTES, Budget, MemoryEstimate, address_space_budget,
                      available_memory, check_memory, default_memory_limit, estimate_memory,
                      estimate_seconds, memory_budget)
from .pool import adaptive_pool2d, lrn, pool2d
from .resize import pad_nhwc
from .rng import uniform
from .run import (LayerRun, OutOfMemory, RunResult, RunSetup, execute, random_input,
                  resolve_layers, run)
from .threads import Engine
from .weights import NpzWeights, RandomWeights, WeightSource, npz_keys, param_specs
from .winograd import winograd3x3, winograd_weights

__all__ = ["F32", "OPS", "OVERHEAD_BYTES", "STREAM_MIN_VALUES", "Budget", "Ctx", "Engine",
           "EngineConfig", "LayerRun", "MemoryEstimate", "NpzWeights", "Op", "OutOfMemory",
           "RandomWeights", "RunResult", "RunSetup", "StreamedUniform", "WeightSource",
           "activate", "adaptive_pool2d", "address_space_budget", "available_memory",
           "check_memory", "conv2d", "conv_transpose2d", "default_memory_limit", "depthwise",
           "estimate_memory", "estimate_seconds", "execute", "lrn", "memory_budget", "npz_keys",
           "pad_nhwc", "param_specs", "pool2d", "positions", "random_input", "resolve_layers",
           "resolve_pads", "run", "uniform", "winograd3x3",
           "winograd_weights"]

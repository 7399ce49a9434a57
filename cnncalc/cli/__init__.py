"""The command line: parse options, call the library, pick a renderer, map errors to exit codes.

One module per group of commands: ``common`` (the group, output helpers, answer checks),
``model`` (``cnncalc SPEC``), ``quick`` (conv, pool, dense, deconv, pad), ``teach`` (solve,
quiz), ``zoo`` (list, show, convert) and ``entry`` (exit codes).

Exit codes: 0 success; 1 a check failed (--expect, a --run mismatch); 2 bad input.
"""

from . import model, quick, teach, zoo  # noqa: F401  (register the commands)
from .common import main
from .entry import EXIT_BUG, EXIT_IO, _debug_flag, entry, run
from .model import TRAIN_CONVENTIONS, TRAIN_DTYPES, TRAIN_OPTIMIZERS

__all__ = ["EXIT_BUG", "EXIT_IO", "TRAIN_CONVENTIONS", "TRAIN_DTYPES", "TRAIN_OPTIMIZERS",
           "_debug_flag", "entry", "main", "run"]

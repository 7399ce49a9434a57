"""The console script's entry point: as little as possible runs before the signal set-up, so
that Ctrl-C while Python imports the CLI ends with one line and exit 130, not a traceback."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    # a reader that goes away (`cnncalc ... | head -1`) ends cnncalc as it ends other Unix tools:
    # quietly, by SIGPIPE (exit status 141 in the shell)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        from .cli import entry
    except KeyboardInterrupt:
        sys.stderr.write("cnncalc: interrupted\n")
        raise SystemExit(130) from None
    entry()

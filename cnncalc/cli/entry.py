"""The entry point: run the click group and map every outcome to an exit code."""

from __future__ import annotations

import os
import sys

import click

from ..errors import CheckFailed, CnnCalcError, printable

from .common import main


# --- entry point ---------------------------------------------------------------------------------

def _debug_flag(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--`` (any command) shows an internal error's traceback, as
    ``CNNCALC_DEBUG=1`` does; it is taken out before click parses the rest."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args, bool(os.environ.get("CNNCALC_DEBUG"))
    return [a for a in args[:end] if a != "--debug"] + args[end:], True


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (never raises for user errors)."""
    args = sys.argv[1:] if argv is None else list(argv)
    args, debug = _debug_flag(args)
    if not args:
        args = ["--help"]
    try:
        result = main.main(args=args, prog_name="cnncalc", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except CheckFailed:
        return 1
    except CnnCalcError as e:
        click.echo(f"cnncalc: error: {e}", err=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("cnncalc: aborted", err=True)
        return 130
    except click.ClickException as e:
        msg = e.format_message().replace("\n", " ")
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"cnncalc: error: {printable(msg)}{hint}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("cnncalc: interrupted", err=True)
        return 130
    except BrokenPipeError:
        raise
    except MemoryError:     # the machine's memory, not a bug: --max-memory, ulimit -v
        click.echo("cnncalc: error: out of memory; give a smaller --input, --batch or "
                   "--max-memory", err=True)
        return 2
    except OSError as e:    # writing the output failed: a full disk, a closed descriptor
        where = f" {e.filename}" if e.filename else " the output"
        click.echo(f"cnncalc: error: cannot write{printable(str(where))}: "
                   f"{e.strerror or e}", err=True)
        return EXIT_IO
    except Exception as e:  # a bug: say so in one line; --debug shows the traceback
        if debug:
            raise
        what = printable(f"{type(e).__name__}: {e}".replace("\n", " "))[:500]
        click.echo(f"cnncalc: internal error: {what} (a bug in cnncalc: please report it with "
                   f"the command; --debug or CNNCALC_DEBUG=1 shows the traceback)", err=True)
        return EXIT_BUG


EXIT_BUG = 70    # sysexits.h EX_SOFTWARE: an internal error (a bug)
EXIT_IO = 74     # sysexits.h EX_IOERR: the output could not be written


def entry() -> None:
    """Console-script entry point (called by :func:`cnncalc._entry.main`)."""
    if sys.stdout is None:
        sys.stderr.write("cnncalc: error: standard output is closed\n") if sys.stderr else None
        sys.exit(EXIT_IO)
    code = 0
    try:
        code = run()
        sys.stdout.flush()
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise
        if code != EXIT_IO:     # run() has not said so already
            sys.stderr.write(f"cnncalc: error: cannot write the output: {e.strerror or e}\n")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_IO
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)

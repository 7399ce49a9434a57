"""Files cnncalc writes, in one place: every output (``--save-output``, ``--save-maps``,
``--diagram``) is written to a temporary file in the target's directory and renamed over the
target (:func:`atomic_file`, :func:`write_atomic`), so a reader, or another cnncalc writing the
same name at the same time, never sees half a file, and a failure or Ctrl-C leaves no partial file
behind. :func:`check_paths` refuses empty paths and an output that is the same file as an input
before anything is read or written; :func:`short_name` keeps generated file names within the
file system's limit.

No NumPy or Pillow here: callers hand in bytes or write to the open file themselves.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import CnnCalcError

MAX_FILE_NAME_BYTES = 120      # a generated file name (UTF-8) longer than this is shortened


def _new_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], what: str) -> Iterator[BinaryIO]:
    """``with atomic_file(path, "--save-output") as fh: ...``: write ``fh``, then it replaces
    ``path`` in one rename. On any failure, and on Ctrl-C, the temporary file is removed and an
    existing ``path`` is left as it was. An OSError becomes one line naming ``what`` and the
    path. The new file keeps the mode of the file it replaces (else the umask's)."""
    target = Path(path)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = _new_file_mode()
    tmp: str | None = None
    try:
        # a short fixed prefix: the temporary name must fit wherever the target's name fits
        import tempfile              # only when writing (keeps start-up light)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".cnncalc-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise CnnCalcError(f"cannot write {what} {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_atomic(path: str | os.PathLike[str], data: bytes, what: str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, what) as fh:
        fh.write(data)


def short_name(stem: str, suffix: str, limit: int = MAX_FILE_NAME_BYTES) -> str:
    """``stem + suffix``, or, when that is longer than ``limit`` bytes in UTF-8, the stem cut to
    fit followed by ``~`` and 8 hex digits of its SHA-1: deterministic, and two long stems that
    share their start still get different names."""
    name = stem + suffix
    if len(name.encode("utf-8")) <= limit:
        return name
    import hashlib
    tag = "~" + hashlib.sha1(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    room = limit - len(tag.encode("utf-8")) - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore")
    return cut + tag + suffix


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def stdin_stat() -> os.stat_result | None:
    """The file behind standard input when it is a regular file (``cnncalc - < net.yaml``)."""
    try:
        st = os.fstat(0)
    except (OSError, ValueError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def check_paths(inputs: dict[str, str | os.stat_result | None],
                outputs: dict[str, str | None]) -> None:
    """Refuse, before anything is read or written: an empty path given for an input or an
    output, an output that is the same file as an input (``os.path.samefile``'s test: hard and
    symbolic links count), and two outputs that are the same file. Keys name the option
    (``--weights``); an input may be given as the ``stat`` of an open file (standard input)."""
    for label, value in list(inputs.items()) + list(outputs.items()):
        if value == "":
            raise CnnCalcError(f"{label}: the path is empty")
    ins: list[tuple[str, str, os.stat_result]] = []
    for label, value in inputs.items():
        if value is None:
            continue
        st = value if isinstance(value, os.stat_result) else _stat(value)
        if st is not None and stat.S_ISREG(st.st_mode):
            ins.append((label, value if isinstance(value, str) else "standard input", st))
    seen: dict[object, tuple[str, str]] = {}
    for label, path in outputs.items():
        if path is None:
            continue
        st = _stat(path)
        for in_label, in_path, in_st in ins:
            if st is not None and _same(st, in_st):
                also = "" if in_path == path else f" ({in_path})"
                raise CnnCalcError(f"{label} {path} is the same file as the {in_label}{also}; "
                                   f"writing it would destroy the input: choose another name")
        # two outputs naming one file (that may not exist yet)
        key = (st.st_dev, st.st_ino) if st is not None else os.path.realpath(path)
        if key in seen:
            out_label, out_path = seen[key]
            raise CnnCalcError(f"{out_label} {out_path} and {label} {path} are the same file; "
                               f"choose two names")
        seen[key] = (label, path)


def clashes(path: Path, inputs: dict[str, str | os.stat_result | None]) -> str | None:
    """The label of the input that ``path`` (a file about to be written) is, or None."""
    st = _stat(str(path))
    if st is None:
        return None
    for label, value in inputs.items():
        if value is None:
            continue
        in_st = value if isinstance(value, os.stat_result) else _stat(value)
        if in_st is not None and _same(st, in_st):
            return label
    return None

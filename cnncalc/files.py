"""Files cnncalc writes, in one place: every output (``--save-output``, ``--save-maps``,
``--diagram``) is written to a temporary file in the target's directory and renamed over the
target (:func:`atomic_file`, :func:`write_atomic`), so a reader, or another cnncalc writing the
same name at the same time, never sees half a file, and a failure or Ctrl-C leaves no partial file
behind; :func:`short_name` keeps generated file names within the file system's limit.

No NumPy or Pillow here: callers hand in bytes or write to the open file themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
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
    tag = "~" + hashlib.sha1(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    room = limit - len(tag.encode("utf-8")) - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore")
    return cut + tag + suffix

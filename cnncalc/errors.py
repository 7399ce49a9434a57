"""The one exception type users see, and how it names the place of a problem."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``), so that a name or a path from
    a file cannot move the cursor, clear the screen or retitle the terminal when printed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class CnnCalcError(Exception):
    """Bad input: an unreadable or invalid spec, a bad option or value (exit code 2).

    ``str(err)`` is one line: ``FILE:LINE: layer INDEX 'NAME' (TYPE): MESSAGE``, with the parts
    that are known.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 index: int | None = None, name: str | None = None, type: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.index = index
        self.name = name
        self.type = type

    def located(self, *, file: str | None = None, line: int | None = None,
                index: int | None = None, name: str | None = None,
                type: str | None = None) -> "CnnCalcError":
        """Fill in the parts of the location that are still unknown; returns self."""
        self.file = self.file or file
        self.line = self.line or line
        self.index = self.index if self.index is not None else index
        self.name = self.name or name
        self.type = self.type or type
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        if self.name is not None or self.index is not None:
            layer = "layer"
            if self.index is not None:
                layer += f" {self.index}"
            if self.name is not None:
                layer += f" '{self.name}'"
            if self.type:
                layer += f" ({self.type})"
            where += layer + ": "
        return printable(where + self.message)


class CheckFailed(Exception):
    """A check the user asked for did not hold (--expect, a --run mismatch): exit code 1."""

    exit_code = 1

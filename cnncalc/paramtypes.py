"""click parameter types: every value the command line parses, each with one parser and one error.

A shape (``224x224x3``, ``224X224x3``, ``224×224×3``, ``[4096]``), a kernel (``3``, ``1x7``, or a
quiz's ``3x3x3`` with the depth), a window pair (stride, dilation, pool size), a padding and a
memory size (``1.5G``, ``800MiB``, ``8000MB``, ``8e9``, plain bytes) are converted here, so the
commands in :mod:`cnncalc.cli` receive ready values. So are answers as people write them, for
``--expect*``: counts (``27,000,100``, ``27 000 100``, ``27.0M``), shapes (``5x5x16``,
``5×5×16``, ``(5, 5, 16)``, ``5, 5, 16``, ``[100]``) and receptive fields (``7`` or ``7x7``).

A value that does not parse fails with one message naming the option, the expected format, an
example and the value given; the CLI prints it as one line and exits 2.

Whether a value makes sense for a layer (a kernel larger than the input, stride 0) is for the
layer to say: these types only check the notation.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Any, NamedTuple, NoReturn

import click

_SEP = re.compile(r"\s*[x×X,]\s*")


class Invalid(click.BadParameter):
    """A value that does not parse. The message already names the parameter, so it is printed as
    it is (click would prefix "Invalid value for '--kernel' / '-f':")."""

    def format_message(self) -> str:
        return self.message


def _name(param: click.Parameter | None) -> str:
    """The parameter as the user knows it: ``--kernel`` for an option, ``INPUT`` for an argument."""
    if param is None:
        return "value"
    longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return longs[0] if longs else param.human_readable_name


class _Type(click.ParamType):
    """The shared part: the metavar shown in --help and the one error message."""

    metavar = "VALUE"
    expected = ""           # "N or HxW (e.g. 2 or 2x1)": what the message says was expected

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def reject(self, value: Any, param: click.Parameter | None, ctx: click.Context | None,
               extra: str = "") -> NoReturn:
        raise Invalid(f"{_name(param)} must be {self.expected}, got {value!r}{extra}", ctx, param)


def _ints(text: str, counts: tuple[int, ...]) -> list[int] | None:
    """``3``, ``1x7``, ``2,1``, ``[3, 3]`` → the integers, or None if not ``counts`` of them."""
    parts = [p for p in _SEP.split(str(text).strip().strip("[]")) if p != ""]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        return None
    return vals if len(vals) in counts else None


# --- windows: stride, dilation, pool size, kernel ------------------------------------------------

class Pair(_Type):
    """``2`` or ``2x1`` (height x width) → ``2`` or ``[2, 1]``: stride, dilation, pool size."""

    name = "pair"
    metavar = "N|HxW"
    expected = "N or HxW (e.g. 2 or 2x1)"

    def convert(self, value: Any, param, ctx) -> int | list[int]:
        if not isinstance(value, str):
            return value
        vals = _ints(value, (1, 2))
        if vals is None:
            self.reject(value, param, ctx)
        return vals[0] if len(vals) == 1 else vals


class Kernel(NamedTuple):
    size: int | list[int]       # what the layer takes: F or [h, w]
    depth: int | None           # a quiz's HxWxC: the C, to check against the input channels


class KernelType(_Type):
    """``3``, ``1x7`` or a quiz's ``3x3x3`` (with the depth) → :class:`Kernel`."""

    name = "kernel"
    metavar = "F|HxW|HxWxC"
    expected = "N or HxW or HxWxC (e.g. 3, 1x7 or 3x3x3)"

    def convert(self, value: Any, param, ctx) -> Kernel:
        if isinstance(value, Kernel):
            return value
        vals = _ints(value, (1, 2, 3))
        if vals is None:
            self.reject(value, param, ctx)
        if len(vals) == 3:
            return Kernel(vals[:2], vals[2])
        return Kernel(vals[0] if len(vals) == 1 else vals, None)


class Padding(_Type):
    """``1``, ``1x2`` (h x w), ``0,1,0,1`` (top, bottom, left, right), ``same``, ``valid`` or
    ``full`` → an int, a list or the lower-case word."""

    name = "padding"
    metavar = "P"
    expected = "N, HxW, T,B,L,R, same, valid or full (e.g. 1, 1x2, 0,1,0,1 or same)"

    def convert(self, value: Any, param, ctx) -> int | list[int] | str:
        if not isinstance(value, str):
            return value
        from .layers import PAD_MODES, suggest
        word = value.strip().lower()
        if word in PAD_MODES:
            return word
        vals = _ints(value, (1, 2, 4))
        if vals is None:
            hint = suggest(word, PAD_MODES) if re.fullmatch(r"[a-z_]+", word) else ""
            self.reject(value, param, ctx, hint)
        return vals[0] if len(vals) == 1 else vals


# --- shapes --------------------------------------------------------------------------------------

# bounded runs and digit boundaries keep the search linear (30,000 digits used to take seconds)
_N = r"(?<!\d)\d{1,18}(?!\d)"
_SP = r"[ \t]{0,8}"
_SHAPE_IN_TEXT = re.compile(rf"{_N}{_SP}[x×X]{_SP}{_N}{_SP}[x×X]{_SP}{_N}|\[{_SP}{_N}{_SP}\]")


class Shape(_Type):
    """``224x224x3`` (also ``X``, ``×``, ``,``) or ``[4096]`` → a tuple of positive ints.

    ``stdin=True`` also accepts ``-``: the first shape in the text on standard input (so
    ``cnncalc conv ... -q | cnncalc pool - ...`` chains). ``words`` are literal alternatives
    returned as they are (``--input auto``).
    """

    name = "shape"
    metavar = "HxWxC"

    def __init__(self, stdin: bool = False, words: tuple[str, ...] = ()) -> None:
        self.stdin, self.words = stdin, words
        alternatives = "".join(f" or {w}" for w in words) + (
            " or - (the first shape on standard input)" if stdin else "")
        self.expected = f"HxWxC or [N] (positive integers, e.g. 224x224x3 or [4096]){alternatives}"

    def convert(self, value: Any, param, ctx) -> tuple[int, ...] | str:
        if not isinstance(value, str):
            return value
        if value.strip().lower() in self.words:
            return value.strip().lower()
        if self.stdin and value == "-":
            value = self._from_stdin(param, ctx)
        from .errors import CnnCalcError
        from .spec import parse_shape          # the one shape parser, shared with the YAML input
        try:
            return parse_shape(value)
        except CnnCalcError:
            self.reject(value, param, ctx)

    def _from_stdin(self, param, ctx) -> str:
        if sys.stdin is None or sys.stdin.isatty():
            raise Invalid(f"{_name(param)} is '-' but nothing is piped to standard input", ctx,
                          param)
        from .limits import MAX_SHAPE_INPUT
        try:
            data = sys.stdin.read(MAX_SHAPE_INPUT + 1)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise Invalid(f"cannot read standard input: {e}", ctx, param) from None
        if len(data) > MAX_SHAPE_INPUT:
            raise Invalid(f"standard input is longer than {MAX_SHAPE_INPUT >> 10} KiB; '-' "
                          f"expects a shape such as 128x128x3 (docs/LIMITS.md)", ctx, param)
        m = _SHAPE_IN_TEXT.search(data)
        if not m:
            raise Invalid(f"no HxWxC shape found on standard input (got {data.strip()[:60]!r})",
                          ctx, param)
        return m.group(0)


# --- memory sizes --------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 2 ** 10, "kb": 10 ** 3, "kib": 2 ** 10, "m": 2 ** 20, "mb": 10 ** 6,
          "mib": 2 ** 20, "g": 2 ** 30, "gb": 10 ** 9, "gib": 2 ** 30, "t": 2 ** 40,
          "tb": 10 ** 12, "tib": 2 ** 40}
_HUGE = Decimal(2 ** 63)
_SIZE = re.compile(r"\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int | None:
    """``1.5G``, ``800MiB``, ``8000MB``, ``8e9`` or ``1000`` → bytes (None if it is not one).

    K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB powers of 1000; a bare
    number is bytes. The result is at least 1.
    """
    m = _SIZE.fullmatch(str(text))
    if not m or m.group(2).lower() not in _UNITS:
        return None
    number = Decimal(m.group(1))
    if number.is_zero():
        return None
    # 1e999999999 means "no limit": cap it rather than build a billion-digit integer
    exact = number * _UNITS[m.group(2).lower()] if number.adjusted() < 30 else _HUGE
    value = int(min(exact, _HUGE))
    return value if value > 0 else None


class Size(_Type):
    """A memory size in bytes: see :func:`parse_size`."""

    name = "size"
    metavar = "SIZE"
    expected = ("a size like 2G, 1.5GiB, 800MiB, 8000MB or 8e9 bytes, above 0 (K, M, G and KiB, "
                "MiB, GiB count 1024s; KB, MB, GB count 1000s)")

    def convert(self, value: Any, param, ctx) -> int:
        if isinstance(value, int):
            return value
        size = parse_size(value)
        if size is None:
            self.reject(value, param, ctx)
        return size


# --- answers as people write them (--expect, --expect-params, --expect-rf, ...) -------------------

class AnswerShape(_Type):
    """An output shape as people write it: ``5x5x16``, ``5 x 5 x 16``, ``5×5×16``, ``5X5X16``,
    ``(5, 5, 16)``, ``[5, 5, 16]``, ``5, 5, 16``, ``5 5 16``; a vector ``[100]``, ``(100,)`` or
    ``100`` → a tuple of positive ints."""

    name = "answer shape"
    metavar = "HxWxC|[N]"
    expected = ("an output shape such as 5x5x16, 5×5×16, (5, 5, 16), 5, 5, 16 or [100] "
                "(positive integers: H, W, C or a vector length)")
    _FORM = re.compile(r"[\[(]?\s*(\d+(?:\s*(?:[x×X*,]|\s)\s*\d+)*)\s*,?\s*[\])]?")

    def convert(self, value: Any, param, ctx) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        m = self._FORM.fullmatch(text) if len(text) <= _ANSWER_LEN else None
        if not m or (text[:1] in "[(") != (text[-1:] in "])") or \
                (text[:1] == "[" and text[-1:] != "]") or (text[:1] == "(" and text[-1:] != ")"):
            self.reject(value, param, ctx)
        dims = [int(d) for d in re.split(r"\s*[x×X*,]\s*|\s+", m.group(1).strip())]
        if len(dims) not in (1, 3) or min(dims) <= 0 or max(dims) >= 10 ** 18:
            self.reject(value, param, ctx)
        return tuple(dims)


class Count(NamedTuple):
    """A count as written: its exact value, the text, and for ``27.0M`` the unit (10**6) and
    the decimals given (1), so a check can say that the answer is the count rounded."""
    value: int
    text: str
    unit: int = 1
    decimals: int = 0

    def rounds(self, exact: int) -> bool:
        """Whether ``exact`` written like this answer (same unit and decimals) gives it."""
        if self.unit == 1:
            return False
        scaled = Decimal(exact) / self.unit
        return scaled.quantize(Decimal(1).scaleb(-self.decimals)) == \
            Decimal(self.value) / self.unit


_COUNT_UNITS = {"": 1, "k": 10 ** 3, "K": 10 ** 3, "M": 10 ** 6, "m": 10 ** 6, "G": 10 ** 9,
                "B": 10 ** 9, "b": 10 ** 9, "T": 10 ** 12}
_GROUPED = re.compile(r"\d{1,3}(?:([,\u00a0\u202f\u2009 _'])\d{3})?(?:\1\d{3})*")
_SCIENTIFIC = re.compile(r"(\d{1,20}(?:\.\d{1,20})?)[eE]\+?(\d{1,2})")
_ANSWER_LEN = 100          # an answer longer than this is not one (and keeps the regexes cheap)
_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmMGBbT]?)")


class CountType(_Type):
    """A whole count as people write it: ``27000100``, ``27,000,100``, ``27 000 100`` (also a
    thin space, ``_`` or ``'`` between groups of three), or with a unit ``27.0M``, ``7.6k``,
    ``15.47G``/``B`` (k = 10³, M = 10⁶, G = B = 10⁹, T = 10¹²) when that is a whole number →
    :class:`Count`. ``27.0M`` means exactly 27,000,000."""

    name = "count"
    metavar = "N"
    expected = ("a whole number such as 27000100, 27,000,100, 27 000 100, 27.0M or 2.7e7 (k, "
                "M, G/B, T and e only where the value is a whole number)")

    def convert(self, value: Any, param, ctx) -> Count:
        if isinstance(value, Count):
            return value
        if isinstance(value, int):
            return Count(value, str(value))
        text = str(value).strip()
        if len(text) > _ANSWER_LEN:
            self.reject(value[:_ANSWER_LEN] + "…", param, ctx)
        if _GROUPED.fullmatch(text) or re.fullmatch(r"\d{1,30}", text):
            digits = re.sub(r"[,\u00a0\u202f\u2009 _']", "", text)
            return Count(int(digits), text)
        m = _SCALED.fullmatch(text)
        if m and len(m.group(1)) <= 30 and m.group(2):
            number = Decimal(m.group(1)) * _COUNT_UNITS[m.group(2)]
            if number == number.to_integral_value():
                decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                return Count(int(number), text, _COUNT_UNITS[m.group(2)], decimals)
            self.reject(value, param, ctx, f" ({m.group(1)}{m.group(2)} is not a whole number)")
        m = _SCIENTIFIC.fullmatch(text)
        if m:
            number = Decimal(m.group(1)).scaleb(int(m.group(2)))
            if number == number.to_integral_value():
                decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                return Count(int(number), text, 10 ** int(m.group(2)), decimals)
            self.reject(value, param, ctx, f" ({text} is not a whole number)")
        self.reject(value, param, ctx)


class ReceptiveField(_Type):
    """A receptive field: ``7`` (square), ``7x7``, ``7×5`` or ``(7, 7)`` → ``(h, w)``."""

    name = "receptive field"
    metavar = "N|HxW"
    expected = "a receptive field such as 7 or 7x7 (pixels of the input)"

    def convert(self, value: Any, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        m = re.fullmatch(r"\(?\s*(\d{1,9})(?:\s*[x×X,]\s*(\d{1,9}))?\s*\)?", str(value).strip())
        if not m or min(int(v) for v in m.groups() if v) <= 0:
            self.reject(value, param, ctx)
        return (int(m.group(1)), int(m.group(2) or m.group(1)))


class Unknown(_Type):
    """A whole number, or ``any`` (also ``?``) for one ``cnncalc solve`` should find → an int
    or None."""

    name = "number or any"
    metavar = "N|any"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum
        self.expected = f"a whole number >= {minimum} or any (e.g. 3 or any)"

    def convert(self, value: Any, param, ctx) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text in ("any", "?"):
            return None
        if not re.fullmatch(r"\d{1,9}", text) or int(text) < self.minimum:
            self.reject(value, param, ctx)
        return int(text)


PAIR = Pair()
KERNEL = KernelType()
PADDING = Padding()
SHAPE = Shape()
SIZE = Size()
ANSWER_SHAPE = AnswerShape()
COUNT = CountType()
RF = ReceptiveField()

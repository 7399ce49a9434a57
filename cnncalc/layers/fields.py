"""Typed spec fields: the validators a layer's ``params`` table names.

Each validator takes ``(field name, raw YAML value)`` and returns the normalised value, or raises
:class:`ParamError` with a message that names the field and the value. A layer declares its fields
as ``params = {"name": (validator, default)}`` (``REQUIRED`` for no default).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable

REQUIRED: Any = object()

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "swish",
               "hardswish", "relu6", "hardsigmoid", "linear", "elu", "selu", "softplus", "mish")

PAD_MODES = ("same", "valid", "full")

Validator = Callable[[str, Any], Any]


class ParamError(ValueError):
    """A parameter value is invalid; the message names the parameter and the value."""


def suggest(word: str, options) -> str:
    """' (did you mean 'x'?)' or ''."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def show(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_BY = re.compile(r"\s*(\d{1,9})\s*[x×X]\s*(\d{1,9})\s*")


def by(v: Any) -> Any:
    """``'1x7'`` (also ``1×7``, ``1 X 7``) → ``[1, 7]``: the height-by-width spelling of a pair,
    as in Inception's factorised kernels (``kernel: 1x7``, ``stride: 2x1``, ``padding: 0x3``).
    Any other value is returned unchanged."""
    if isinstance(v, str):
        m = _BY.fullmatch(v)
        if m:
            return [int(m.group(1)), int(m.group(2))]
    return v


def _float_hint(v: Any) -> str:
    """For a non-integral number where an integer is needed (often an expression's result)."""
    return (" (a fraction: round it in the expression with int(), round(), floor(), ceil(), "
            "make_divisible() or //)" if isinstance(v, float) else "")


def _by_hint(v: Any) -> str:
    return " (a string must be HxW, e.g. 1x7)" if isinstance(v, str) else ""


def int_(minimum: int = 1) -> Validator:
    def check(name: str, v: Any) -> int:
        if not is_int(v):
            raise ParamError(f"{name} must be an integer, got {show(v)}{_float_hint(v)}")
        if v < minimum:
            raise ParamError(f"{name} must be >= {minimum}, got {v}")
        return v
    return check


def pair(minimum: int = 1) -> Validator:
    """An int, a [h, w] list or an ``HxW`` string (``1x7``)."""
    def check(name: str, v: Any) -> tuple[int, int]:
        given = v
        if isinstance(v, str):
            v = by(v)
        elif is_int(v):
            v = [v, v]
        if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(is_int(x) for x in v)):
            raise ParamError(f"{name} must be an integer or [h, w], got {show(given)}"
                             f"{_float_hint(given)}{_by_hint(given)}")
        if min(v) < minimum:
            raise ParamError(f"{name} must be >= {minimum}, got {show(given)}")
        return (v[0], v[1])
    return check


def four(name: str, v: Any) -> tuple[int, int, int, int]:
    """An int, [h, w], ``HxW`` (``0x3``) or [top, bottom, left, right] of non-negative ints."""
    given = v
    if isinstance(v, str):
        v = by(v)
    elif is_int(v):
        v = [v]
    if not (isinstance(v, (list, tuple)) and len(v) in (1, 2, 4) and all(is_int(x) for x in v)):
        raise ParamError(f"{name} must be an integer, [h, w] or [top, bottom, left, right], "
                         f"got {show(given)}{_by_hint(given)}")
    if min(v) < 0:
        raise ParamError(f"{name} must be >= 0, got {show(given)}")
    if len(v) == 1:
        return (v[0],) * 4
    if len(v) == 2:
        return (v[0], v[0], v[1], v[1])
    return (v[0], v[1], v[2], v[3])


def padding(name: str, v: Any) -> str | tuple[int, int, int, int]:
    if isinstance(v, str) and not _BY.fullmatch(v):
        if v.lower() not in PAD_MODES:
            raise ParamError(f"{name} must be an integer, [h, w], [top, bottom, left, right], "
                             f"'same', 'valid' or 'full', got {show(v)}"
                             f"{suggest(v, PAD_MODES) or _by_hint(v)}")
        return v.lower()
    return four(name, v)


def boolean(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ParamError(f"{name} must be true or false, got {show(v)}")
    return v


def number(minimum: float = 0.0, maximum: float | None = None,
           open_max: bool = False) -> Validator:
    def check(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ParamError(f"{name} must be a number, got {show(v)}")
        if v < minimum or (maximum is not None and (v >= maximum if open_max else v > maximum)):
            hi = f" and {'<' if open_max else '<='} {maximum}" if maximum is not None else ""
            raise ParamError(f"{name} must be >= {minimum}{hi}, got {v}")
        return float(v)
    return check


def choice(*options: str) -> Validator:
    """One of a few words (case-insensitive)."""
    def check(name: str, v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ParamError(f"{name} must be {', '.join(options[:-1])} or {options[-1]}, got "
                             f"{show(v)}" + (suggest(v, options) if isinstance(v, str) else ""))
        return v.lower()
    return check


def activation(name: str, v: Any) -> str | None:
    if v is None or v is False:
        return None
    if not isinstance(v, str) or v.lower() not in ACTIVATIONS:
        raise ParamError(f"{name} must be one of {', '.join(ACTIVATIONS)}, got {show(v)}"
                         + (suggest(v, ACTIVATIONS) if isinstance(v, str) else ""))
    v = v.lower()
    return None if v == "linear" else v


def reference(name: str, v: Any) -> str | int:
    """Another layer: a name, or a negative relative index."""
    if isinstance(v, str) or (is_int(v) and v < 0):
        return v
    raise ParamError(f"{name} must be a layer name or a negative relative index, got {show(v)}")


def is_matrix(v: Any) -> bool:
    return (isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(r, (list, tuple)) and len(r) == len(v[0]) and len(r) > 0 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and x == x
            and abs(x) != float("inf") for x in r) for r in v))


def fixed_kernels(name: str, v: Any) -> tuple | None:
    """``weights:`` of a conv: fixed kernels, one entry per filter, each a f_h×f_w matrix (the
    same kernel on every input channel of its group) or a list of C_in/groups such matrices.
    Returned as nested tuples; the NumPy engine uses them instead of random weights."""
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not v or not all(
            is_matrix(e) or (isinstance(e, (list, tuple)) and e and all(is_matrix(m) for m in e))
            for e in v):
        raise ParamError(f"{name} must be a list with one kernel per filter, each a matrix of "
                         f"numbers (rows of equal length) or a list of such matrices, one per "
                         f"input channel")

    def rows(m: Any) -> tuple:
        return tuple(tuple(r) for r in m)
    return tuple(rows(e) if is_matrix(e) else tuple(rows(m) for m in e) for e in v)

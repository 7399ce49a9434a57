"""``$name`` substitution in block arguments and entries: what ``$in`` stands for while the tree
is built (a marker) and during the analysis (a shape), the lookup of a name, and the walk that
substitutes every string holding a ``$``. The expression language itself is :mod:`cnncalc.expr`.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import CnnCalcError
from .expr import ExprError, evaluate
from .layers import suggest
from .source import LDict, LList, line_of

Shape = tuple[int, ...]


class _InMarker:
    """What ``$in`` stands for where no shape is known yet (while the tree is built)."""
    __slots__ = ("kind",)

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<$in: {self.kind}>"


IN_TOP = _InMarker("top")        # outside blocks: the input of the entry itself
IN_BLOCK = _InMarker("block")    # inside a block: the block's input


class InShape:
    """``$in`` during the analysis: a shape whose fields are ``c``, ``h`` and ``w``."""
    __slots__ = ("shape", "marker")

    def __init__(self, shape: Shape, marker: _InMarker):
        self.shape = shape
        self.marker = marker

    def field(self, name: str | None) -> int:
        shape = self.shape
        shown = "x".join(map(str, shape)) if len(shape) == 3 else f"[{shape[0]}]"
        if name is None:
            raise ExprError(f"$in is the input shape {shown}; use $in.c, $in.h or $in.w")
        if name == "c":
            return shape[-1]
        if name in ("h", "w") and len(shape) == 3:
            return shape[0] if name == "h" else shape[1]
        if name in ("h", "w"):
            raise ExprError(f"$in.{name}: the input is a vector {shown}, which has no height or "
                            f"width ($in.c is its length)")
        raise ExprError(f"$in has no field '{name}'{suggest(name, ('c', 'h', 'w'))}; its "
                        f"fields are c, h and w")


class NeedsShape(CnnCalcError):
    """An expression read ``$in`` before the shapes are known. The builder catches it and leaves
    a :class:`Deferred` entry, which the analysis expands once it knows the entry's input."""


_WHOLE = re.compile(r"\s*\$([A-Za-z_]\w*)\s*")


def evaluate_value(expr: str, env: dict[str, Any]) -> Any:
    """``$name`` alone passes the parameter's value through (any type); anything else is an
    expression of :mod:`cnncalc.expr`. Never uses eval()."""
    whole = _WHOLE.fullmatch(expr)
    if whole:
        return lookup(whole.group(1), None, env)
    return evaluate(expr, lambda name, fld: lookup(name, fld, env))


def lookup(name: str, fld: str | None, env: dict[str, Any]) -> Any:
    if name not in env:
        params = [f"${k}" for k in env if k != "in"]
        known = (", ".join(params) + ", $in") if params else \
            "$in only; other $names work only inside a block"
        raise ExprError(f"${name} is not defined{suggest(name, map(str, env))} "
                        f"(defined: {known})")
    value = env[name]
    if name == "in" and isinstance(value, (_InMarker, InShape)):
        if isinstance(value, _InMarker):
            raise NeedsShape("$in (the input shape) is not known here")
        return value.field(fld)
    if fld is not None:
        if name == "in":
            raise ExprError(f"$in.{fld}: this block has a parameter 'in', which hides the input "
                            f"shape; rename the parameter to read $in.{fld}")
        raise ExprError(f"${name}.{fld}: only $in has fields (.c, .h, .w)")
    if value is MISSING:
        raise ExprError(f"block parameter ${name} has no default and was not given")
    return value


MISSING = object()      # a block parameter with no default
ABSENT = object()       # a field the entry does not give


def substitute(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return evaluate_value(value, env) if "$" in value else value
    if isinstance(value, dict):
        out = LDict((k, substitute(v, env)) for k, v in value.items())
        out.line = line_of(value)
        return out
    if isinstance(value, list):
        out2 = LList(substitute(v, env) for v in value)
        out2.line = line_of(value)
        return out2
    return value


def nested(env: dict[str, Any]) -> dict[str, Any]:
    """The environment of the layer lists inside a composite: outside blocks, ``$in`` is again
    each entry's own input there, not the composite's."""
    bound = env.get("in")
    if isinstance(bound, InShape) and bound.marker is IN_TOP:
        return {**env, "in": IN_TOP}
    return env

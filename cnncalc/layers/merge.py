"""Merges of two or more inputs: add, multiply (with a broadcast gate) and concat."""

from __future__ import annotations

from .. import shapes
from ..shapes import Field, ShapeError
from .base import Layer, Result, Shape, fmt_shape, register


class Merge(Layer):
    """Add and concat keep nothing for backward (their gradients are copies or slices of the
    incoming one); multiply keeps its inputs, as the base class does."""
    merges = True
    family = "merge"

    def analyse(self, inputs, fields, names=None):
        """``names`` label the inputs in errors."""
        return self.merge(inputs, fields, names or ["?"] * len(inputs))

    def merge(self, inputs: list[Shape], fields: list[Field], names: list[str]) -> Result:
        raise NotImplementedError


def _mismatch(what: str, inputs, names) -> ShapeError:
    listed = ", ".join(f"'{n}' {fmt_shape(s)}" for n, s in zip(names, inputs))
    return ShapeError(f"{what}: {listed}")


@register("add")
class Add(Merge):
    def saved_for_backward(self, rec, act):
        return []
    def merge(self, inputs, fields, names):
        if any(s != inputs[0] for s in inputs):
            raise _mismatch("cannot add different shapes", inputs, names)
        return Result(inputs[0])


@register("multiply", "mul")
class Multiply(Merge):
    """Element-wise product with broadcasting of a 1×1×C or [C] gate over an H×W×C map (the
    squeeze-and-excitation rescaling)."""

    def merge(self, inputs, fields, names):
        big = max(inputs, key=lambda s: (len(s), s))
        for s in inputs:
            gate = s[-1] == big[-1] and all(d == 1 for d in s[:-1])
            if s != big and not gate:
                raise _mismatch("cannot multiply these shapes", inputs, names)
        # receptive field: the largest over the paths (a global gate sees the whole map), but the
        # jump is the map's own: a broadcast 1x1 gate has no spatial step of its own
        rf = shapes.merge_fields(fields)
        maps = [f for s, f in zip(inputs, fields) if s == big]
        field = Field(rf.rf_h, rf.rf_w, max(f.jump_h for f in maps), max(f.jump_w for f in maps))
        return Result(big, field=field)


@register("concat", "concatenate")
class Concat(Merge):
    """Concatenation along the channels (the last axis)."""

    def saved_for_backward(self, rec, act):
        return []

    def merge(self, inputs, fields, names):
        first = inputs[0]
        if any(len(s) != len(first) or s[:-1] != first[:-1] for s in inputs):
            what = "cannot concatenate maps of different HxW" if len(first) == 3 else \
                "cannot concatenate these shapes"
            raise _mismatch(what, inputs, names)
        return Result(first[:-1] + (sum(s[-1] for s in inputs),))

    def working(self, rec) -> list[str]:
        return [f"channels = {' + '.join(str(s[-1]) for s in rec.input_shapes)} = "
                f"{rec.output[-1]}; H×W unchanged; no parameters"]

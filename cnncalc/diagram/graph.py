"""The network as nodes and edges, at a chosen depth: what every picture format draws.

A *unit* is one node of a picture: a leaf layer, or, with ``--depth N``, a whole group at depth N
(the same grouping the ``--summary`` tree uses: a group row at depth N stands for everything
below it). Unit 0 is the network input. Edges are the data flows between units (every
``rec.inputs`` entry whose source and destination fall in different units), once per pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis import Analysis, Group, LayerRecord

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Unit:
    id: int                 # 0 = the network input, then 1, 2, ... in execution order
    path: str               # full dotted path ("layer2.0.body.conv_1", "layer2.0"); "input"
    name: str               # the name shown: the path below its frame, else the full path
    type: str               # layer type ("conv"), group kind ("repeat"), or "input"
    label: str              # type as the table prints it: "conv (relu)", "block basic/residual"
    output: Shape
    params: int = 0
    macs: int = 0
    group: bool = False     # a collapsed group (``--depth``) rather than a single layer
    layers: int = 1         # how many leaf layers it stands for
    frame: int | None = None   # index into View.frames of the frame drawn around it


@dataclass(frozen=True)
class Frame:
    """An expanded group whose visible members are all units (so frames never nest)."""
    path: str
    label: str
    members: tuple[int, ...]        # unit ids


@dataclass
class View:
    name: str
    description: str
    input: Shape
    output: Shape
    units: list[Unit]
    edges: list[tuple[int, int]]            # (source unit, destination unit), in order
    frames: list[Frame] = field(default_factory=list)
    depth: int | None = None

    @property
    def sequential(self) -> bool:
        """Every unit's only input is the one before it (a chain, drawn VGG-style)."""
        return self.edges == [(i - 1, i) for i in range(1, len(self.units))]

    def preds(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.units]
        for s, d in self.edges:
            out[d].append(s)
        return out


def leaf_label(rec: LayerRecord) -> str:
    return rec.type + (f" ({rec.activation})" if rec.activation else "")


def group_label(g: Group) -> str:
    kind = g.kind if g.kind != "iteration" else ""
    return " ".join(x for x in (kind, g.label) if x) or "group"


def build(a: Analysis, depth: int | None = None) -> View:
    """The units and edges of ``a`` at ``depth`` (None: every layer)."""
    units = [Unit(0, "input", "input", "input", "input", tuple(a.input))]
    owner = [0] * (len(a.layers) + 1)          # leaf index -> unit id
    stack: list[tuple[Group, list[int], bool]] = []   # open expanded groups: members, leaf-only
    frames: list[Frame] = []
    framed: dict[int, int] = {}                # unit id -> frame index

    def close(until: str | None) -> None:
        while stack and (until is None or not until.startswith(stack[-1][0].path + ".")):
            g, members, only_units = stack.pop()
            if only_units and members:
                for u in members:
                    framed[u] = len(frames)
                frames.append(Frame(g.path, g.path, tuple(members)))
            if stack:
                stack[-1][1].extend(members)
                if members or not only_units:
                    stack[-1] = (stack[-1][0], stack[-1][1], False)

    for row in a.rows:
        if depth is not None and row.depth > depth:
            continue
        close(row.path)
        if isinstance(row, Group):
            if row.last < row.first:            # an empty group has nothing to draw
                continue
            if depth is None or row.depth < depth:
                stack.append((row, [], True))
                continue
            uid = len(units)
            layers = a.layers[row.first - 1:row.last]
            units.append(Unit(uid, row.path, row.path, row.kind, group_label(row),
                              tuple(row.output), sum(r.params for r in layers),
                              sum(r.macs for r in layers), True, len(layers)))
            for i in range(row.first, row.last + 1):
                owner[i] = uid
        else:
            uid = len(units)
            units.append(Unit(uid, row.path, row.path, row.type, leaf_label(row),
                              tuple(row.output), row.params, row.macs))
            owner[row.index] = uid
        if stack:
            stack[-1][1].append(uid)
    close(None)

    if framed:      # names below their frame, as the tree table shows them
        units = [u if u.id not in framed else _framed(u, frames[framed[u.id]], framed[u.id])
                 for u in units]

    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for rec in a.layers:
        dst = owner[rec.index]
        for i in rec.inputs:
            e = (owner[i], dst)
            if e[0] != dst and e not in seen:
                seen.add(e)
                edges.append(e)
    return View(a.name, a.description, tuple(a.input), tuple(a.output), units, edges, frames,
                 depth)


def _framed(u: Unit, frame: Frame, index: int) -> Unit:
    from dataclasses import replace
    return replace(u, name=u.path[len(frame.path) + 1:], frame=index)


def shape_text(shape: Shape) -> str:
    """``224×224×64`` (the multiplication sign), ``[1000]`` for a vector."""
    return "×".join(map(str, shape)) if len(shape) != 1 else f"[{shape[0]}]"

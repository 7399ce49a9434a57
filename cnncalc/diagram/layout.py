"""Lay a :class:`~cnncalc.diagram.graph.View` out as a :class:`~cnncalc.diagram.scene.Scene`.

Two pictures:

- :func:`figure`, for a chain (every unit's only input is the one before it): the classic
  VGG-style figure. Each feature map is a box whose height follows H, whose oblique depth follows
  W and whose thickness follows C; vectors are thin bars whose height follows their length. Sizes
  are on a log scale when they span more than a factor of 4. Long chains wrap into rows.
- :func:`flow`, for any other graph: a top-down layered flow. A unit's rank is its longest path
  from the input; units of one rank sit side by side, each placed under its first input. An
  expanded group whose members are all units gets a labelled frame. Edges that skip ranks go
  straight down when the way is free, else along lanes right of the column. Tall flows wrap into
  columns, broken where the fewest edges cross.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..layers import REGISTRY
from .graph import Unit, View, shape_text
from .scene import (Node, Polygon, Polyline, Rect, Scene, Text, darker, fit, lighter,
                    text_width)

WIDTH = 900          # the README width the pictures are made for
MARGIN = 20
MAX_HEIGHT = 1100    # a flow taller than this wraps into columns (as far as the width allows)

# --- colours by layer family ---------------------------------------------------------------------

FAMILIES: list[tuple[str, str]] = [     # a layer's family is declared by its class (layers/)
    ("input", "#8c8c8c"), ("conv", "#4e79a7"), ("transposed conv", "#2f9e9e"),
    ("pool", "#e15759"), ("dense", "#9467bd"), ("normalisation", "#e6b422"),
    ("activation", "#59a14f"), ("merge", "#f28e2b"), ("reshape", "#9c755f"),
    ("dropout", "#b0a8a4"), ("group", "#6b6ecf"),
]
_COLOUR = dict(FAMILIES)
GROUP_KINDS = ("block", "repeat", "iteration", "residual", "parallel", "branch")
OTHER = ("other", "#7f7f7f")


def family(unit_type: str) -> tuple[str, str]:
    """(family, colour) of a unit: the input, a group, or a layer type's declared family."""
    if unit_type == "input":
        name = "input"
    elif unit_type in GROUP_KINDS:
        name = "group"
    else:
        cls = REGISTRY.get(unit_type)
        name = cls.family if cls is not None else "other"
    return (name, _COLOUR[name]) if name in _COLOUR else OTHER


def legend(units: list[Unit], x: float, y: float, width: float, note: str = "") -> list:
    """Swatches for the families drawn, left to right, wrapping at ``width``; returns items."""
    seen = []
    for u in units:
        f = family(u.type)
        if f not in seen:
            seen.append(f)
    order = {name: i for i, (name, _) in enumerate(FAMILIES)}
    seen.sort(key=lambda f: order.get(f[0], len(order)))
    items: list = []
    cx = x
    for name, color in seen:
        w = 14 + text_width(name, 11) + 16
        if cx + w > x + width and cx > x:
            cx, y = x, y + 18
        items += [Rect(cx, y - 9, 10, 10, color, darker(color, 0.3), 0.8),
                  Text(cx + 14, y, name, 11, "#444444")]
        cx += w
    if note:
        if cx + text_width(note, 11) > x + width and cx > x:
            cx, y = x, y + 18
        items.append(Text(cx + 4, y, note, 11, "#666666"))
    return items


def header(v: View, stats: dict, width: float) -> tuple[list, float]:
    """The title and a line of totals; returns the items and the y below them."""
    title = f"{v.name}: {shape_text(v.input)} → {shape_text(v.output)}"
    parts = [f"{stats['layers']} layers", f"{stats['params']} params", stats["macs"]]
    if v.depth is not None:
        parts.append(f"--depth {v.depth}: {len(v.units) - 1} shapes")
    y = MARGIN + 15
    items: list = [Text(MARGIN, y, fit(title, 16, width - 2 * MARGIN, True, "start"), 16,
                        "#111111", bold=True),
                   Text(MARGIN, y + 20, " · ".join(parts), 12, "#555555")]
    return items, y + 34


def says_type(u: Unit) -> bool:
    """Whether a label shows the unit's type: not for the input, nor when the name already
    says it (``conv1``, ``body.conv_1``, ``relu``) and there is no activation to add."""
    return bool(u.id) and not (u.label == u.type and
                               u.path.rsplit(".", 1)[-1].startswith(u.type))


def tooltip(u: Unit) -> str:
    if u.id == 0:
        return f"input {shape_text(u.output)}"
    text = f"{u.path} · {u.label} · {shape_text(u.output)} · {u.params:,} params · " \
           f"{u.macs:,} MACs"
    return text + (f" · {u.layers} layers" if u.group else "")


def unit_node(u: Unit, items: list) -> Node:
    return Node("input" if u.id == 0 else ("group" if u.group else "layer"), items, tooltip(u),
                {"unit": str(u.id), "path": u.path, "shape": shape_text(u.output)})


# --- scales --------------------------------------------------------------------------------------

class Scale:
    """Values → pixels in [lo, hi]: proportional when the values span at most ``ratio``,
    else logarithmic (the smallest value at ``lo``)."""

    def __init__(self, values, lo: float, hi: float, ratio: float = 4.0, floor: int | None = None):
        vs = [v for v in values if v > 0] or [1]
        self.vmin = min(vs) if floor is None else min(floor, min(vs))
        self.vmax = max(vs)
        self.lo, self.hi = lo, hi
        self.log = self.vmax / self.vmin > ratio

    def __call__(self, v: float) -> float:
        v = max(v, self.vmin)
        if self.log:
            return self.lo + (self.hi - self.lo) * math.log(v / self.vmin) / math.log(
                self.vmax / self.vmin)
        return max(self.lo, self.hi * v / self.vmax)


def _dims(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(H, W, C) of a feature map, None for a vector."""
    if len(shape) >= 3:
        return shape[0], shape[1], math.prod(shape[2:])
    if len(shape) == 2:
        return shape[0], shape[1], 1
    return None


# --- the VGG-style figure ------------------------------------------------------------------------

NAME_SIZE = 10.5
SHAPE_SIZE = 11.0
LINE = 13.0          # distance between the two label lines
OBLIQUE = (0.8, 0.6)    # the depth axis: x and y per pixel of depth


@dataclass
class _Box:
    unit: Unit
    t: float         # thickness (C)
    h: float         # height (H)
    d: float         # depth (W)
    name: str
    shape: str

    @property
    def dx(self) -> float:
        return self.d * OBLIQUE[0]

    @property
    def dy(self) -> float:
        return self.d * OBLIQUE[1]

    @property
    def pitch(self) -> float:
        return max(2 * LINE + 6, self.t + 8)

    @property
    def label_len(self) -> float:
        return max(text_width(self.name, NAME_SIZE), text_width(self.shape, SHAPE_SIZE, True))


def figure(v: View, stats: dict, width: float = WIDTH) -> Scene:
    maps = [d for u in v.units if (d := _dims(u.output))]
    vecs = [math.prod(u.output) for u in v.units if not _dims(u.output)]
    spatial = [x for d in maps for x in d[:2]]
    sh = Scale(spatial, 18, 150)
    sd = Scale(spatial, 6, 44)
    sc = Scale([d[2] for d in maps], 4, 26)
    sv = Scale(vecs, 16, 150 if maps else 120, floor=1)
    label_max = 190.0
    boxes = []
    for u in v.units:
        name = fit(f"{u.path} · {u.label}" if says_type(u) else u.path, NAME_SIZE, label_max,
                   keep="start")
        d = _dims(u.output)
        if d:
            boxes.append(_Box(u, sc(d[2]), sh(d[0]), sd(d[1]), name, shape_text(u.output)))
        else:
            boxes.append(_Box(u, 5, sv(math.prod(u.output)), 3, name, shape_text(u.output)))

    avail = width - 2 * MARGIN - max(b.dx for b in boxes)
    rows = _wrap([b.pitch for b in boxes], avail)
    scene = Scene(width, 0, title=f"{v.name}: {shape_text(v.input)} → {shape_text(v.output)}")
    head, y = header(v, stats, width)
    y += 14
    used = 0.0
    for row in rows:
        bs = [boxes[i] for i in row]
        y_c = y + max(b.h / 2 + b.dy for b in bs)
        y_lab = y_c + max(b.h / 2 for b in bs) + 10
        x: float = MARGIN
        for b in bs:
            scene.add(_box_node(b, x, y_c, y_lab))
            x += b.pitch
        used = max(used, x + bs[-1].dx)
        y = y_lab + max(b.label_len for b in bs) + 24
    note = "box height ∝ H, depth ∝ W, thickness ∝ C" + (
        " (log scale)" if sh.log or sc.log or sd.log else "")
    if vecs:
        note += "; bars: vectors"
    _finish(scene, head, v.units, used + MARGIN, y, note)
    return scene


def _finish(scene: Scene, head: list, units: list[Unit], content_w: float, y: float,
            note: str = "") -> None:
    """Put the header and a legend (below ``y``) around the scene's items; set its size."""
    width = max(content_w, 2 * MARGIN + max(text_width(head[0].text, 16, True),
                                            text_width(head[1].text, 12)) + 4, 440)
    leg = legend(units, MARGIN, y, width - 2 * MARGIN, note)
    scene.width = max(width, max((i.x + text_width(i.text, 11) for i in leg
                                  if isinstance(i, Text)), default=0) + MARGIN)
    scene.height = max(i.y for i in leg) + MARGIN
    scene.items = head + scene.items + leg


def _wrap(pitches: list[float], avail: float) -> list[list[int]]:
    """Indices split into rows of at most ``avail`` pixels, as even as the greedy fill allows."""
    total = sum(pitches)
    n = max(1, math.ceil(total / avail))
    while True:
        target = min(avail, total / n + max(pitches))
        rows: list[list[int]] = [[]]
        acc = 0.0
        for i, p in enumerate(pitches):
            if rows[-1] and (acc + p > target or acc + p > avail):
                rows.append([])
                acc = 0.0
            rows[-1].append(i)
            acc += p
        if len(rows) <= n or n >= len(pitches):
            return rows
        n += 1


def _box_node(b: _Box, x: float, y_c: float, y_lab: float) -> Node:
    color = family(b.unit.type)[1]
    line = darker(color, 0.45)
    top, bottom, right = y_c - b.h / 2, y_c + b.h / 2, x + b.t
    dx, dy = b.dx, b.dy
    items: list = [
        Polygon(((x, top), (x + dx, top - dy), (right + dx, top - dy), (right, top)),
                lighter(color, 0.4), line, 0.7),
        Polygon(((right, top), (right + dx, top - dy), (right + dx, bottom - dy), (right, bottom)),
                darker(color, 0.2), line, 0.7),
        Rect(x, top, b.t, b.h, color, line, 0.7),
    ]
    cx = x + b.t / 2
    # two lines turned to read upwards, ending just under the box: the name, then the shape
    asc = 0.76 * SHAPE_SIZE
    x1 = cx - LINE / 2 + asc / 2
    items += [Text(x1, y_lab, b.name, NAME_SIZE, "#333333", "end", vertical=True),
              Text(x1 + LINE, y_lab, b.shape, SHAPE_SIZE, "#111111", "end", True, True)]
    return unit_node(b.unit, items)


# --- the layered flow ----------------------------------------------------------------------------

NODE_H = 31
VGAP = 17            # between ranks (edges run here)
HGAP = 10            # between units of one rank
FRAME_PAD = 5
FRAME_TOP = 16       # frame's top margin above its first rank (holds the label)
FRAME_FILL = "#f7f7fb"
LANE = 6             # distance between parallel lanes
EDGE = "#6f6f6f"


@dataclass
class _Edge:
    src: int
    dst: int
    kind: str = "adj"         # adj | down_src | down_dst | lane | cross
    lane: int = 0             # lane in the gutter right of the source column
    lane2: int = 0            # for cross edges that jump columns: lane right of dst col - 1
    band: int = 0             # and the lane in the band above the columns
    base: int | None = None   # a skip's lane runs right of this slot (None: right of the column)
    exit: float = 0.0         # offsets from the centre of the source's bottom ...
    entry: float = 0.0        # ... and the destination's top


def flow(v: View, stats: dict, width: float = WIDTH) -> Scene:
    n = len(v.units)
    preds = v.preds()
    rank = [0] * n
    for u in range(1, n):
        rank[u] = 1 + max((rank[p] for p in preds[u]), default=0)
    nranks = max(rank) + 1
    by_rank: list[list[int]] = [[] for _ in range(nranks)]
    for u in range(n):
        by_rank[rank[u]].append(u)
    slot = [0] * n
    for r in range(1, nranks):     # each unit under its leftmost input; collisions pushed right
        want = {u: min((slot[p] for p in preds[u]), default=0) for u in by_rank[r]}
        order = sorted(by_rank[r], key=lambda u: (want[u], u))
        last = -1
        for u in order:
            slot[u] = max(want[u], last + 1)
            last = slot[u]
        by_rank[r] = order

    node_w = _node_width(v)
    texts = [_node_texts(u, node_w) for u in v.units]
    best = None
    for k in range(1, 9):
        breaks = _breaks(v, rank, nranks, k)
        if breaks is None:
            break
        lay = _Flow(v, rank, slot, by_rank, breaks, node_w)
        if best is None or lay.width <= width - 2 * MARGIN:
            best = lay
        if lay.width > width - 2 * MARGIN or lay.height <= MAX_HEIGHT:
            break
    assert best is not None
    lay = best
    scene = Scene(0, 0, title=f"{v.name}: {shape_text(v.input)} → {shape_text(v.output)}")
    head, y = header(v, stats, width)
    lay.place(MARGIN, y + 8)
    for f in lay.frame_boxes:
        scene.add(f)
    for e in lay.edges:
        scene.add(lay.edge_node(e))
    scene.add(*lay.frame_labels)
    for unit in v.units:
        scene.add(_flow_node(unit, *lay.box(unit.id), texts[unit.id]))
    _finish(scene, head, v.units, lay.width + 2 * MARGIN, lay.bottom + 26)
    return scene


NAME_PT = 10.0
SECOND_PT = 9.5


def _node_texts(u: Unit, w: float) -> tuple[str, str]:
    """The unit's name, and its output shape after its type unless the name says it already
    (``body.conv_1``) or there is no room."""
    name = fit(u.name, NAME_PT, w - 12, True)
    shape = shape_text(u.output)
    if says_type(u):
        second = f"{u.label} · {shape}"
        if text_width(second, SECOND_PT) <= w - 12:
            return name, second
    return name, shape


def _node_width(v: View) -> float:
    widest = max(max(text_width(u.name, NAME_PT, True), text_width(shape_text(u.output),
                                                                   SECOND_PT))
                 for u in v.units)
    return min(max(widest + 14, 90), 150)


def _flow_node(u: Unit, x: float, y: float, w: float, texts: tuple[str, str]) -> Node:
    color = family(u.type)[1]
    items = [Rect(x, y, w, NODE_H, lighter(color, 0.78), color, 1.4 if u.group else 1.0, 4,
                  dash=u.group),
             Rect(x, y, 5, NODE_H, color, None, 0, 2),
             Text(x + w / 2 + 2, y + 13, texts[0], NAME_PT, "#111111", "middle", True),
             Text(x + w / 2 + 2, y + 25, texts[1], SECOND_PT, "#333333", "middle")]
    return unit_node(u, items)


def _breaks(v: View, rank: list[int], nranks: int, k: int) -> list[int] | None:
    """First rank of each of ``k`` columns: near the even split, where the fewest edges cross
    (between ResNet blocks only the block's output does). None if there are too few ranks."""
    if k == 1:
        return [0]
    if nranks < 2 * k:
        return None
    live: list[set[int]] = [set() for _ in range(nranks)]   # outputs still needed at rank r
    for s, d in v.edges:
        for r in range(rank[s] + 1, rank[d] + 1):
            live[r].add(s)
    crossing = [float(len(x)) for x in live]
    for f in v.frames:           # and rather not through a frame
        for r in range(min(rank[u] for u in f.members) + 1, max(rank[u] for u in f.members) + 1):
            crossing[r] += 0.5
    starts = [0]
    window = max(1, nranks // (4 * k))
    for i in range(1, k):
        ideal = round(i * nranks / k)
        lo, hi = max(starts[-1] + 2, ideal - window), min(nranks - 2 * (k - i), ideal + window)
        if lo > hi:
            return None
        starts.append(min(range(lo, hi + 1), key=lambda r: (crossing[r], abs(r - ideal))))
    return starts


class _Flow:
    """Positions of the flow's units and routes of its edges for given column breaks."""

    def __init__(self, v: View, rank: list[int], slot: list[int], by_rank: list[list[int]],
                 starts: list[int], node_w: float):
        self.v, self.rank, self.slot, self.node_w = v, rank, slot, node_w
        nranks = len(by_rank)
        self.col_of_rank = [0] * nranks
        for c, s in enumerate(starts):
            for r in range(s, nranks):
                self.col_of_rank[r] = c
        self.ncols = len(starts)
        self.col = [self.col_of_rank[rank[u]] for u in range(len(v.units))]
        # frames: one box per (frame, column), over the rank and slot range of its members
        parts: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(v.frames):
            for u in f.members:
                parts.setdefault((i, self.col[u]), []).append(u)
        self.frames = [(i, c, min(rank[u] for u in us), max(rank[u] for u in us),
                        min(slot[u] for u in us), max(slot[u] for u in us))
                       for (i, c), us in parts.items()]
        starts_at = self.frame_starts = {f[2] for f in self.frames}
        ends_at = {f[3] for f in self.frames}
        # vertical positions, relative to the top of the columns
        self.rank_y = [0.0] * nranks
        y = 0.0
        for r in range(nranks):
            if r in starts or r == 0:
                y = 0.0
            else:
                y += NODE_H + VGAP + (FRAME_PAD if r - 1 in ends_at else 0)
            if r in starts_at:
                y += FRAME_TOP
            self.rank_y[r] = y
        col_h = [0.0] * self.ncols
        for r in range(nranks):
            c = self.col_of_rank[r]
            col_h[c] = max(col_h[c], self.rank_y[r] + NODE_H + (FRAME_PAD if r in ends_at
                                                                    else 0))
        self.col_h = col_h
        self.max_slot = [0] * self.ncols
        self.slots_at: list[list[int]] = [[] for _ in range(nranks)]
        for u in range(len(v.units)):
            self.max_slot[self.col[u]] = max(self.max_slot[self.col[u]], slot[u])
            self.slots_at[rank[u]].append(slot[u])
        self._route()
        self.col_w = [2 * FRAME_PAD + (m + 1) * node_w + m * HGAP for m in self.max_slot]
        self.gutter = [FRAME_PAD + 6 + n * LANE + (8 if c < self.ncols - 1 else 0)
                       for c, n in enumerate(self.lanes)]
        self.band_h = (self.nband * LANE + 8) if self.nband else 0
        self.width = sum(self.col_w) + sum(self.gutter)
        self.height = self.band_h + max(col_h)

    # -- geometry relative to the column (x) and the columns' top (y) --
    def entry_y(self, u: int) -> float:
        """Where edges turn down into ``u``: above its frame when it opens one (the frame's
        label is in the way), else just above it."""
        r = self.rank[u]
        return self.rank_y[r] - 7 - (FRAME_TOP - 2 if r in self.frame_starts else 0)

    def rel_x(self, u: int) -> float:
        return FRAME_PAD + self.slot[u] * (self.node_w + HGAP)

    def free(self, r1: int, r2: int, x: float) -> bool:
        """No unit in ranks r1..r2 (exclusive, one column) covers ``x`` (relative)."""
        pitch = self.node_w + HGAP
        return not any(FRAME_PAD + s * pitch - 4 <= x <= FRAME_PAD + s * pitch + self.node_w + 4
                       for r in range(r1 + 1, r2) for s in self.slots_at[r])

    def _route(self) -> None:
        v, rank, col = self.v, self.rank, self.col
        half = self.node_w / 2
        edges = [_Edge(s, d) for s, d in v.edges]
        Span = tuple[float, float, list[tuple[_Edge, str]]]
        gutter_spans: list[list[Span]] = [[] for _ in range(self.ncols)]
        band_spans: list[Span] = []
        cross: dict[int, list[_Edge]] = {}
        for e in edges:
            s, d = e.src, e.dst
            if col[s] != col[d]:
                e.kind = "cross"
                cross.setdefault(s, []).append(e)
            elif rank[d] == rank[s] + 1:
                e.kind = "adj"
            elif self.free(rank[s], rank[d], self.rel_x(s) + half):
                e.kind = "down_src"
            elif self.free(rank[s], rank[d], self.rel_x(d) + half):
                e.kind = "down_dst"
            else:
                e.kind = "lane"
                e.base = max(max(self.slots_at[r]) for r in range(rank[s], rank[d] + 1))
                gutter_spans[col[s]].append((self.rank_y[rank[s]] + NODE_H,
                                             self.rank_y[rank[d]], [(e, "lane")]))
        # the edges from one unit into later columns share their lanes, and split at the end
        for s, es in cross.items():
            c, ys = col[s], self.rank_y[rank[s]] + NODE_H + 8
            ynear = [self.entry_y(e.dst) for e in es if col[e.dst] == c + 1]
            far = [e for e in es if col[e.dst] > c + 1]
            lo = -1e9 if far else min(ynear + [ys])
            gutter_spans[c].append((lo, max(ynear + [ys]), [(e, "lane") for e in es]))
            if far:
                band_spans.append((c, max(col[e.dst] for e in far) - 1, [(e, "band")
                                                                         for e in far]))
                for g in {col[e.dst] - 1 for e in far}:
                    into = [e for e in far if col[e.dst] - 1 == g]
                    gutter_spans[g].append((-1e9, max(self.rank_y[rank[e.dst]] for e in into),
                                            [(e, "lane2") for e in into]))
        # lanes: shorter spans nearer the column, so that nested skips do not cross
        self.lanes = []
        for spans in gutter_spans:
            self.lanes.append(_allocate(spans, 4))
        self.nband = _allocate(band_spans, 0.5)
        self.edges = edges
        self._ports()

    def _ports(self) -> None:
        """Spread the edges leaving (entering) a unit along its bottom (top) edge: the one
        going straight down stays in the middle, the others keep to their side. The edges
        from one unit into later columns leave together."""
        far = 1e9
        outs: dict[int, dict[tuple[float, float], list[_Edge]]] = {}
        ins: dict[int, dict[tuple[float, float], list[_Edge]]] = {}
        for e in self.edges:
            sx, dx = self.rel_x(e.src), self.rel_x(e.dst)
            if e.kind == "cross":
                out_key, in_key = (far, -1), (-far, e.src)
            elif e.kind == "lane":
                out_key, in_key = (far - 1, e.dst), (far, e.src)
            else:
                out_key, in_key = (dx - sx, e.dst), (sx - dx, e.src)
            outs.setdefault(e.src, {}).setdefault(out_key, []).append(e)
            ins.setdefault(e.dst, {}).setdefault(in_key, []).append(e)
        for table, attr in ((outs, "exit"), (ins, "entry")):
            for ports in table.values():
                keys = sorted(ports, key=lambda k: k)
                mids = [k for k in keys if k[0] == 0]
                if mids:        # the straight one in the middle, the others to their side
                    centre = keys.index(mids[0])
                    offsets = [8.0 * (i - centre) for i in range(len(keys))]
                else:
                    step = min(8.0, self.node_w / (2 * len(keys)))
                    offsets = [(i - (len(keys) - 1) / 2) * step for i in range(len(keys))]
                for k, off in zip(keys, offsets):
                    for e in ports[k]:
                        setattr(e, attr, off)

    # -- absolute positions --
    def place(self, x0: float, y0: float) -> None:
        self.x0, self.top = x0, y0 + self.band_h
        self.col_x = []
        x = x0
        for c in range(self.ncols):
            self.col_x.append(x)
            x += self.col_w[c] + self.gutter[c]
        self.bottom = self.top + max(self.col_h)
        self.frame_boxes, self.frame_labels = [], []
        for i, c, r1, r2, s1, s2 in self.frames:
            left = self.col_x[c] + FRAME_PAD + s1 * (self.node_w + HGAP) - FRAME_PAD
            right = self.col_x[c] + FRAME_PAD + s2 * (self.node_w + HGAP) + self.node_w + \
                FRAME_PAD
            top = self.top + self.rank_y[r1] - FRAME_TOP + 3
            bottom = self.top + self.rank_y[r2] + NODE_H + FRAME_PAD - 1
            f = self.v.frames[i]
            self.frame_boxes.append(Node("frame", [
                Rect(left, top, right - left, bottom - top, FRAME_FILL, "#b9bad6", 1.0, 6)],
                f"group {f.path}", {"path": f.path}))
            # the label goes over the edges that enter the frame, on a patch of its colour
            label = fit(f.label, 10, right - left - 10, True)
            w = text_width(label, 10, True)
            self.frame_labels.append(Node("frame-label", [
                Rect(right - 8 - w, top + 1.5, w + 4, 12, FRAME_FILL, None, 0, 2),
                Text(right - 6, top + 11, label, 10, "#5a5c99", "end", True)], None,
                {"path": f.path}))

    def box(self, u: int) -> tuple[float, float, float]:
        return (self.col_x[self.col[u]] + self.rel_x(u), self.top + self.rank_y[self.rank[u]],
                self.node_w)

    def lane_x(self, c: int, lane: int, base: int | None = None) -> float:
        if base is None:
            return self.col_x[c] + self.col_w[c] + 6 + lane * LANE
        return self.col_x[c] + 2 * FRAME_PAD + (base + 1) * self.node_w + base * HGAP + 6 + \
            lane * LANE

    def edge_node(self, e: _Edge) -> Node:
        sx, sy, w = self.box(e.src)
        dx, dy, _ = self.box(e.dst)
        x0, y0 = sx + w / 2 + e.exit, sy + NODE_H
        x1, y1 = dx + w / 2 + e.entry, dy
        below, above = y0 + 8, self.top + self.entry_y(e.dst)
        if e.kind == "adj":
            pts = _curve(x0, y0, x1, y1)
        elif e.kind == "down_src":
            pts = [(x0, y0)] + _curve(x0, y1 - VGAP, x1, y1)
        elif e.kind == "down_dst":
            pts = _curve(x0, y0, x1, y0 + VGAP) + [(x1, y1)]
        elif e.kind == "lane" or self.col[e.dst] == self.col[e.src] + 1:
            lx = self.lane_x(self.col[e.src], e.lane, e.base)
            pts = [(x0, y0), (x0, below), (lx, below), (lx, above), (x1, above), (x1, y1)]
        else:
            lx = self.lane_x(self.col[e.src], e.lane)
            lx2 = self.lane_x(self.col[e.dst] - 1, e.lane2)
            band = self.top - 8 - e.band * LANE
            pts = [(x0, y0), (x0, below), (lx, below), (lx, band), (lx2, band), (lx2, above),
                   (x1, above), (x1, y1)]
        tip = pts[-1]
        pts[-1] = (tip[0], tip[1] - 5)
        arrow = Polygon(((tip[0] - 3.5, tip[1] - 6.5), (tip[0] + 3.5, tip[1] - 6.5), tip),
                        EDGE, None, 0)
        return Node("edge", [Polyline(tuple(pts), EDGE, 1.2), arrow], None,
                    {"from": str(e.src), "to": str(e.dst)})


def _allocate(spans, gap: float) -> int:
    """Give each span (lo, hi, [(edge, attribute)]) the first lane where it overlaps no other
    (within ``gap``), shortest spans first; sets the attribute to the lane; returns the count."""
    taken: list[list[tuple[float, float]]] = []
    for lo, hi, targets in sorted(spans, key=lambda t: t[1] - t[0]):
        k = 0
        while k < len(taken) and any(lo < b + gap and a < hi + gap for a, b in taken[k]):
            k += 1
        if k == len(taken):
            taken.append([])
        taken[k].append((lo, hi))
        for e, attr in targets:
            setattr(e, attr, k)
    return len(taken)


def _curve(x0: float, y0: float, x1: float, y1: float, n: int = 14) -> list[tuple[float, float]]:
    """A cubic Bézier from (x0, y0) down to (x1, y1), leaving and arriving vertically."""
    if abs(x0 - x1) < 0.5:
        return [(x0, y0), (x1, y1)]
    k = (y1 - y0) / 2
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
        out.append((a * x0 + b * x0 + c * x1 + d * x1,
                    a * y0 + b * (y0 + k) + c * (y1 - k) + d * y1))
    return out


def draw(v: View, stats: dict, width: float = WIDTH) -> Scene:
    """The picture of ``v``: the VGG-style figure for a chain, else the flow."""
    return figure(v, stats, width) if v.sequential else flow(v, stats, width)

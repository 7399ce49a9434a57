"""Pictures (issue 12): ``--diagram FILE`` as SVG, PNG and HTML, and ``--format dot|mermaid``.

The SVG is parsed with xml.etree (labels, one shape per layer or per group at ``--depth``, one
edge per data flow); the PNG is checked for size and content; dot output goes through Graphviz's
``dot -Tsvg`` when it is installed; the HTML page is rendered by a real headless Chromium (skipped
only when no Chromium can be found: ``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, assert_clean_error, zoo_analysis

from cnncalc import analyse, loads
from cnncalc.analysis import Group
from cnncalc.diagram import render
from cnncalc.diagram.graph import build, shape_text
from cnncalc.diagram.graphfmt import dot, mermaid, mermaid_text
from cnncalc.diagram.layout import draw
from cnncalc.spec import zoo_names

SVG = "{http://www.w3.org/2000/svg}"

# names that must survive every format: markup, quotes, Graphviz escapes, Mermaid syntax, a
# control character (not allowed in XML at all) and non-ASCII text
WEIRD = r"""
name: weird <net> & "co"
input: 16x16x3
layers:
  - conv: {filters: 4, kernel: 3, name: "a<b>&\"q'\x01\\N"}
  - relu: {name: "été #1 `x` |y| ]]> -->"}
  - conv: {filters: 4, kernel: 1, name: "x[0](1){2}", from: -2}
  - add: {from: [-1, -2]}
"""


def svg_of(a, depth=None) -> ET.Element:
    return ET.fromstring(render(a, ".svg", depth))


def shapes(root: ET.Element, *classes: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") in classes]


def texts(el: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in el.iter(f"{SVG}text")]


def shows_shape(g: ET.Element, shape: str) -> bool:
    """A label of the shape reads ``224×224×64``, alone or after the type (``conv · ...``)."""
    return any(t == shape or t.endswith(f" · {shape}") for t in texts(g))


def expected_units(a, depth: int | None) -> list[str]:
    """The paths of the rows the --summary tree shows as one unit each at ``depth``: leaves at
    depth <= N, and groups at depth N (with at least one layer)."""
    if depth is None:
        return [r.path for r in a.layers]
    return [r.path for r in a.rows if r.depth <= depth and (
        not isinstance(r, Group) or (r.depth == depth and r.last >= r.first))]


# --- units and edges -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vgg16", "resnet18", "googlenet", "unet", "densenet121"])
@pytest.mark.parametrize("depth", [None, 0, 1, 2])
def test_units_are_the_table_rows_and_cover_every_layer_once(name, depth):
    a = zoo_analysis(name)
    v = build(a, depth)
    assert [u.path for u in v.units[1:]] == expected_units(a, depth)
    assert sum(u.layers for u in v.units[1:]) == len(a.layers)
    owner = {}
    for u in v.units[1:]:
        start = a.layers.index(next(r for r in a.layers if r.path == u.path or
                                    r.path.startswith(u.path + ".")))
        for r in a.layers[start:start + u.layers]:
            owner[r.index] = u.id
    owner[0] = 0
    flows = {(owner[i], owner[r.index]) for r in a.layers for i in r.inputs
             if owner[i] != owner[r.index]}
    assert set(v.edges) == flows and len(v.edges) == len(flows)


def test_chains_and_graphs():
    assert build(zoo_analysis("vgg16")).sequential
    assert not build(zoo_analysis("resnet18")).sequential
    assert build(zoo_analysis("resnet18"), 0).sequential      # the blocks in a row
    assert not build(zoo_analysis("unet"), 0).sequential      # the skips stay


def test_shape_text_uses_the_multiplication_sign():
    assert shape_text((224, 224, 64)) == "224×224×64"
    assert shape_text((1000,)) == "[1000]"


# --- SVG -----------------------------------------------------------------------------------------

def test_vgg16_svg_one_box_per_layer_labelled_with_name_and_shape():
    a = zoo_analysis("vgg16")
    root = svg_of(a)
    assert root.tag == f"{SVG}svg"
    layers = shapes(root, "layer")
    assert len(layers) == len(a.layers) == 25
    assert len(shapes(root, "input")) == 1
    for g, rec in zip(layers, a.layers):
        label = texts(g)
        assert shape_text(rec.output) in label              # 224×224×64, never 224x224x64
        assert any(t.startswith(rec.name) for t in label)
        assert g.get("data-path") == rec.path
        title = g.find(f"{SVG}title").text
        assert rec.path in title and shape_text(rec.output) in title
        # the VGG-style figure: a front face and two faces in perspective per box
        assert len(g.findall(f"{SVG}rect")) == 1 and len(g.findall(f"{SVG}polygon")) == 2
    assert shapes(root, "edge") == []                       # a chain needs no arrows
    assert "224×224×64" in texts(layers[0]) and "[1000]" in texts(layers[-1])


def test_vgg16_boxes_are_scaled_by_h_and_c():
    root = svg_of(zoo_analysis("vgg16"))
    fronts = [g.find(f"{SVG}rect") for g in shapes(root, "layer")]
    height = [float(r.get("height")) for r in fronts]
    width = [float(r.get("width")) for r in fronts]
    assert height[0] > height[2] > height[5] > height[9] > height[13] > height[17]  # 224 … 7
    assert width[0] < width[3] < width[6] < width[10]                               # 64 … 512
    assert width[19] == width[20] < width[0]       # vectors are thin bars


def test_resnet18_svg_has_a_node_per_layer_and_an_edge_per_data_flow():
    a = zoo_analysis("resnet18")
    root = svg_of(a)
    nodes = shapes(root, "layer")
    assert len(nodes) == len(a.layers) == 69
    for g, rec in zip(nodes, a.layers):
        assert g.get("data-unit") == str(rec.index)
        assert shows_shape(g, shape_text(rec.output))
    edges = {(int(g.get("data-from")), int(g.get("data-to"))) for g in shapes(root, "edge")}
    flows = {(i, r.index) for r in a.layers for i in r.inputs}
    assert edges == flows and len(shapes(root, "edge")) == len(flows)
    assert len(shapes(root, "frame")) == 8           # layer1.0 … layer4.1
    labels = shapes(root, "frame-label")
    assert [f.get("data-path") for f in labels] == [f.get("data-path")
                                                    for f in shapes(root, "frame")]
    assert {"layer1.0", "layer4.1"} <= {t for f in labels for t in texts(f)}


@pytest.mark.parametrize("name, depth, groups", [("resnet18", 1, 8), ("resnet18", 0, 4),
                                                 ("googlenet", 1, 36), ("unet", 0, 9)])
def test_at_depth_one_shape_per_group(name, depth, groups):
    a = zoo_analysis(name)
    root = svg_of(a, depth)
    units = shapes(root, "layer", "group")
    assert [g.get("data-path") for g in units] == expected_units(a, depth)
    assert len(shapes(root, "group")) == groups == sum(
        isinstance(r, Group) and r.depth == depth for r in a.rows)
    for g in units:
        assert shows_shape(g, g.get("data-shape"))


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_model_gives_well_formed_svg(name):
    a = zoo_analysis(name)
    root = svg_of(a)
    assert len(shapes(root, "layer")) == len(a.layers)
    w, h = float(root.get("width")), float(root.get("height"))
    assert 300 <= w <= 900 and h > 200
    points = []                   # nothing is drawn outside the picture
    for el in root.iter():
        if el.get("x") is not None:
            points.append((float(el.get("x")), float(el.get("y"))))
        for xy in (el.get("points") or "").split():
            points.append(tuple(map(float, xy.split(","))))
    assert points and all(-1 <= x <= w + 1 and -1 <= y <= h + 1 for x, y in points)


def test_any_name_gives_well_formed_svg_with_the_name_as_text():
    a = analyse(loads(WEIRD))
    data = render(a, ".svg")
    root = ET.fromstring(data)                     # well-formed despite <, &, quotes, \x01
    labels = " ".join(texts(root))
    assert 'a<b>&"q' in labels and "été #1 `x` |y| ]]> -->" in labels
    assert "\x01" not in data.decode("utf-8")
    assert root.find(f"{SVG}title").text.startswith('weird <net> & "co"')


def test_wide_and_long_chains_wrap_into_rows():
    text = "input: 32x32x3\nlayers:\n" + "  - conv: {filters: 8, kernel: 3, padding: 1}\n" * 120
    a = analyse(loads(text))
    s = draw(build(a), {"layers": 120, "params": "x", "macs": "y"})
    assert s.width <= 900
    root = svg_of(a)
    tops = {round(float(g.find(f"{SVG}rect").get("y"))) for g in shapes(root, "layer")}
    assert len(tops) >= 4                          # several rows of boxes


# --- PNG -----------------------------------------------------------------------------------------

def _image(data: bytes):
    from PIL import Image
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize("name, depth", [("vgg16", None), ("resnet18", None),
                                         ("googlenet", 1)])
def test_png_is_the_svg_size_and_not_blank(name, depth):
    a = zoo_analysis(name)
    root = svg_of(a, depth)
    img = _image(render(a, ".png", depth)).convert("RGB")
    assert img.format is None or img.mode == "RGB"
    assert img.size == (int(root.get("width")), int(root.get("height")))
    colours = img.getcolors(maxcolors=1 << 20)
    assert len(colours) > 500                       # anti-aliased shapes and text
    white = max(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.93 * img.size[0] * img.size[1]
    # the boxes are drawn where the SVG puts them: the middle of the first layer's shape is
    # not background
    g = shapes(root, "layer")[0]
    rect = g.find(f"{SVG}rect")
    cx = float(rect.get("x")) + float(rect.get("width")) * 0.7
    cy = float(rect.get("y")) + float(rect.get("height")) / 2
    assert img.getpixel((round(cx), round(cy))) != (255, 255, 255)


def test_png_strips_join_without_losing_what_crosses_them():
    from cnncalc.diagram import png
    from cnncalc.diagram.scene import Polyline, Scene, Text
    edge = png.STRIP
    s = Scene(200, 2 * edge, [Text(40, edge - 100, "W" * 40, 12, "#000000", "end", vertical=True),
                              Text(120, edge + 100, "W" * 40, 12, "#000000", "start",
                                   vertical=True),
                              Polyline(((180, 10), (180, 2 * edge - 10)), "#000000", 2)])
    img = _image(png.render(s)).convert("L")
    column = [img.getpixel((x, y)) for x in range(30, 46) for y in range(edge - 60, edge + 200)]
    assert min(column) < 100                     # text reading up from y, ending above it...
    below = [img.getpixel((x, y)) for x in range(30, 46) for y in range(edge + 40, edge + 200)]
    assert min(below) < 100                      # ...runs down past the strip boundary
    above = [img.getpixel((x, y)) for x in range(110, 126) for y in range(edge - 200, edge - 40)]
    assert min(above) < 100
    line = [img.getpixel((180, y)) for y in range(12, 2 * edge - 12)]
    assert max(line) < 100                        # no seam in a line across the strips


def test_png_of_a_huge_picture_is_refused_and_keeps_the_old_file(cli, tmp_path, monkeypatch):
    import cnncalc.diagram.png as png
    out = tmp_path / "net.png"
    out.write_bytes(b"old")
    monkeypatch.setattr(png, "MAX_PIXELS", 1000)
    res = cli("vgg16", "--diagram", str(out))
    assert_clean_error(res, "too large for a PNG", "--depth")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["net.png"]      # no temporary file left


def test_nothing_heavy_is_imported_for_svg_html_dot():
    code = ("import sys, cnncalc; from cnncalc.diagram import render; "
            "from cnncalc.diagram.graphfmt import render as text; "
            "a = cnncalc.analyse(cnncalc.load('resnet18')); "
            "render(a, '.svg'); render(a, '.html'); text(a, 'dot'); text(a, 'mermaid'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PIL', 'numpy', 'rich'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["svg", "png", "html", "HTM"])
def test_diagram_option_writes_the_file(cli, tmp_path, ext):
    out = tmp_path / f"net.{ext}"
    res = cli("lenet5", "--diagram", str(out))
    assert res.code == 0, res.err
    assert f"Wrote the diagram to {out}" in res.out
    data = out.read_bytes()
    if ext == "svg":
        ET.fromstring(data)
    elif ext == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert data.startswith(b"<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    assert oct(out.stat().st_mode & 0o777) != "0o600"     # not the temporary file's mode


def test_diagram_replaces_an_existing_file_and_keeps_its_mode(cli, tmp_path):
    out = tmp_path / "net.svg"
    out.write_text("old")
    out.chmod(0o640)
    assert cli("lenet5", "--diagram", str(out), "-q").code == 0
    assert out.read_text().startswith("<?xml")
    assert out.stat().st_mode & 0o777 == 0o640


def test_diagram_quiet_and_json_print_nothing_about_it(cli, tmp_path):
    res = cli("lenet5", "--diagram", str(tmp_path / "a.svg"), "--format", "json")
    assert res.code == 0 and "Wrote" not in res.out + res.err
    res = cli("lenet5", "--diagram", str(tmp_path / "b.svg"), "-q")
    assert res.out == "[10]\n"


@pytest.mark.parametrize("target, needles", [
    ("net.pdf", ["unknown extension '.pdf'", ".svg, .png or .html"]),
    ("net", ["no extension"]),
    ("missing/net.svg", ["no such directory"]),
    (".", ["is a directory"]),
    ("dir.svg", ["is a directory"]),
])
def test_bad_diagram_targets_are_one_line_errors(cli, tmp_path, target, needles):
    (tmp_path / "dir.svg").mkdir()
    res = cli("lenet5", "--diagram", str(tmp_path / target))
    assert_clean_error(res, "--diagram", *needles)


def test_bad_target_is_reported_before_a_run(cli, tmp_path):
    res = cli("vgg16", "--run", "--diagram", str(tmp_path / "x.gif"))
    assert_clean_error(res, "unknown extension")
    assert "Run:" not in res.out


def test_diagram_is_written_even_when_the_run_fails(cli, tmp_path, monkeypatch):
    from cnncalc import engine
    # as in test_run_cli: a pooling that drops a row and a column
    monkeypatch.setitem(engine.OPS, "maxpool", engine.Op(lambda ctx, xs: xs[0][:, 1:, 1:]))
    out = tmp_path / "run.html"
    res = cli("edges", "--run", "--diagram", str(out))
    assert res.code == 1
    assert "✗" in out.read_text(encoding="utf-8")


# --- dot and mermaid -----------------------------------------------------------------------------

def _dot_ok(text: str) -> str:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz (dot) is not installed")
    p = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


@pytest.mark.parametrize("name, depth", [("vgg16", None), ("resnet18", None), ("resnet18", 1),
                                         ("googlenet", 1), ("unet", None)])
def test_dot_has_a_node_per_unit_and_an_edge_per_flow(cli, name, depth):
    a = zoo_analysis(name)
    v = build(a, depth)
    res = cli(name, "--format", "dot", *(["--depth", str(depth)] if depth is not None else []))
    assert res.code == 0
    text = res.out
    assert text.startswith(f'digraph "{name}" {{') and text.rstrip().endswith("}")
    nodes = re.findall(r"^  n(\d+) \[label=", text, re.M)
    assert [int(n) for n in nodes] == [u.id for u in v.units]
    edges = re.findall(r"^  n(\d+) -> n(\d+);$", text, re.M)
    assert [(int(s), int(d)) for s, d in edges] == v.edges
    for u in v.units[1:]:
        assert f"\\n{shape_text(u.output)}\"" in text      # the shape ends each label
    svg = ET.fromstring(_dot_ok(text))
    assert len([g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]) == len(v.units)
    assert len([g for g in svg.iter(f"{SVG}g") if g.get("class") == "edge"]) == len(v.edges)


def test_dot_escapes_names():
    text = dot(build(analyse(loads(WEIRD))))
    assert r'label="a<b>&\"q' in text and "\\\\N" in text and "\x01" not in text
    svg = _dot_ok(text)
    titles = " ".join("".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text"))
    assert 'a<b>&"q' in titles and "\\N" in titles and "été #1" in titles


MERMAID_NODE = re.compile(r'^  n(\d+)\["([^"\n]*)"\]:::f_\w+$')
MERMAID_EDGE = re.compile(r"^  n(\d+) --> n(\d+)$")
MERMAID_CLASS = re.compile(r"^  classDef f_\w+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}$")


@pytest.mark.parametrize("name, depth", [("vgg16", None), ("resnet18", 1), ("googlenet", 1)])
def test_mermaid_structure(cli, name, depth):
    v = build(zoo_analysis(name), depth)
    res = cli(name, "--format", "mermaid", *(["--depth", str(depth)] if depth is not None
                                             else []))
    assert res.code == 0
    lines = res.out.splitlines()
    assert lines[0] == "flowchart TD"
    nodes = [MERMAID_NODE.match(x) for x in lines[1:1 + len(v.units)]]
    assert all(nodes) and [int(m.group(1)) for m in nodes] == [u.id for u in v.units]
    for m, u in zip(nodes, v.units):
        assert m.group(2).split("<br/>")[-1] == shape_text(u.output)
    edges = [MERMAID_EDGE.match(x) for x in lines[1 + len(v.units):1 + len(v.units) +
                                                  len(v.edges)]]
    assert all(edges) and [(int(m.group(1)), int(m.group(2))) for m in edges] == v.edges
    rest = lines[1 + len(v.units) + len(v.edges):]
    assert rest and all(MERMAID_CLASS.match(x) for x in rest)


def test_mermaid_escapes_names():
    text = mermaid(build(analyse(loads(WEIRD))))
    for line in text.splitlines()[1:5]:
        assert MERMAID_NODE.match(line), line
    assert mermaid_text('a"b#c<d>|`') == "a#quot;b#35;c#lt;d#gt;#124;#96;"
    assert "a#lt;b#gt;#amp;#quot;q'\ufffd#92;N" in text


# --- HTML ----------------------------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _page(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


def test_html_is_self_contained(cli, tmp_path):
    out = tmp_path / "vgg16.html"
    assert cli("vgg16", "--diagram", str(out), "-q").code == 0
    text = out.read_text(encoding="utf-8")
    page = _page(text)
    tags = [t for t, _ in page.tags]
    assert "svg" in tags and "table" in tags and "script" not in tags
    for tag, attrs in page.tags:      # no fetch: every src/href is a data: URI
        for key in ("src", "href", "srcset", "action", "data"):
            if key in attrs and tag != "svg":
                assert attrs[key].startswith("data:"), (tag, attrs)
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text                    # and the CSP forbids it anyway
    assert "138,357,544" in text and "15,470,264,320" in text
    assert text.count('<tr><td class="r">') == 25          # one table row per layer
    assert "<?xml" not in text                              # the SVG is inlined


def test_html_after_run_embeds_the_feature_maps(cli, tmp_path):
    out, maps = tmp_path / "edges.html", tmp_path / "maps"
    res = cli("edges", "--image", "chelsea", "--save-maps", str(maps), "--diagram", str(out))
    assert res.code == 0, res.err
    files = sorted(maps.iterdir())
    text = out.read_text(encoding="utf-8")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == len(files) >= 2
    assert sorted(base64.b64decode(u) for u in uris) == sorted(p.read_bytes() for p in files)
    assert "all 4 layer shapes verified" in text and "Actual" in text


def test_html_escapes_names(tmp_path):
    a = analyse(loads(WEIRD))
    text = render(a, ".html").decode("utf-8")
    assert "<b>" not in text.replace("<b>&", "")           # never raw markup from a name
    assert "a&lt;b&gt;&amp;&quot;q" in text
    ET.fromstring(text[text.index("<svg"):text.index("</svg>") + 6])


# --- the page in a real browser ------------------------------------------------------------------

def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(exe: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, timeout=120, env=env)


@pytest.fixture
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    return exe


def test_html_renders_in_headless_chromium(cli, tmp_path, chromium):
    exe = chromium
    page = tmp_path / "vgg16.html"
    assert cli("vgg16", "--diagram", str(page), "-q").code == 0
    url = page.resolve().as_uri()

    dom = _chromium(exe, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode("utf-8")
    assert "<svg" in html and 'class="layer"' in html
    assert "138,357,544" in html                            # Keras's and torchvision's total
    for rec in zoo_analysis("vgg16").layers:
        assert f">{rec.name}<" in html                       # every row of the table

    shot = tmp_path / "shot.png"
    res = _chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", url)
    assert res.returncode == 0 and shot.exists(), res.stderr.decode(errors="replace")[-2000:]
    img = _image(shot.read_bytes()).convert("RGB")
    assert img.size == (1200, 1600)
    # the diagram sits under the heading: its coloured boxes must be on screen there (the table
    # below is black and grey text)
    area = img.crop((0, 60, 1200, 620))
    coloured = sum(n for n, (r, g, b) in area.getcolors(maxcolors=1 << 20)
                   if max(r, g, b) - min(r, g, b) > 60)
    assert coloured > 20_000, coloured
    table = img.crop((0, 620, 1200, 1600))
    assert len(table.getcolors(maxcolors=1 << 20)) > 20       # text is drawn there too


def test_ci_installs_chromium_before_the_tests():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "command -v chromium" in ci
    assert ci.index("chromium") < ci.index('"$venv/bin/python" -m pytest')


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_png_is_the_picture_chromium_draws_from_the_svg(tmp_path, chromium, name):
    from PIL import ImageChops, ImageStat
    a = zoo_analysis(name)
    svg = tmp_path / f"{name}.svg"
    svg.write_bytes(render(a, ".svg"))
    root = ET.fromstring(svg.read_bytes())
    size = f"{root.get('width')},{root.get('height')}"
    shot = tmp_path / "shot.png"
    res = _chromium(chromium, tmp_path, f"--screenshot={shot}", f"--window-size={size}",
                    svg.resolve().as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr.decode(errors="replace")[-2000:]
    browser = _image(shot.read_bytes()).convert("L")
    ours = _image(render(a, ".png")).convert("L")
    assert browser.size == ours.size
    # the same boxes, lines and words in the same places: at 1/8 scale (where anti-aliasing and
    # font hinting no longer matter) no cell differs by more than a quarter of the range
    small = (ours.size[0] // 8, ours.size[1] // 8)
    diff = ImageChops.difference(browser.resize(small), ours.resize(small))
    assert ImageStat.Stat(diff).mean[0] < 4 and diff.getextrema()[1] < 64


# --- the README's pictures and the packaging -----------------------------------------------------

@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_readme_diagrams_are_what_cnncalc_draws_now(name):
    path = f"docs/img/{name}.svg"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"cnncalc {name} --diagram {path}" in readme and f"]({path})" in readme
    assert (ROOT / path).read_bytes() == render(zoo_analysis(name), ".svg"), (
        f"{path} is stale: regenerate it with `cnncalc {name} --diagram {path}`")


def test_the_diagram_package_is_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = conf["tool"]["setuptools"]["packages"]
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "cnncalc").rglob("__init__.py")}
    assert found <= set(packages)

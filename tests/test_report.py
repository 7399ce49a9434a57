"""cnncalc.report: number formatting, the JSON contract, the text/Markdown/CSV renderers, and
the invariant that per-layer counts sum to the totals (for every zoo model and random specs)."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import report
from cnncalc.analysis import Group
from cnncalc.spec import zoo_names
from conftest import analyse_text as analyse


# --- numbers -------------------------------------------------------------------------------

def test_number_formatting():
    assert report.num(Fraction(4, 1)) == 4 and isinstance(report.num(Fraction(4, 1)), int)
    assert report.num(Fraction(1, 2)) == 0.5
    assert report.fnum(Fraction(3, 2)) == "1.5" and report.fnum(Fraction(212)) == "212"
    assert report.commas(138357544) == "138,357,544"
    assert report.si(15_470_264_320) == "15.47 G"
    assert report.si(416_520) == "416.52 k"
    assert report.si(999) == "999"
    assert report.mib(553_430_176) == "527.8 MiB"
    assert report.mib(512) == "512 B"


def test_si_unit_spacing_regression():
    # regression: small totals printed "(0MACs)" / "(416MACs)"
    assert report.si_unit(0, "MACs") == "0 MACs"
    assert report.si_unit(416, "FLOPs") == "416 FLOPs"
    assert report.si_unit(15_470_264_320, "MACs") == "15.47 GMACs"
    a = analyse("input: 4x4x1\nlayers: [relu]\n")
    assert ("MACs", "0  (0 MACs)") in report.totals_lines(a)


# --- JSON ----------------------------------------------------------------------------------

def test_dumps_is_json_with_flat_numeric_lists():
    obj = {"a": [224, 224, 3], "b": [[1, 2], [3, 4]], "c": {"d": [0.5, 1]}, "e": ["x", "y"],
           "f": []}
    text = report.dumps(obj)
    assert json.loads(text) == obj
    assert '"a": [224, 224, 3]' in text and '"d": [0.5, 1]' in text


def _reference_dumps(obj) -> str:
    """The format by definition: json.dumps(indent=2), then every list of plain numbers put
    back on one line."""
    import re
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    return re.sub(r"\[\s+([-\d.e, \n]+?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(obj=json_values)
def test_dumps_matches_the_reference_format(obj):
    text = report.dumps(obj)
    assert json.loads(text) == obj
    assert text == _reference_dumps(obj)


def test_dumps_of_a_whole_analysis_matches_the_reference():
    obj = report.analysis_json(cnncalc.analyse(cnncalc.load("vgg16")))
    assert report.dumps(obj) == _reference_dumps(obj)


def test_fractional_jumps_are_numbers():
    a = analyse("input: 8x8x1\nlayers:\n  - conv: {filters: 1, kernel: 3, padding: 1}\n"
                "  - upsample: 2\n")
    up = report.layer_json(a.layers[1])
    assert up["jump"] == [0.5, 0.5] and up["receptive_field"] == [3, 3]
    json.loads(report.dumps(report.analysis_json(a)))


def test_from_is_listed_only_for_graphs():
    chain = report.analysis_json(analyse("input: 4x4x1\nlayers: [relu, flatten]\n"))
    assert all("from" not in x for x in chain["layers"])
    graph = report.analysis_json(analyse(
        "input: 4x4x2\nlayers:\n  - conv: {filters: 2, kernel: 1, name: a}\n  - relu\n"
        "  - add: {from: [a, -1]}\n"))
    assert graph["layers"][2]["from"] == ["a", "relu_1"]
    assert graph["layers"][2]["input"] == [[4, 4, 2], [4, 4, 2]]


# --- the invariant: per-layer counts sum to the totals -------------------------------------

def _check_sums(a) -> None:
    t = a.totals()
    for key in ("params", "trainable", "non_trainable", "macs"):
        assert sum(getattr(r, key) for r in a.layers) == t[key], key
    assert t["params"] == t["trainable"] + t["non_trainable"]
    assert t["flops"] == 2 * t["macs"]
    assert t["param_bytes"] == 4 * t["params"]
    data = json.loads(report.dumps(report.analysis_json(a)))
    for key in ("params", "trainable", "non_trainable", "macs"):
        assert sum(x[key] for x in data["layers"]) == data["totals"][key], key
    rows = list(csv.DictReader(io.StringIO(report.render_delimited(a, ","))))
    assert sum(int(r["params"]) for r in rows) == t["params"]
    assert sum(int(r["macs"]) for r in rows) == t["macs"]
    # every group row aggregates exactly its own leaves
    for row in a.rows:
        if isinstance(row, Group):
            leaves = a.layers[row.first - 1:row.last]
            assert a.group_totals(row) == {"params": sum(r.params for r in leaves),
                                           "macs": sum(r.macs for r in leaves)}


@pytest.mark.parametrize("name", zoo_names())
def test_sums_equal_totals_for_every_zoo_model(name):
    _check_sums(cnncalc.analyse(cnncalc.load(name)))


LAYER = st.one_of(
    st.builds(lambda f, k, p: {"conv": {"filters": f, "kernel": k, "padding": p}},
              st.integers(1, 8), st.integers(1, 3), st.sampled_from([0, 1, "same"])),
    st.builds(lambda k: {"depthwise_conv": {"kernel": k, "padding": "same"}}, st.integers(1, 3)),
    st.builds(lambda f: {"separable_conv": {"filters": f, "kernel": 3, "padding": "same"}},
              st.integers(1, 8)),
    st.just("batchnorm"), st.just("relu"), st.just({"dropout": 0.2}),
    st.just({"maxpool": {"size": 2, "ceil_mode": True}}),
    st.builds(lambda u: {"dense": u}, st.integers(1, 16)),
    st.just({"upsample": 2}),
)


@settings(max_examples=60, deadline=None)
@given(layers=st.lists(LAYER, min_size=1, max_size=8), batch=st.integers(1, 4))
def test_sums_equal_totals_for_random_specs(layers, batch):
    text = json.dumps({"input": [8, 8, 3], "layers": layers})
    try:
        a = analyse(text, batch=batch)
    except cnncalc.CnnCalcError:
        return
    _check_sums(a)
    one = analyse(text).totals()
    assert a.totals()["macs"] == batch * one["macs"]
    assert a.totals()["params"] == one["params"]


# --- text tables -----------------------------------------------------------------------------

def test_render_text_alignment():
    table = report.Table(["Name", "N"], "lr", [["a", "1"], ["longer", "1,000"]], ["", ""])
    assert report.render_text(table).splitlines() == [
        "Name        N",
        "------  -----",
        "a           1",
        "longer  1,000",
    ]


def test_layer_table_depth_and_groups():
    a = analyse("input: 8x8x4\nlayers:\n  - repeat: {name: stage, times: 2, layers: "
                "[conv: {filters: 4, kernel: 3, padding: 1}, relu]}\n  - flatten\n")
    full = report.layer_table(a)
    top = report.layer_table(a, depth=0)
    assert len(top.rows) < len(full.rows)
    assert [r[1].strip() for r in top.rows] == ["stage", "flatten_1"]
    assert top.styles == ["group", ""]
    assert top.rows[0][5] == "296"                 # 2 x (3*3*4*4 + 4)
    # leaf rows are numbered in execution order, group rows are not
    numbers = [r[0] for r in full.rows if r[0]]
    assert numbers == [str(i) for i in range(1, len(a.layers) + 1)]


def test_markdown_escapes_pipes():
    a = analyse('input: 4x4x1\nlayers:\n  - relu: {name: "a|b"}\n')
    md = report.render_markdown(a)
    assert "a\\|b" in md
    row = next(ln for ln in md.splitlines() if "a\\|b" in ln)
    assert row.count("|") - row.count("\\|") == 9          # 8 columns


def test_warning_lines_are_limited():
    layers = "\n".join("  - conv: {filters: 1, kernel: 2, stride: 2}" for _ in range(1)) + "\n"
    a = analyse("input: 7x7x1\nlayers:\n" + layers)
    assert len(report.warning_lines(a)) == 1
    a.warnings.extend(["w"] * 20)
    lines = report.warning_lines(a, limit=10)
    assert len(lines) == 11 and lines[-1].startswith("... and 11 more warnings")
    assert len(report.warning_lines(a, limit=None)) == 21


def test_rectangular_receptive_field_text():
    a = analyse("input: 16x16x1\nlayers:\n  - conv: {filters: 1, kernel: [3, 5]}\n")
    assert report.rf_text(a.layers[0]) == "3x5"
    assert report.layer_table(a).rows[0][7] == "3x5"


def test_overview_and_totals_lines():
    a = cnncalc.analyse(cnncalc.load("vgg16"))
    text = "\n".join(report.overview_lines(a))
    assert text.splitlines()[:2] == ["vgg16: 224x224x3 → [1000]  (25 layers)",
                                     "VGG-16 (configuration D), Simonyan & Zisserman 2014"]
    assert "138,357,544" in text and "15,470,264,320" in text and "30,940,528,640" in text
    assert "212 px at avgpool" in text


# --- the terminal rendering --------------------------------------------------------------------

def _on_console(renderable, width: int) -> list[str]:
    from rich.console import Console
    con = Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                  color_system="standard")
    con.print(renderable)
    return con.export_text().splitlines()


def test_render_rich_layout_matches_the_plain_table():
    table = report.Table(["#", "Layer", "Params"], "rlr",
                         [["1", "conv_1", "896"], ["", "  x[/b]y", "1,000,000"]], ["", "group"])
    lines = _on_console(report.render_rich(table, "net: 8x8x3 → [10]"), 200)
    plain = report.render_text(table).splitlines()
    assert lines[1] == plain[0]                                   # header
    assert set(lines[2]) == {"─"} and len(lines[2]) == len(plain[1])
    assert lines[3:] == plain[2:]                                 # rows, literally
    assert lines[0].strip() == "net: 8x8x3 → [10]"
    assert abs(len(lines[0]) - len(lines[0].lstrip()) - (len(plain[1]) - 17) // 2) <= 1


def test_render_rich_crops_instead_of_wrapping():
    a = cnncalc.analyse(cnncalc.load("vgg16"))
    table = report.layer_table(a)
    lines = _on_console(report.render_rich(table, "vgg16"), 40)
    assert len(lines) == len(table.rows) + 3                      # title, header, rule
    assert all(len(ln) <= 40 for ln in lines)

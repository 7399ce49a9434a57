"""Known answers for the multi-branch zoo: googlenet, inception_v3, squeezenet1_0/1_1 and unet.

Sources of the numbers:
- [TV] torchvision's weight metadata (``<Model>_Weights.IMAGENET1K_V1.meta``, shown in its docs'
  weights tables): ``num_params`` (trainable parameters; batchnorm running statistics are buffers)
  and ``_ops`` (the "GFLOPS" column: multiply-accumulates of conv and linear layers, bias excluded):
  GoogLeNet 6624904 / 1.498, Inception_V3 27161264 (AuxLogits included) / 5.713,
  SqueezeNet1_0 1248424 / 0.819, SqueezeNet1_1 1235496 / 0.349.
- [GN] Szegedy et al. 2015 (GoogLeNet), Table 1: the output size of every inception module.
- [SQ] Iandola et al. 2016 (SqueezeNet), Table 1: output sizes at a 227x227 input (Caffe's) and
  the parameter count of every layer ("# parameter before pruning"), total 1,248,424.
- [UN] Ronneberger et al. 2015 (U-Net), Figure 1: every feature map size, 572x572 -> 388x388x2.
  The paper gives no parameter count; ours is derived term by term (configs/unet.yaml) and
  recounted by a PyTorch model built here.
- Exact MAC integers and non-trainable counts are derived, not published: torchvision rounds the
  MACs to 3 decimals of G, and buffers are not "params". When torch is importable the reference
  models at the bottom of this file (torchvision's layer structure written out by hand: tests must
  not need torchvision) recount everything independently, layer by layer: output shapes from a
  forward pass on the meta device, parameters and buffers from torch, MACs from the shapes.
"""

from __future__ import annotations

import json

import pytest
from conftest import zoo_analysis

import cnncalc

# name, input, output, trainable, non_trainable, MACs, torchvision `_ops` [TV]
KNOWN = [
    # GoogLeNet_Weights: num_params 6624904, _ops 1.498 (aux heads dropped, as in torchvision's
    # pretrained model); 14,560 = 2 x the 7,280 batchnorm channels
    ("googlenet", (224, 224, 3), (1000,), 6_624_904, 14_560, 1_498_376_192, 1.498),
    # Inception_V3_Weights: num_params 27161264 includes AuxLogits (3,326,696, see
    # test_inception_v3_without_the_aux_head below); _ops 5.713 (the aux head never runs at
    # inference)
    ("inception_v3", (299, 299, 3), (1000,), 23_834_568, 34_432, 5_713_216_096, 5.713),
    # SqueezeNet1_0_Weights: num_params 1248424, _ops 0.819; no batchnorm
    ("squeezenet1_0", (224, 224, 3), (1000,), 1_248_424, 0, 818_924_576, 0.819),
    # SqueezeNet1_1_Weights: num_params 1235496, _ops 0.349
    ("squeezenet1_1", (224, 224, 3), (1000,), 1_235_496, 0, 349_151_936, 0.349),
    # [UN] derived (configs/unet.yaml), checked by the torch model below
    ("unet", (572, 572, 1), (388, 388, 2), 31_030_658, 0, 150_428_424_448, None),
]
NAMES = [row[0] for row in KNOWN]
analysis = zoo_analysis


def by_path(name: str) -> dict[str, cnncalc.LayerRecord]:
    return {r.path: r for r in analysis(name).layers}


def groups(name: str) -> dict:
    from cnncalc.analysis import Group
    return {g.path: g for g in analysis(name).rows if isinstance(g, Group)}


@pytest.mark.parametrize("name, shape_in, shape_out, trainable, non_trainable, macs, ops", KNOWN,
                         ids=NAMES)
def test_published_totals(name, shape_in, shape_out, trainable, non_trainable, macs, ops):
    a = analysis(name)
    t = a.totals()
    assert (a.input, a.output) == (shape_in, shape_out)
    assert t["trainable"] == trainable
    assert t["non_trainable"] == non_trainable
    assert t["params"] == trainable + non_trainable
    assert t["macs"] == macs and t["flops"] == 2 * macs
    if ops is not None:
        assert round(macs / 1e9, 3) == ops
    # every layer counted once: the leaf rows add up to the totals
    assert sum(r.params for r in a.layers) == t["params"]
    assert sum(r.macs for r in a.layers) == macs
    # batchnorm running mean + variance are the whole non-trainable count
    assert sum(2 * r.output[-1] for r in a.layers if r.type == "batchnorm") == non_trainable


@pytest.mark.parametrize("name", NAMES)
def test_cli_json_and_overview(cli, name):
    row = dict(zip(["name", "input", "output", "trainable", "non_trainable", "macs"],
                   next(r for r in KNOWN if r[0] == name)))
    res = cli(name, "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert tuple(doc["input"]) == row["input"] and tuple(doc["output"]) == row["output"]
    for key in ("trainable", "non_trainable", "macs"):
        assert doc["totals"][key] == row[key], key
    assert sum(layer["params"] for layer in doc["layers"]) == doc["totals"]["params"]
    text = cli(name)
    assert text.code == 0 and f"{row['trainable']:,}" in text.out


def test_zoo_list_includes_the_branch_models(cli):
    res = cli("list", "--format", "json")
    assert res.code == 0, res.err
    listed = {m["name"]: m for m in json.loads(res.out)}
    for name, _, _, trainable, non_trainable, macs, _ in KNOWN:
        assert "error" not in listed[name], listed[name]
        assert listed[name]["params"] == trainable + non_trainable
        assert listed[name]["macs"] == macs


# --- GoogLeNet -----------------------------------------------------------------------------------

def test_googlenet_inception_outputs_match_table_1():
    """[GN] Table 1 output sizes, and torchvision's 'N x C x H x W' comments."""
    g = groups("googlenet")
    expected = {"inception3a": (28, 28, 256), "inception3b": (28, 28, 480),
                "inception4a": (14, 14, 512), "inception4b": (14, 14, 512),
                "inception4c": (14, 14, 512), "inception4d": (14, 14, 528),
                "inception4e": (14, 14, 832), "inception5a": (7, 7, 832),
                "inception5b": (7, 7, 1024)}
    assert {k: g[k].output for k in expected} == expected
    p = by_path("googlenet")
    # ceil_mode pools: 112 -> 56 -> 28 -> 14 -> 7
    assert [p[f"maxpool{i}"].output[:2] for i in range(1, 5)] == [(56, 56), (28, 28), (14, 14),
                                                                  (7, 7)]


def test_googlenet_5x5_branch_is_torchvision_3x3():
    """torchvision's branch3 uses kernel_size=3 (pytorch/vision#906); so does the spec."""
    conv = by_path("googlenet")["inception3a.branch3.basic_conv_2.conv"]
    assert conv.layer.kernel == (3, 3)
    assert conv.weights == 3 * 3 * 16 * 32 and conv.biases == 0   # #5x5 reduce 16 -> #5x5 32
    bn = by_path("googlenet")["inception3a.branch3.basic_conv_2.bn"]
    assert bn.layer.epsilon == 0.001 and bn.trainable == 2 * 32 and bn.non_trainable == 2 * 32


def test_googlenet_smallest_input_is_torchvision_min_size(cli):
    """[TV] GoogLeNet_Weights.meta["min_size"] = (15, 15)."""
    assert cli("googlenet", "--input", "15x15x3", "-q").code == 0


# --- Inception v3 --------------------------------------------------------------------------------

AUX_HEAD = """
# torchvision InceptionAux(768, 1000), run on Mixed_6e's 17x17x768 output
input: 17x17x768
defaults: {conv: {bias: false}, batchnorm: {epsilon: 0.001}}
blocks:
  basic_conv:
    params: {filters: null, kernel: 1}
    layers: [conv: {filters: $filters, kernel: $kernel}, batchnorm, relu]
layers:
  - avgpool: {size: 5, stride: 3}                    # 5x5x768
  - block: {use: basic_conv, filters: 128}           # conv0
  - block: {use: basic_conv, filters: 768, kernel: 5}  # conv1 -> 1x1x768
  - adaptive_avgpool: 1
  - flatten
  - dense: 1000                                      # fc
"""


def test_inception_v3_without_the_aux_head():
    """[TV] num_params 27,161,264 counts AuxLogits; without it, 23,834,568 remain.

    AuxLogits = conv0 (768·128 + 2·128) + conv1 (5·5·128·768 + 2·768) + fc (768·1000 + 1000)
              = 98,560 + 2,459,136 + 769,000 = 3,326,696,
    counted here both by hand and by cnncalc on the head's own spec."""
    by_hand = (768 * 128 + 2 * 128) + (5 * 5 * 128 * 768 + 2 * 768) + (768 * 1000 + 1000)
    head = cnncalc.analyse(cnncalc.loads(AUX_HEAD))
    assert head.output == (1000,)
    assert head.totals()["trainable"] == by_hand == 3_326_696
    assert analysis("inception_v3").totals()["trainable"] + by_hand == 27_161_264


def test_inception_v3_grid_sizes():
    """torchvision's shape comments in Inception3._forward (N x C x H x W)."""
    p, g = by_path("inception_v3"), groups("inception_v3")
    assert p["Conv2d_1a_3x3.conv"].output == (149, 149, 32)
    assert p["Conv2d_2a_3x3.conv"].output == (147, 147, 32)
    assert p["maxpool1"].output == (73, 73, 64)
    assert p["Conv2d_4a_3x3.conv"].output == (71, 71, 192)
    assert p["maxpool2"].output == (35, 35, 192)
    expected = {"Mixed_5b": (35, 35, 256), "Mixed_5c": (35, 35, 288), "Mixed_5d": (35, 35, 288),
                "Mixed_6a": (17, 17, 768), "Mixed_6e": (17, 17, 768),
                "Mixed_7a": (8, 8, 1280), "Mixed_7b": (8, 8, 2048), "Mixed_7c": (8, 8, 2048)}
    assert {k: g[k].output for k in expected} == expected
    # the 1x7 / 7x1 factorisation keeps the grid: padding [0, 3] then [3, 0]
    c = p["Mixed_6b.branch2.branch7x7_2.conv"]
    assert c.layer.kernel == (1, 7) and c.output == (17, 17, 128)
    assert c.weights == 1 * 7 * 128 * 128


def test_inception_v3_min_size(cli):
    """[TV] Inception_V3_Weights.meta["min_size"] = (75, 75): 75 works, 74 is an error."""
    ok = cli("inception_v3", "--input", "75x75x3", "-q")
    assert (ok.code, ok.out.strip()) == (0, "[1000]")
    bad = cli("inception_v3", "--input", "74x74x3")
    assert bad.code == 2 and len(bad.err_lines) == 1 and "Traceback" not in bad.err
    assert "Mixed_7a" in bad.err and "larger than the padded input" in bad.err


# --- SqueezeNet ----------------------------------------------------------------------------------

SQUEEZE_TABLE_1 = [   # [SQ] Table 1 (SqueezeNet 1.0 at 227x227): layer, output, # parameters
    ("conv1", (111, 111, 96), 14_208), ("maxpool1", (55, 55, 96), 0),
    ("fire2", (55, 55, 128), 11_920), ("fire3", (55, 55, 128), 12_432),
    ("fire4", (55, 55, 256), 45_344), ("maxpool4", (27, 27, 256), 0),
    ("fire5", (27, 27, 256), 49_440), ("fire6", (27, 27, 384), 104_880),
    ("fire7", (27, 27, 384), 111_024), ("fire8", (27, 27, 512), 188_992),
    ("maxpool8", (13, 13, 512), 0), ("fire9", (13, 13, 512), 197_184),
    ("conv10", (13, 13, 1000), 513_000),
]


def test_squeezenet1_0_matches_paper_table_1():
    a = cnncalc.analyse(cnncalc.load("squeezenet1_0"), (227, 227, 3))
    leaves = {r.path: r for r in a.layers}
    from cnncalc.analysis import Group
    grp = {g.path: g for g in a.rows if isinstance(g, Group)}
    for name, shape, params in SQUEEZE_TABLE_1:
        if name in grp:
            assert grp[name].output == shape, name
            assert a.group_totals(grp[name])["params"] == params, name
        else:
            assert (leaves[name].output, leaves[name].params) == (shape, params), name
    assert a.totals()["params"] == sum(p for _, _, p in SQUEEZE_TABLE_1) == 1_248_424
    assert a.output == (1000,)


def test_squeezenet_fire_module_and_ceil_pools():
    p = by_path("squeezenet1_1")
    assert p["fire2.squeeze"].output == (55, 55, 16)
    assert p["fire2.parallel_1.branch1.expand1x1"].output == (55, 55, 64)
    assert p["fire2.parallel_1.branch2.expand3x3"].output == (55, 55, 64)
    assert p["fire2.parallel_1.concat"].output == (55, 55, 128)
    # ceil_mode=True: (111 - 3)/2 + 1 = 55 exactly, then 55 -> 27, 27 -> 13 (floor would agree
    # here); at 224 in 1.0: 109 -> ceil(106/2) + 1 = 54 where floor gives 54 too, 54 -> 27 where
    # floor gives 26
    assert [p[k].output[:2] for k in ("maxpool1", "maxpool3", "maxpool5")] == [
        (55, 55), (27, 27), (13, 13)]
    q = by_path("squeezenet1_0")
    assert q["maxpool4"].input_shapes[0][:2] == (54, 54) and q["maxpool4"].output[:2] == (27, 27)


# --- U-Net ---------------------------------------------------------------------------------------

def test_unet_feature_maps_match_figure_1():
    """[UN] Figure 1: every map size of the contracting and the expansive path."""
    p = by_path("unet")
    contracting = [("enc1", 570, 568, 64), ("enc2", 282, 280, 128), ("enc3", 138, 136, 256),
                   ("enc4", 66, 64, 512), ("bottom", 30, 28, 1024)]
    for name, first, second, c in contracting:
        assert p[f"{name}.conv_1"].output == (first, first, c), name
        assert p[f"{name}.conv_2"].output == (second, second, c), name
    assert [p[f"pool{i}"].output[:2] for i in range(1, 5)] == [(284, 284), (140, 140), (68, 68),
                                                               (32, 32)]
    # up-conv doubles, the skip is centre-cropped to it, the concatenation doubles the channels
    expansive = [("dec4", 56, 64, 54, 52, 512), ("dec3", 104, 136, 102, 100, 256),
                 ("dec2", 200, 280, 198, 196, 128), ("dec1", 392, 568, 390, 388, 64)]
    for name, up, skip, first, second, c in expansive:
        assert p[f"{name}.up_conv"].output == (up, up, c), name
        crop = p[f"{name}.crop"]
        assert crop.input_shapes == ((skip, skip, c), (up, up, c)), name
        assert crop.output == (up, up, c) and crop.geometry == ((skip - up) // 2,) * 4, name
        assert p[f"{name}.concat_1"].output == (up, up, 2 * c), name
        assert p[f"{name}.double_conv_1.conv_1"].output == (first, first, c), name
        assert p[f"{name}.double_conv_1.conv_2"].output == (second, second, c), name
    assert p["output"].output == (388, 388, 2)


def test_unet_parameter_count_term_by_term():
    """configs/unet.yaml's derivation, recomputed from the formulas of SPEC-FORMAT.md."""
    def conv(cin, cout, k=3):
        return k * k * cin * cout + cout
    chans = [1, 64, 128, 256, 512, 1024]
    contracting = sum(conv(a, b) + conv(b, b) for a, b in zip(chans, chans[1:]))
    expansive = sum(conv(c, c // 2, 2) + conv(c, c // 2) + conv(c // 2, c // 2)
                    for c in (1024, 512, 256, 128))
    assert (contracting, expansive) == (18_842_048, 12_188_480)
    a = analysis("unet")
    assert a.totals()["trainable"] == contracting + expansive + conv(64, 2, 1) == 31_030_658
    # the widely quoted 31,030,593 is the 1-class variant
    assert a.totals()["trainable"] - conv(64, 2, 1) + conv(64, 1, 1) == 31_030_593


def test_unet_receptive_field_is_the_deep_path():
    """The concatenations take the largest receptive field over their inputs: after dec4's
    concat it is the bottom path's (140 px), not the cropped skip's (68 px)."""
    p = by_path("unet")
    assert p["bottom.conv_2"].field.rf_h == 140 and p["enc4.conv_2"].field.rf_h == 68
    assert p["dec4.crop"].field.rf_h == 68
    assert p["dec4.concat_1"].field.rf_h == 140


# --- PyTorch reference models (hand-built, torchvision's layer structure) ------------------------

KINDS = {"Conv2d": "conv", "ConvTranspose2d": "conv_transpose", "Linear": "dense",
         "BatchNorm2d": "batchnorm", "MaxPool2d": "maxpool", "AvgPool2d": "avgpool",
         "AdaptiveAvgPool2d": "adaptive_avgpool", "Cat": "concat", "Join": "concat",
         "Crop": "crop"}


def _lib(torch):
    nn = torch.nn

    class Cat(nn.Module):
        """Branches on the same input, concatenated on the channels."""

        def __init__(self, *branches):
            super().__init__()
            self.branches = nn.ModuleList(branches)

        def forward(self, x):
            return torch.cat([b(x) for b in self.branches], 1)

    class Crop(nn.Module):
        def forward(self, x, like):
            dh, dw = (x.shape[2] - like.shape[2]) // 2, (x.shape[3] - like.shape[3]) // 2
            return x[:, :, dh:dh + like.shape[2], dw:dw + like.shape[3]]

    class Join(nn.Module):           # torch.cat of two given tensors, as a module for the hook
        def forward(self, a, b):
            return torch.cat([a, b], 1)

    def basic(cin, cout, **kw):      # torchvision BasicConv2d
        return nn.Sequential(nn.Conv2d(cin, cout, bias=False, **kw),
                             nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())

    def seq(*mods):
        return nn.Sequential(*mods)

    def googlenet():
        def inception(cin, c1, c3r, c3, c5r, c5, pp):
            return Cat(basic(cin, c1, kernel_size=1),
                       seq(basic(cin, c3r, kernel_size=1),
                           basic(c3r, c3, kernel_size=3, padding=1)),
                       seq(basic(cin, c5r, kernel_size=1),
                           basic(c5r, c5, kernel_size=3, padding=1)),
                       seq(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic(cin, pp, kernel_size=1)))
        return seq(basic(3, 64, kernel_size=7, stride=2, padding=3),
                   nn.MaxPool2d(3, 2, ceil_mode=True),
                   basic(64, 64, kernel_size=1), basic(64, 192, kernel_size=3, padding=1),
                   nn.MaxPool2d(3, 2, ceil_mode=True),
                   inception(192, 64, 96, 128, 16, 32, 32),
                   inception(256, 128, 128, 192, 32, 96, 64),
                   nn.MaxPool2d(3, 2, ceil_mode=True),
                   inception(480, 192, 96, 208, 16, 48, 64),
                   inception(512, 160, 112, 224, 24, 64, 64),
                   inception(512, 128, 128, 256, 24, 64, 64),
                   inception(512, 112, 144, 288, 32, 64, 64),
                   inception(528, 256, 160, 320, 32, 128, 128),
                   nn.MaxPool2d(2, 2, ceil_mode=True),
                   inception(832, 256, 160, 320, 32, 128, 128),
                   inception(832, 384, 192, 384, 48, 128, 128),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000))

    def inception_v3():
        def a(cin, pool):
            return Cat(basic(cin, 64, kernel_size=1),
                       seq(basic(cin, 48, kernel_size=1), basic(48, 64, kernel_size=5, padding=2)),
                       seq(basic(cin, 64, kernel_size=1), basic(64, 96, kernel_size=3, padding=1),
                           basic(96, 96, kernel_size=3, padding=1)),
                       seq(nn.AvgPool2d(3, 1, 1), basic(cin, pool, kernel_size=1)))

        def b(cin):
            return Cat(basic(cin, 384, kernel_size=3, stride=2),
                       seq(basic(cin, 64, kernel_size=1), basic(64, 96, kernel_size=3, padding=1),
                           basic(96, 96, kernel_size=3, stride=2)),
                       nn.MaxPool2d(3, 2))

        def c(cin, c7):
            def row(i, o):
                return basic(i, o, kernel_size=(1, 7), padding=(0, 3))

            def col(i, o):
                return basic(i, o, kernel_size=(7, 1), padding=(3, 0))
            return Cat(basic(cin, 192, kernel_size=1),
                       seq(basic(cin, c7, kernel_size=1), row(c7, c7), col(c7, 192)),
                       seq(basic(cin, c7, kernel_size=1), col(c7, c7), row(c7, c7), col(c7, c7),
                           row(c7, 192)),
                       seq(nn.AvgPool2d(3, 1, 1), basic(cin, 192, kernel_size=1)))

        def d(cin):
            return Cat(seq(basic(cin, 192, kernel_size=1),
                           basic(192, 320, kernel_size=3, stride=2)),
                       seq(basic(cin, 192, kernel_size=1),
                           basic(192, 192, kernel_size=(1, 7), padding=(0, 3)),
                           basic(192, 192, kernel_size=(7, 1), padding=(3, 0)),
                           basic(192, 192, kernel_size=3, stride=2)),
                       nn.MaxPool2d(3, 2))

        def e(cin):
            def split(i):
                return Cat(basic(i, 384, kernel_size=(1, 3), padding=(0, 1)),
                           basic(i, 384, kernel_size=(3, 1), padding=(1, 0)))
            return Cat(basic(cin, 320, kernel_size=1),
                       seq(basic(cin, 384, kernel_size=1), split(384)),
                       seq(basic(cin, 448, kernel_size=1), basic(448, 384, kernel_size=3,
                                                                 padding=1), split(384)),
                       seq(nn.AvgPool2d(3, 1, 1), basic(cin, 192, kernel_size=1)))
        return seq(basic(3, 32, kernel_size=3, stride=2), basic(32, 32, kernel_size=3),
                   basic(32, 64, kernel_size=3, padding=1), nn.MaxPool2d(3, 2),
                   basic(64, 80, kernel_size=1), basic(80, 192, kernel_size=3),
                   nn.MaxPool2d(3, 2),
                   a(192, 32), a(256, 64), a(288, 64), b(288),
                   c(768, 128), c(768, 160), c(768, 160), c(768, 192),
                   d(768), e(1280), e(2048),
                   nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2048, 1000))

    def squeezenet(version):
        def fire(cin, s, e1, e3):
            return seq(nn.Conv2d(cin, s, 1), nn.ReLU(),
                       Cat(seq(nn.Conv2d(s, e1, 1), nn.ReLU()),
                           seq(nn.Conv2d(s, e3, 3, padding=1), nn.ReLU())))

        def pool():
            return nn.MaxPool2d(3, 2, ceil_mode=True)
        if version == "1_0":
            features = [nn.Conv2d(3, 96, 7, stride=2), nn.ReLU(), pool(),
                        fire(96, 16, 64, 64), fire(128, 16, 64, 64), fire(128, 32, 128, 128),
                        pool(), fire(256, 32, 128, 128), fire(256, 48, 192, 192),
                        fire(384, 48, 192, 192), fire(384, 64, 256, 256), pool(),
                        fire(512, 64, 256, 256)]
        else:
            features = [nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), pool(),
                        fire(64, 16, 64, 64), fire(128, 16, 64, 64), pool(),
                        fire(128, 32, 128, 128), fire(256, 32, 128, 128), pool(),
                        fire(256, 48, 192, 192), fire(384, 48, 192, 192),
                        fire(384, 64, 256, 256), fire(512, 64, 256, 256)]
        return seq(*features, nn.Dropout(0.5), nn.Conv2d(512, 1000, 1), nn.ReLU(),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            ch = [1, 64, 128, 256, 512, 1024]

            def double(i, o):
                return seq(nn.Conv2d(i, o, 3), nn.ReLU(), nn.Conv2d(o, o, 3), nn.ReLU())
            self.enc = nn.ModuleList(double(i, o) for i, o in zip(ch, ch[1:]))
            self.pools = nn.ModuleList(nn.MaxPool2d(2) for _ in range(4))
            self.ups = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2)
                                     for c in ch[:1:-1])
            self.crops = nn.ModuleList(Crop() for _ in range(4))
            self.joins = nn.ModuleList(Join() for _ in range(4))
            self.dec = nn.ModuleList(double(c, c // 2) for c in ch[:1:-1])
            self.out = nn.Conv2d(64, 2, 1)

        def forward(self, x):
            skips = []
            for i, enc in enumerate(self.enc):
                x = enc(x)
                if i < 4:
                    skips.append(x)
                    x = self.pools[i](x)
            for up, crop, join, dec, skip in zip(self.ups, self.crops, self.joins, self.dec,
                                                 reversed(skips)):
                x = up(x)
                x = dec(join(crop(skip, x), x))
            return self.out(x)

    return {"googlenet": googlenet, "inception_v3": inception_v3,
            "squeezenet1_0": lambda: squeezenet("1_0"),
            "squeezenet1_1": lambda: squeezenet("1_1"), "unet": UNet}


def torch_trace(torch, model, shape):
    """(kind, H x W x C output, trainable, buffers, MACs) for every conv, linear, batchnorm, pool,
    concatenation and crop module, in execution order; a forward pass on the meta device."""
    rows = []

    def hook(mod, inputs, out):
        kind = KINDS[type(mod).__name__]
        params = sum(p.numel() for p in mod.parameters(recurse=False))
        buffers = sum(b.numel() for n, b in mod.named_buffers(recurse=False)
                      if n != "num_batches_tracked")
        macs = 0
        if kind == "conv":
            macs = out.numel() * mod.weight[0].numel()
        elif kind == "conv_transpose":
            macs = inputs[0].numel() * mod.weight[0].numel()
        elif kind == "dense":
            macs = mod.weight.numel()
        shape = tuple(out.shape[1:])
        hwc = shape[1:] + shape[:1] if len(shape) == 3 else shape
        rows.append((kind, hwc, params, buffers, macs))

    for mod in model.modules():
        if type(mod).__name__ in KINDS:
            mod.register_forward_hook(hook)
    h, w, c = shape
    with torch.no_grad():
        model(torch.empty(1, c, h, w, device="meta"))
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_matches_a_hand_built_torch_model(name):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model = _lib(torch)[name]().eval()
    a = analysis(name)
    theirs = torch_trace(torch, model, a.input)
    ours = [(r.type, r.output, r.trainable, r.non_trainable, r.macs) for r in a.layers
            if r.type in KINDS.values()]
    assert len(ours) == len(theirs)
    for i, (mine, ref) in enumerate(zip(ours, theirs)):
        assert mine == ref, f"layer {i}: cnncalc {mine} vs torch {ref}"
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers()
                  if not n.endswith("num_batches_tracked"))
    t = a.totals()
    assert (t["trainable"], t["non_trainable"]) == (trainable, buffers)
    assert t["macs"] == sum(row[-1] for row in theirs)


# --- golden tree views ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, args", [
    ("squeezenet1_1", ("--summary",)),
    ("googlenet", ("--summary", "--depth", "1")),
    ("unet", ("--summary", "--depth", "1")),
])
def test_tree_view_golden(cli, golden, name, args):
    """The --summary tree of a branching model: block rows with aggregated params and MACs,
    parallel branches, collapsed below --depth. Regenerate on purpose with `pytest --overwrite`."""
    res = cli(name, *args)
    assert res.code == 0, res.err
    suffix = "" if "--depth" not in args else f"_depth{args[-1]}"
    golden(f"{name}_summary{suffix}.txt", res.out)

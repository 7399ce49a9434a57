"""Known answers for the built-in zoo, part 1: lenet5, alexnet, the VGGs, the ResNets, densenet121,
mobilenet_v2 and efficientnet_b0.

Sources of the numbers:
- torchvision's weight metadata (``torchvision/models/<model>.py``, ``<Model>_Weights.IMAGENET1K_V1
  .meta``): ``num_params`` (trainable parameters; batchnorm running statistics are buffers, not
  parameters) and ``_ops`` (GFLOPS in torchvision's docs, which are multiply-accumulates of conv and
  linear layers, bias excluded, at 224x224, given to three decimals).
- Keras ``VGG16().summary()`` / ``VGG19().summary()`` for the VGG totals (equal to torchvision's).
- LeNet-5: LeCun et al. 1998, section II.B, for C1 (156), C5 (48,120) and F6 (10,164); the full C3
  (5·5·6·16 + 16 = 2,416) and dense output (84·10 + 10 = 850) of the common variant.
- Non-trainable counts (batchnorm running mean + variance, 2 per channel) and exact MAC integers are
  derived, not published; when torch is importable, the reference models built at the bottom of
  this file (torchvision's layer structure, written out by hand, since tests must not need
  torchvision) recount them independently: parameters and buffers from torch, MACs from
  ``torch.utils.flop_counter.FlopCounterMode``, shapes from a real forward on the meta device.
"""

from __future__ import annotations

import json

import pytest
from conftest import zoo_analysis

import cnncalc
from cnncalc.errors import CnnCalcError
from cnncalc.spec import zoo_names

# name, input, output, params (total), trainable, non_trainable, MACs, torchvision `_ops`
KNOWN = [
    # LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850 (module docstring); MACs
    # 28·28·6·25 + 10·10·16·150 + 120·400 + 84·120 + 10·84 = 416,520 (derived)
    ("lenet5", (32, 32, 1), (10,), 61_706, 61_706, 0, 416_520, None),
    # AlexNet_Weights.IMAGENET1K_V1: num_params 61100840, _ops 0.714
    ("alexnet", (224, 224, 3), (1000,), 61_100_840, 61_100_840, 0, 714_188_480, 0.714),
    # VGG11_Weights: num_params 132863336, _ops 7.609
    ("vgg11", (224, 224, 3), (1000,), 132_863_336, 132_863_336, 0, 7_609_090_048, 7.609),
    # VGG13_Weights: num_params 133047848, _ops 11.308
    ("vgg13", (224, 224, 3), (1000,), 133_047_848, 133_047_848, 0, 11_308_466_176, 11.308),
    # VGG16_Weights: num_params 138357544, _ops 15.47; Keras VGG16 summary 138,357,544; the
    # exact 15,470,264,320 MACs are issue 2's figure
    ("vgg16", (224, 224, 3), (1000,), 138_357_544, 138_357_544, 0, 15_470_264_320, 15.47),
    # VGG19_Weights: num_params 143667240, _ops 19.632; Keras VGG19 summary 143,667,240
    ("vgg19", (224, 224, 3), (1000,), 143_667_240, 143_667_240, 0, 19_632_062_464, 19.632),
    # ResNet18_Weights: num_params 11689512, _ops 1.814; 9,600 BN statistics
    ("resnet18", (224, 224, 3), (1000,), 11_699_112, 11_689_512, 9_600, 1_814_073_344, 1.814),
    # ResNet34_Weights: num_params 21797672, _ops 3.664
    ("resnet34", (224, 224, 3), (1000,), 21_814_696, 21_797_672, 17_024, 3_663_761_408, 3.664),
    # ResNet50_Weights: num_params 25557032, _ops 4.089; Keras ResNet50 also has 53,120
    # non-trainable BN statistics (its own total differs: Keras's v1 has conv biases)
    ("resnet50", (224, 224, 3), (1000,), 25_610_152, 25_557_032, 53_120, 4_089_184_256, 4.089),
    # ResNet101_Weights: num_params 44549160, _ops 7.801
    ("resnet101", (224, 224, 3), (1000,), 44_654_504, 44_549_160, 105_344, 7_801_405_440,
     7.801),
    # ResNet152_Weights: num_params 60192808, _ops 11.514
    ("resnet152", (224, 224, 3), (1000,), 60_344_232, 60_192_808, 151_424, 11_513_626_624,
     11.514),
    # DenseNet121_Weights: num_params 7978856, _ops 2.834
    ("densenet121", (224, 224, 3), (1000,), 8_062_504, 7_978_856, 83_648, 2_834_161_664, 2.834),
    # MobileNet_V2_Weights: num_params 3504872, _ops 0.301
    ("mobilenet_v2", (224, 224, 3), (1000,), 3_538_984, 3_504_872, 34_112, 300_774_272, 0.301),
    # EfficientNet_B0_Weights: num_params 5288548, _ops 0.386
    ("efficientnet_b0", (224, 224, 3), (1000,), 5_330_564, 5_288_548, 42_016, 385_814_752,
     0.386),
]
NAMES = [row[0] for row in KNOWN]
analysis = zoo_analysis


@pytest.mark.parametrize("name, shape_in, shape_out, params, trainable, non_trainable, macs, ops",
                         KNOWN, ids=NAMES)
def test_published_totals(name, shape_in, shape_out, params, trainable, non_trainable, macs,
                          ops):
    a = analysis(name)
    t = a.totals()
    assert (a.input, a.output) == (shape_in, shape_out)
    assert t["trainable"] == trainable
    assert t["non_trainable"] == non_trainable
    assert t["params"] == params == trainable + non_trainable
    assert t["macs"] == macs
    assert t["flops"] == 2 * macs
    if ops is not None:      # torchvision's rounded figure
        assert round(macs / 1e9, len(str(ops).split(".")[1])) == ops
    # the per-layer rows add up to the totals
    assert sum(r.params for r in a.layers) == params
    assert sum(r.macs for r in a.layers) == macs


def test_every_batchnorm_is_the_non_trainable_count():
    """Non-trainable = the running mean and variance of every batchnorm, 2 per channel."""
    for name in NAMES:
        a = analysis(name)
        bn = [r for r in a.layers if r.type == "batchnorm"]
        assert sum(2 * r.output[-1] for r in bn) == a.totals()["non_trainable"], name
        assert all(r.non_trainable == 0 for r in a.layers if r.type != "batchnorm"), name


@pytest.mark.parametrize("name", NAMES)
def test_cli_json_totals(cli, name):
    row = dict(zip(["name", "input", "output", "params", "trainable", "non_trainable", "macs"],
                   next(r for r in KNOWN if r[0] == name)))
    res = cli(name, "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["name"] == name
    assert tuple(doc["input"]) == row["input"] and tuple(doc["output"]) == row["output"]
    for key in ("params", "trainable", "non_trainable", "macs"):
        assert doc["totals"][key] == row[key], key
    assert sum(layer["params"] for layer in doc["layers"]) == row["params"]


def test_cli_list_shows_the_zoo(cli):
    res = cli("list", "--format", "json")
    assert res.code == 0, res.err
    listed = {m["name"]: m for m in json.loads(res.out)}
    for name, shape_in, shape_out, params, trainable, _, macs, _ in KNOWN:
        m = listed[name]
        assert (tuple(m["input"]), tuple(m["output"])) == (shape_in, shape_out)
        assert (m["params"], m["trainable"], m["macs"]) == (params, trainable, macs)
    text = cli("list")
    assert text.code == 0
    lines = {line.split()[0]: line for line in text.out.splitlines()[2:] if line.strip()}
    assert "11,689,512" in lines["resnet18"] and "11,699,112" in lines["resnet18"]
    order = [n for n in lines if n.startswith("resnet")]
    assert order == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def _table_rows(text: str) -> list[list[str]]:
    """The rows of a printed layer table: between the '---' rule and the first blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0", "lenet5"])
def test_cli_summary_reads_well(cli, name):
    a = analysis(name)
    full = cli(name, "--summary")
    top = cli(name, "--summary", "--depth", "0")
    for res in (full, top):
        assert res.code == 0, res.err
        assert "Traceback" not in res.err
        assert f"{a.totals()['trainable']:,}" in res.out
        assert f"{a.totals()['macs']:,}" in res.out
    # one row per leaf and per group (block, repeat iteration, residual) in the full table;
    # --depth 0 keeps only the top level, the groups collapsed into one row each
    assert len(_table_rows(full.out)) == len(a.rows)
    collapsed = _table_rows(top.out)
    assert len(collapsed) == sum(1 for r in a.rows if r.depth == 0)
    names = [r.name for r in a.rows if r.depth == 0]
    assert [next(t for t in row if not t.isdigit()) for row in collapsed] == names


# --- the ResNet structure: paths, strides and torchvision's downsample ---------------------------

def test_resnet_paths_follow_torchvision_layers():
    a = analysis("resnet18")
    by_path = {r.path: r for r in a.layers}
    first = by_path["layer2.0.body.conv_1"]           # the stride sits on the first block
    assert first.input_shapes == ((56, 56, 64),) and first.output == (28, 28, 128)
    assert first.weights == 3 * 3 * 64 * 128 and first.biases == 0
    assert by_path["layer2.1.body.conv_1"].output == (28, 28, 128)
    short = by_path["layer2.0.shortcut.conv"]          # torchvision's downsample.0
    assert short.output == (28, 28, 128) and short.weights == 64 * 128 and short.biases == 0
    assert by_path["layer2.0.shortcut.batchnorm"].params == 4 * 128
    assert "layer1.0.shortcut.conv" not in by_path     # same shape: identity shortcut
    assert "layer2.1.shortcut.conv" not in by_path
    assert [r.path for r in a.layers if r.type == "add"] == [
        f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]
    assert all(r.depth >= 1 for r in a.layers if r.path.startswith("layer"))


def test_resnet50_is_v1_5_with_a_projection_in_layer1():
    by_path = {r.path: r for r in analysis("resnet50").layers}
    # v1.5: the 1x1 keeps the size, the 3x3 strides
    assert by_path["layer2.0.body.conv_1"].output == (56, 56, 128)
    assert by_path["layer2.0.body.conv_2"].output == (28, 28, 128)
    assert by_path["layer2.0.body.conv_3"].output == (28, 28, 512)
    # 64 -> 256 channels at stride 1: a 1x1 projection already in layer1.0, none in layer1.1
    assert by_path["layer1.0.shortcut.conv"].output == (56, 56, 256)
    assert "layer1.1.shortcut.conv" not in by_path
    assert by_path["fc"].input_shapes == ((2048,),)


def test_repeat_first_overrides_block_arguments_of_the_first_iteration():
    spec = """
input: 8x8x4
blocks:
  b:
    params: {filters: 4, stride: 1}
    layers: [conv: {filters: $filters, kernel: 3, stride: $stride, padding: 1}]
layers:
  - repeat: {name: stage, times: 3, first: {stride: 2, filters: 6},
             layers: [block: {use: b, filters: 8}]}
"""
    a = cnncalc.analyse(cnncalc.loads(spec))
    assert [(r.path, r.output) for r in a.layers] == [
        ("stage.0.conv_1", (4, 4, 6)), ("stage.1.conv_1", (4, 4, 8)),
        ("stage.2.conv_1", (4, 4, 8))]


@pytest.mark.parametrize("first, needle", [
    ("{stride: 2}", "no 'block:' entry"),
    ("[2]", "must be a mapping of block arguments"),
    ("{strid: 2}", "has no parameter 'strid'"),
])
def test_repeat_first_errors(first, needle):
    layers = "[conv: {filters: 4, kernel: 1}]" if "no 'block" in needle else "[block: b]"
    spec = f"""
input: 8x8x4
blocks:
  b:
    params: {{stride: 1}}
    layers: [conv: {{filters: 4, kernel: 3, stride: $stride, padding: 1}}]
layers:
  - repeat: {{times: 2, first: {first}, layers: {layers}}}
"""
    with pytest.raises(CnnCalcError, match=needle.replace("(", r"\(")):
        cnncalc.analyse(cnncalc.loads(spec))


def test_efficientnet_squeeze_excitation_shapes():
    by_path = {r.path: r for r in analysis("efficientnet_b0").layers}
    # stage3.0: 16 -> 96 expanded, squeezed to 16 // 4 = 4, gate 1x1x96 scales 56x56x96
    assert by_path["stage3.0.squeeze"].output == (1, 1, 96)
    assert by_path["stage3.0.fc1"].params == 96 * 4 + 4
    assert by_path["stage3.0.fc2"].params == 4 * 96 + 96
    excite = by_path["stage3.0.excite"]
    assert excite.input_shapes == ((56, 56, 96), (1, 1, 96)) and excite.output == (56, 56, 96)
    # the jump after the gate is the map's (4 px at 56x56), not the 1x1 gate's
    assert excite.field.jump_h == 4
    assert by_path["stage3.1.add"].output == (56, 56, 24)
    assert "stage3.0.add" not in by_path                  # stride 2: no residual


# --- independent recount with PyTorch reference models -------------------------------------------

def _references(torch):
    """torchvision's layer structure for each model, written out by hand (same module names)."""
    nn = torch.nn

    def lenet5():
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
            nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
            nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))

    def alexnet():
        return nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.AdaptiveAvgPool2d(6), nn.Flatten(),
            nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))

    def vgg(cfg):
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(),
                             nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(),
                             nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
                             nn.Linear(4096, 1000))

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (self.downsample(x) if self.downsample else x))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (self.downsample(x) if self.downsample else x))

    class ResNet(nn.Module):
        def __init__(self, block, counts):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), 1):
                blocks = []
                for j in range(n):
                    stride = 2 if i > 1 and j == 0 else 1
                    down = None
                    if stride != 1 or cin != planes * block.expansion:
                        down = nn.Sequential(
                            nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
                            nn.BatchNorm2d(planes * block.expansion))
                    blocks.append(block(cin, planes, stride, down))
                    cin = planes * block.expansion
                setattr(self, f"layer{i}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class DenseLayer(nn.Module):
        def __init__(self, cin, growth=32):
            super().__init__()
            self.norm1, self.relu1 = nn.BatchNorm2d(cin), nn.ReLU()
            self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
            self.norm2, self.relu2 = nn.BatchNorm2d(4 * growth), nn.ReLU()
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

        def forward(self, x):
            new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
            return torch.cat([x, new], 1)

    def densenet121():
        layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                  nn.MaxPool2d(3, 2, 1)]
        c = 64
        for i, n in enumerate((6, 12, 24, 16)):
            for _ in range(n):
                layers.append(DenseLayer(c))
                c += 32
            if i < 3:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False),
                           nn.AvgPool2d(2)]
                c //= 2
        return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(c, 1000))

    def cna(cin, cout, k, stride=1, groups=1, act=None):
        mods = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout)]
        return mods + ([act()] if act else [])

    class Residual(nn.Module):
        def __init__(self, body, use_res):
            super().__init__()
            self.body, self.use_res = nn.Sequential(*body), use_res

        def forward(self, x):
            return x + self.body(x) if self.use_res else self.body(x)

    def mobilenet_v2():
        layers = cna(3, 32, 3, 2, act=nn.ReLU6)
        c = 32
        for t, cout, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
            for j in range(n):
                stride, hidden = (s if j == 0 else 1), c * t
                body = cna(c, hidden, 1, act=nn.ReLU6) if t != 1 else []
                body += cna(hidden, hidden, 3, stride, hidden, nn.ReLU6) + cna(hidden, cout, 1)
                layers.append(Residual(body, stride == 1 and c == cout))
                c = cout
        layers += cna(c, 1280, 1, act=nn.ReLU6)
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                             nn.Linear(1280, 1000))

    class SqueezeExcitation(nn.Module):
        def __init__(self, c, squeeze):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
            self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

        def forward(self, x):
            gate = self.fc2(self.activation(self.fc1(self.avgpool(x))))
            return x * self.scale_activation(gate)

    def efficientnet_b0():
        layers = cna(3, 32, 3, 2, act=nn.SiLU)
        c = 32
        for t, k, s, cout, n in ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                                 (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                                 (6, 3, 1, 320, 1)):
            for j in range(n):
                stride, hidden = (s if j == 0 else 1), c * t
                body = cna(c, hidden, 1, act=nn.SiLU) if t != 1 else []
                body += cna(hidden, hidden, k, stride, hidden, nn.SiLU)
                body += [SqueezeExcitation(hidden, max(1, c // 4))] + cna(hidden, cout, 1)
                layers.append(Residual(body, stride == 1 and c == cout))
                c = cout
        layers += cna(c, 1280, 1, act=nn.SiLU)
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                             nn.Linear(1280, 1000))

    return {
        "lenet5": lenet5, "alexnet": alexnet,
        "vgg11": lambda: vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]),
        "vgg13": lambda: vgg([64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M",
                              512, 512, "M"]),
        "vgg16": lambda: vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                              512, 512, 512, "M"]),
        "vgg19": lambda: vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]),
        "resnet18": lambda: ResNet(BasicBlock, (2, 2, 2, 2)),
        "resnet34": lambda: ResNet(BasicBlock, (3, 4, 6, 3)),
        "resnet50": lambda: ResNet(Bottleneck, (3, 4, 6, 3)),
        "resnet101": lambda: ResNet(Bottleneck, (3, 4, 23, 3)),
        "resnet152": lambda: ResNet(Bottleneck, (3, 8, 36, 3)),
        "densenet121": densenet121, "mobilenet_v2": mobilenet_v2,
        "efficientnet_b0": efficientnet_b0,
    }


def _torch_run(torch, name: str):
    """Build the reference on the meta device (no memory, no weights), run one forward with
    hooks on every layer that holds parameters, and count MACs with FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    nn = torch.nn
    with torch.device("meta"):
        model = _references(torch)[name]().eval()
        seen: list[tuple[str, str, int, int, tuple[int, ...]]] = []

        def hook(module, args, out, mod_name):
            kind = {nn.Conv2d: "conv", nn.BatchNorm2d: "batchnorm", nn.Linear: "dense"}[
                type(module)]
            stats = sum(b.numel() for n, b in module.named_buffers()
                        if n in ("running_mean", "running_var"))
            shape = tuple(out.shape[2:]) + (out.shape[1],) if out.dim() == 4 else (out.shape[1],)
            seen.append((mod_name, kind, sum(p.numel() for p in module.parameters()), stats,
                         shape))

        for mod_name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
                module.register_forward_hook(
                    lambda m, a, o, mod_name=mod_name: hook(m, a, o, mod_name))
        h, w, c = next(r for r in KNOWN if r[0] == name)[1]
        with FlopCounterMode(display=False) as counter:
            out = model(torch.empty(1, c, h, w))
    trainable = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.endswith(("running_mean", "running_var")))
    return seen, trainable, stats, counter.get_total_flops() // 2, tuple(out.shape[1:])


@pytest.mark.parametrize("name", NAMES)
def test_against_a_pytorch_reference(name):
    """Totals, and every layer with parameters in execution order: its type, trainable and
    non-trainable counts and output shape, against the same network built in PyTorch."""
    torch = pytest.importorskip("torch")
    seen, trainable, stats, macs, out = _torch_run(torch, name)
    a = analysis(name)
    t = a.totals()
    assert (t["trainable"], t["non_trainable"], t["macs"]) == (trainable, stats, macs)
    assert a.output == out
    ours = [(r.type.replace("depthwise_conv", "conv"), r.trainable, r.non_trainable, r.output)
            for r in a.layers if r.params]
    assert ours == [s[1:] for s in seen]


def _cnncalc_path(torch_name: str) -> str:
    """torchvision's module name → cnncalc's JSON path (`layer2.0.conv1` →
    `layer2.0.body.conv_1`, `layer2.0.downsample.0` → `layer2.0.shortcut.conv`)."""
    parts = torch_name.split(".")
    if len(parts) == 1:
        return torch_name
    stage, block, rest = parts[0], parts[1], parts[2:]
    if rest[0] == "downsample":
        return f"{stage}.{block}.shortcut.{('conv', 'batchnorm')[int(rest[1])]}"
    kind, k = rest[0][:-1], rest[0][-1]
    return f"{stage}.{block}.body.{ {'conv': 'conv', 'bn': 'batchnorm'}[kind]}_{k}"


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_layers_match_torchvision_names(name):
    """Each torchvision module (conv1, layer3.4.conv2, layer2.0.downsample.0, fc, ...) is the
    cnncalc layer at the corresponding path, with the same parameters and output shape."""
    torch = pytest.importorskip("torch")
    seen, *_ = _torch_run(torch, name)
    by_path = {r.path: r for r in analysis(name).layers}
    assert len(seen) == sum(1 for r in by_path.values() if r.params)
    for mod_name, _, params, stats, shape in seen:
        rec = by_path[_cnncalc_path(mod_name)]
        assert (rec.trainable, rec.non_trainable, rec.output) == (params, stats, shape), mod_name


def test_summary_labels_leaves_by_their_path_inside_a_group(cli):
    """In the tree view a leaf shows its path below the enclosing group row, so the projection
    shortcut reads `shortcut.conv`, not a second bare `conv` beside the body's."""
    rows = _table_rows(cli("resnet18", "--summary").out)
    a = analysis("resnet18")
    assert len(rows) == len(a.rows)
    labels = [row[1] for row, r in zip(rows, a.rows) if isinstance(r, cnncalc.LayerRecord)]
    assert labels[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert labels[4:11] == ["body.conv_1", "body.batchnorm_1", "body.relu_1", "body.conv_2",
                            "body.batchnorm_2", "add", "relu"]
    assert labels.count("shortcut.conv") == 3 and labels.count("shortcut.batchnorm") == 3
    assert labels[-3:] == ["avgpool", "flatten_1", "fc"]


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_nets_print_no_warnings(cli, name):
    """Every built-in net runs quietly (issue 10 item 6): the floors torchvision's nets make on
    purpose are acknowledged in the spec with `floor: ok`, so a warning means something new."""
    assert zoo_analysis(name).warnings == []
    res = cli(name)
    assert res.code == 0 and res.err_lines == []

"""VGG-16 (configuration D) in plain PyTorch, without torchvision: the source text that the
benchmarks run in a separate Python process (it defines ``model``, ``torch`` and ``nn``), so that
both benchmarks measure the same network."""

TORCH_VGG16 = r"""
import torch, torch.nn as nn
def block(cin, cout, n):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return layers + [nn.MaxPool2d(2, 2)]
model = nn.Sequential(*block(3, 64, 2), *block(64, 128, 2), *block(128, 256, 3),
                      *block(256, 512, 3), *block(512, 512, 3), nn.Flatten(),
                      nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                      nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))
"""

#!/usr/bin/env python3
"""Fixtures exported with torch's current default exporter (`torch.onnx.export(dynamo=True)`,
opset 18+), which writes adaptive average pooling as ReduceMean, Flatten as Reshape, ReLU6 as
Clip and keeps residual Adds; the legacy exports in export_torchvision.py write none of these.

Writes Tests/Fixtures/models/<name>.onnx and Tests/Fixtures/reference/<name>.{input,logits}.npy
(onnxruntime, graph optimizations off, batch 2). With --full it also exports full-size
torchvision AlexNet, VGG11-BN, ResNet18 and MobileNetV2 (seeded random weights) to
Graphs/build/<name>_dynamo.onnx with references in Graphs/build/reference/ (batch 1), which
Graphs/compare_full_size.py then checks. Needs `pip install torch torchvision onnx
onnxruntime onnxscript`. Run: python3 Graphs/export_dynamo.py [--full]
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from export_torchvision import GoogLeNetSmall, calibrate, CALIB_BATCH

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "Tests" / "Fixtures" / "models"
REFERENCE = ROOT / "Tests" / "Fixtures" / "reference"


class TinyResidualNet(nn.Module):
    """ResNet/MobileNet idioms: BatchNorm, ReLU6, residual Add, adaptive average pooling."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1, groups=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        x = self.down(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def export(name: str, model: nn.Module, shape, seed: int, models: Path = MODELS, reference: Path = REFERENCE,
           batch: int = 2) -> None:
    torch.manual_seed(seed)
    model.eval()
    calibrate(model, (CALIB_BATCH, *shape[1:]), seed + 1)
    path = models / f"{name}.onnx"
    x = torch.randn(*shape)
    torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["input"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False)
    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inp = np.random.default_rng(seed).standard_normal((batch, *shape[1:])).astype(np.float32)
    logits = session.run(None, {session.get_inputs()[0].name: inp})[0]
    with torch.no_grad():
        assert np.abs(model(torch.from_numpy(inp)).numpy() - logits).max() < 1e-4 * max(1, np.abs(logits).max())
    np.save(reference / f"{name}.input.npy", inp)
    np.save(reference / f"{name}.logits.npy", logits.astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB, ops {ops}")


if __name__ == "__main__":
    export("googlenet_small_dynamo", GoogLeNetSmall(), (1, 3, 96, 96), 3003)
    export("residual_dynamo", TinyResidualNet(), (1, 3, 48, 48), 3004)
    if "--full" in sys.argv:
        import torchvision
        build = ROOT / "Graphs" / "build"
        (build / "reference").mkdir(parents=True, exist_ok=True)
        for seed, arch in enumerate(["alexnet", "vgg11_bn", "resnet18", "mobilenet_v2"], start=4001):
            torch.manual_seed(seed)
            export(f"{arch}_dynamo", getattr(torchvision.models, arch)(weights=None), (1, 3, 224, 224), seed,
                   models=build, reference=build / "reference", batch=1)

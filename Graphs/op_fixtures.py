#!/usr/bin/env python3
"""Tiny ONNX graphs, one per op family clrp added for the zoo, with torch/onnxruntime references.

For every case NAME below this writes into ``Tests/Fixtures/ops/``:

* ``NAME.onnx``           the module exported by ``torch.onnx.export`` (the legacy exporter, or
                          dynamo for ``*_dynamo``; the opset given), seeded random weights
                          (doubled), input [1, 3, 8, 8];
* ``NAME.input.npy``      a seeded N(0, 1) input (scaled so that activations see their kinks
                          and saturations);
* ``NAME.logits.npy``     onnxruntime's output on that input (graph optimisations disabled);
* ``NAME.gradient.npy``   torch autograd: d logit[target] / d input, target = argmax;
* ``manifest.json``       target class per case.

The Swift tests (``OpFixtureTests``) compare clrp's forward pass with the logits and its
``gradient`` preset with the autograd gradient, so the forward kernels, the importer (ONNX
attribute defaults), the fusion passes (SiLU, GELU) and each op's derivative are checked
against independent implementations.

Usage:  python3 Graphs/op_fixtures.py [NAME ...]   (only the cases named; the others stay)
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "ops"


class ActivationNet(nn.Module):
    """Conv → act → Conv → act → GAP → Linear: the activation on signed pre-activations."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 6, 3, padding=1)
        self.act = act
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.act(self.c2(self.act(self.c1(x))))
        return self.fc(x.mean((2, 3)))


class PReLUChannels(ActivationNet):
    """ActivationNet with a per-channel PReLU (slope [6, 1, 1] in ONNX) after each conv."""

    def __init__(self):
        super().__init__(nn.PReLU(6))


class PReLUDistinctChannels(ActivationNet):
    """ActivationNet with a per-channel PReLU whose 6 slopes differ (seeded, in [-0.5, 1.5))."""

    def __init__(self):
        super().__init__(nn.PReLU(6))
        with torch.no_grad():
            self.act.weight.copy_(torch.rand(6) * 2 - 0.5)


class SqueezeExcitation(nn.Module):
    """MobileNetV3/EfficientNet's SE block: x · gate(x), gate [1, C, 1, 1] from a bounded activation."""

    def __init__(self, gate: nn.Module):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1 = nn.Conv2d(8, 4, 1)
        self.fc2 = nn.Conv2d(4, 8, 1)
        self.gate = gate
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        s = self.gate(self.fc2(torch.relu(self.fc1(nn.functional.adaptive_avg_pool2d(x, 1)))))
        x = x * s
        return self.fc(x.mean((2, 3)))


class SignedResidual(nn.Module):
    """A linear bottleneck: the residual Add of two signed activations (no ReLU after it)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 6, 1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        a = self.c1(x)
        b = self.c2(torch.relu(a))
        return self.fc((a + b).mean((2, 3)))


class GlobalMaxPooling(nn.Module):
    """Adaptive max pooling to 1×1 (GlobalMaxPool) and amax over the plane (ReduceMax)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        x = self.c1(x)
        a = nn.functional.adaptive_max_pool2d(x, 1).flatten(1)
        b = x.amax(dim=(2, 3))
        return self.fc(torch.cat([a, b], 1))


class Upsampling(nn.Module):
    """Resize as torch writes it: nearest ×2 (asymmetric, floor), bilinear ×2 (half_pixel) and
    bilinear to a size with align_corners, each followed by a conv so that positions matter."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(12, 4, 3, padding=1, stride=2)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        f = nn.functional.interpolate
        up = torch.cat([f(x, scale_factor=2, mode="nearest"), f(x, scale_factor=2, mode="bilinear"),
                        f(x, size=(16, 16), mode="bilinear", align_corners=True)], 1)
        return self.fc(self.c2(up).mean((2, 3)))


class LegacyUpsampling(nn.Module):
    """nn.Upsample(scale_factor=2, nearest) as the legacy exporter writes it before opset 11:
    Upsample with the scales as an attribute (opset 7) or a Constant input (opset 9), and
    Resize-10 (no coordinate_transformation_mode: asymmetric coordinates)."""

    def __init__(self, mode: str = "nearest"):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode=mode)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1, stride=2)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.c2(self.up(torch.relu(self.c1(x)))).mean((2, 3)))


class AsymmetricLinearUpsampling(LegacyUpsampling):
    """The reference for LegacyUpsampling("bilinear") as onnxruntime runs its export before
    opset 11 (Upsample/Resize-10 linear: asymmetric coordinates, x_original = x / 2, clamped),
    which torch's own bilinear (half_pixel) is not: out[2i] = in[i], out[2i+1] = (in[i] +
    in[min(i + 1, n − 1)]) / 2 along H and W. Same parameters; gives the autograd gradient."""

    def __init__(self):
        super().__init__("bilinear")

    def forward(self, x):
        return self.fc(self.c2(self.upsample(torch.relu(self.c1(x)))).mean((2, 3)))

    @staticmethod
    def upsample(x):
        def along(x, d):
            n = x.size(d)
            following = torch.cat([x.narrow(d, 1, n - 1), x.narrow(d, n - 1, 1)], d)
            return torch.stack([x, (x + following) / 2], d + 1).flatten(d, d + 1)
        return along(along(x, 2), 3)


class MinMaxClip(nn.Module):
    """ReLU6 and a lower clip written with torch.maximum/minimum against scalars (Max, Min)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.c1(x)
        x = torch.minimum(torch.maximum(x, torch.tensor(0.0)), torch.tensor(1.5)) + torch.maximum(torch.tensor(-0.5), x)
        return self.fc(x.mean((2, 3)))


class ElementwiseMaxMin(nn.Module):
    """Max and Min of two activations (torch.maximum/minimum, the second broadcast along the
    channels), ReduceMax over the channels and ReduceMin over the width (amax/amin): the ops
    added through clrp's op registry."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.c2 = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(48, 4)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = self.c2(x)
        m = torch.maximum(a, b)
        n = torch.minimum(m, b.amax(dim=1, keepdim=True))
        return self.fc(n.amin(dim=3).flatten(1))


class TransposedConvolutions(nn.Module):
    """ConvTranspose: stride 2 with padding and output_padding, and a grouped dilated one."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(4, 6, 2, stride=1, padding=1, dilation=2, groups=2)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.up2(torch.relu(self.up1(x))).mean((2, 3)))


class ConvNeXtBlock(nn.Module):
    """torchvision's ConvNeXt pieces: a patchify stem with LayerNorm2d (permute → LayerNorm →
    permute), one CNBlock (depthwise 7×7, LayerNorm on NHWC, Linear → GELU → Linear as MatMul
    on the last axis, layer scale, residual Add) and the head's LayerNorm2d."""

    def __init__(self):
        super().__init__()
        from torchvision.models.convnext import CNBlock, LayerNorm2d
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 2, 2), LayerNorm2d(8))
        self.block = CNBlock(8, 1.0, 0.0)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), LayerNorm2d(8), nn.Flatten(1), nn.Linear(8, 4))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


class LocalResponseNorms(nn.Module):
    """AlexNet's conv → ReLU → LocalResponseNorm(5, 1e-4, 0.75, 2) twice, then a dense head; the
    second LRN strong (size 3, alpha 1, beta 0.6, k 1) so that the normalizer matters. torch
    exports LocalResponseNorm decomposed (Mul → Reshape → Pad → AveragePool → Squeeze, behind an
    If in the legacy exporter → Mul → Add → Pow → Div); clrp imports it as ONNX LRN."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.n1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        self.c2 = nn.Conv2d(8, 6, 3, padding=1)
        self.n2 = nn.LocalResponseNorm(3, alpha=1.0, beta=0.6, k=1.0)
        self.fc = nn.Linear(6 * 4 * 4, 4)

    def forward(self, x):
        x = self.n1(torch.relu(self.c1(x)))
        x = nn.functional.max_pool2d(self.n2(torch.relu(self.c2(x))), 2)
        return self.fc(x.flatten(1))


CASES = {
    "sigmoid": (lambda: ActivationNet(nn.Sigmoid()), 17),
    "hardsigmoid": (lambda: ActivationNet(nn.Hardsigmoid()), 17),
    "hardswish": (lambda: ActivationNet(nn.Hardswish()), 17),
    "tanh": (lambda: ActivationNet(nn.Tanh()), 17),
    "silu": (lambda: ActivationNet(nn.SiLU()), 17),
    "gelu_erf": (lambda: ActivationNet(nn.GELU()), 17),
    "gelu_opset20": (lambda: ActivationNet(nn.GELU()), 20),
    "gelu_tanh_opset20": (lambda: ActivationNet(nn.GELU(approximate="tanh")), 20),
    # GELU(tanh) decomposed into Mul/Add/Tanh (legacy exporter, x·x·x) and with Pow (dynamo).
    "gelu_tanh": (lambda: ActivationNet(nn.GELU(approximate="tanh")), 17),
    "gelu_tanh_dynamo": (lambda: ActivationNet(nn.GELU(approximate="tanh")), 18),
    # PRelu: one slope ([1]), one per channel ([C, 1, 1]) all equal (torch's init 0.25: a
    # LeakyRelu), and distinct per channel (the PRelu op).
    "prelu": (lambda: ActivationNet(nn.PReLU()), 17),
    "prelu_channels": (lambda: PReLUChannels(), 17),
    "prelu_distinct_channels": (lambda: PReLUDistinctChannels(), 17),
    "se_sigmoid": (lambda: SqueezeExcitation(nn.Sigmoid()), 17),
    "se_hardsigmoid": (lambda: SqueezeExcitation(nn.Hardsigmoid()), 17),
    "signed_residual": (lambda: SignedResidual(), 17),
    "global_max_pooling": (lambda: GlobalMaxPooling(), 17),
    "resize": (lambda: Upsampling(), 17),
    "upsample_opset7": (lambda: LegacyUpsampling(), 7),
    "upsample_opset9": (lambda: LegacyUpsampling(), 9),
    "upsample_opset10": (lambda: LegacyUpsampling(), 10),  # Resize-10: asymmetric, floor
    # Linear: the gradient comes from AsymmetricLinearUpsampling with the same weights.
    "upsample_linear_opset9": (lambda: LegacyUpsampling("bilinear"), 9, AsymmetricLinearUpsampling),
    "upsample_linear_opset10": (lambda: LegacyUpsampling("bilinear"), 10, AsymmetricLinearUpsampling),
    "min_max_clip": (lambda: MinMaxClip(), 17),
    "max_min_activations": (lambda: ElementwiseMaxMin(), 17),
    # Opset 18: the reductions' axes are an input.
    "max_min_activations_opset18": (lambda: ElementwiseMaxMin(), 18),
    "conv_transpose": (lambda: TransposedConvolutions(), 17),
    "convnext_block": (lambda: ConvNeXtBlock(), 17),
    # torch's dynamo exporter: Gelu, LayerNormalization, and as_strided as Reshape → Gather.
    "convnext_block_dynamo": (lambda: ConvNeXtBlock(), 20),
    # LocalResponseNorm, decomposed by both exporters (legacy: pads computed, an If on a shape).
    "lrn": (lambda: LocalResponseNorms(), 17),
    "lrn_dynamo": (lambda: LocalResponseNorms(), 20),
}


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    only = sys.argv[1:]
    unknown = [n for n in only if n not in CASES]
    if unknown:
        sys.exit(f"unknown cases {unknown}; known: {sorted(CASES)}")
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if only and manifest_path.exists() else {}
    for name, (build, opset, *reference) in CASES.items():
        if only and name not in only:
            continue
        seed = zlib.crc32(name.removesuffix("_dynamo").encode())
        torch.manual_seed(seed)
        model = build().eval()
        for p in model.parameters():  # larger weights: activations reach their saturations
            p.data.mul_(2.0)
        x = torch.from_numpy(np.random.default_rng(seed).normal(0, 1.5, (1, 3, 8, 8)).astype(np.float32))
        path = OUT / f"{name}.onnx"
        if name.endswith("_dynamo"):
            torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=True, external_data=False,
                              input_names=["input"], output_names=["logits"])
        else:
            # torch cannot write opset 7's Upsample (scales attribute): export at 9 and let
            # ONNX's version converter move the scales into the attribute.
            torch.onnx.export(model, (x,), str(path), opset_version=max(opset, 9), dynamo=False,
                              input_names=["input"], output_names=["logits"])
            if opset < 9:
                import onnx
                from onnx import version_converter
                onnx.save(version_converter.convert_version(onnx.load(str(path)), opset), str(path))
        logits = session(path).run(None, {"input": x.numpy()})[0]
        if reference:  # the function onnxruntime computes, where torch's module differs
            exported = model
            model = reference[0]().eval()
            model.load_state_dict(exported.state_dict())
            assert np.abs(model(x).detach().numpy() - logits).max() <= 1e-4 * np.abs(logits).max(), name
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        target = int(out[0].argmax())
        out[0, target].backward()
        np.save(OUT / f"{name}.input.npy", x.numpy())
        np.save(OUT / f"{name}.logits.npy", logits.astype(np.float32))
        np.save(OUT / f"{name}.gradient.npy", xg.grad.numpy().astype(np.float32))
        torch_logits = out.detach().numpy()
        manifest[name] = {"opset": opset, "target": target,
                          "torch_vs_onnxruntime": float(np.abs(torch_logits - logits).max())}
        print(f"{name}: opset {opset}, target {target}, ops",
              sorted({n.op_type for n in __import__('onnx').load(str(path)).graph.node}))
    manifest = {name: manifest[name] for name in CASES if name in manifest}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()

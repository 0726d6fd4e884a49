#!/usr/bin/env python3
"""Full-size models for the forward benchmarks of modern nets (Docs/PERFORMANCE.md, "Modern nets").

Writes to Graphs/build/ (git-ignored), input 1x3x224x224, seeded random weights calibrated with
export_torchvision.calibrate(), legacy exporter with constant folding (BatchNorm folded into the
convolutions), verified against torch with onnxruntime:

* resnet50.onnx, mobilenet_v2.onnx: torchvision's architectures as they are.
* mobilenet_v3_large_convs.onnx, efficientnet_b0_convs.onnx: the same networks with every
  convolution of the original (same shapes, strides, groups, pads) but the ops clrp does not
  have yet replaced: Hardswish/SiLU/Hardsigmoid by ReLU, squeeze-and-excitation blocks by the
  identity. They time the convolutions of these nets before their ops exist; they are not the
  real models and their logits mean nothing.

Run: python3 Graphs/export_bench_models.py [--only NAME ...]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn as nn
import torchvision
from torchvision.ops.misc import SqueezeExcitation

from export_torchvision import ROOT, export_one


def convs_only(model: nn.Module) -> nn.Module:
    """`model` with its activations replaced by ReLU and its squeeze-and-excitation gates by the identity."""
    for name, child in model.named_children():
        if isinstance(child, SqueezeExcitation):
            setattr(model, name, nn.Identity())
        elif isinstance(child, (nn.Hardswish, nn.SiLU, nn.Hardsigmoid)):
            setattr(model, name, nn.ReLU())
        else:
            convs_only(child)
    return model


SHAPE = (1, 3, 224, 224)
MODELS = {
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 5001),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), 5002),
    "mobilenet_v3_large_convs": (lambda: convs_only(torchvision.models.mobilenet_v3_large(weights=None)), 5003),
    "efficientnet_b0_convs": (lambda: convs_only(torchvision.models.efficientnet_b0(weights=None)), 5004),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="restrict to these model names")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, (build, seed) in MODELS.items():
        if args.only is None or name in args.only:
            export_one(name, build, SHAPE, ROOT / "Graphs" / "build", fold=True, seed=seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

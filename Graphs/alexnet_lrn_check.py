#!/usr/bin/env python3
"""Real-size check of torch's decomposed LocalResponseNorm: torchvision's AlexNet with
nn.LocalResponseNorm(5, 1e-4, 0.75, 2) after its first two ReLUs (as in Krizhevsky et al. and
the Caffe model the paper uses), seeded random weights, exported by both exporters (the legacy
one with a dynamic batch axis) into Graphs/build/, with onnxruntime's logits on a seeded input.

Then compare clrp with:
  clrp classify Graphs/build/alexnet_lrn_legacy.onnx Graphs/build/alexnet_lrn.input.npy --output /tmp/l.npy
  clrp verify Graphs/build/alexnet_lrn_legacy.onnx --rules paper --input Graphs/build/alexnet_lrn.input.npy
(the script prints the commands and, given --compare CLRP, runs classify and reports the error).

Usage:  python3 Graphs/alexnet_lrn_check.py [--compare .build/release/clrp]
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from torch import nn

BUILD = Path(__file__).resolve().parent / "build"


def alexnet_with_lrn() -> nn.Module:
    torch.manual_seed(2018)
    model = torchvision.models.alexnet(weights=None)
    layers = list(model.features)
    # features: Conv, ReLU, MaxPool, Conv, ReLU, MaxPool, ...: LRN after each of the first two ReLUs.
    layers.insert(2, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
    layers.insert(6, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
    model.features = nn.Sequential(*layers)
    # AdaptiveAvgPool2d((6, 6)) on 224×224's 6×6 maps is the identity; the legacy exporter
    # cannot write it with a dynamic batch once the LRN decomposition has hidden the shapes.
    model.avgpool = nn.Identity()
    return model.eval()


def main() -> None:
    BUILD.mkdir(exist_ok=True)
    model = alexnet_with_lrn()
    x = torch.from_numpy(np.random.default_rng(2018).normal(0, 1, (1, 3, 224, 224)).astype(np.float32))
    np.save(BUILD / "alexnet_lrn.input.npy", x.numpy()[0])
    with torch.no_grad():
        reference = model(x).numpy()[0]
    paths = {"legacy": BUILD / "alexnet_lrn_legacy.onnx", "dynamo": BUILD / "alexnet_lrn_dynamo.onnx"}
    torch.onnx.export(model, (x,), str(paths["legacy"]), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    torch.onnx.export(model, (x,), str(paths["dynamo"]), opset_version=20, dynamo=True, external_data=False,
                      input_names=["input"], output_names=["logits"])
    clrp = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
    for name, path in paths.items():
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        logits = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0][0]
        np.save(BUILD / f"alexnet_lrn_{name}.logits.npy", logits)
        print(f"{name}: onnxruntime vs torch max |diff| {np.abs(logits - reference).max():.3g}, max |logit| {np.abs(logits).max():.3g}")
        if clrp:
            out = BUILD / f"alexnet_lrn_{name}.clrp.npy"
            subprocess.run([clrp, "classify", str(path), str(BUILD / "alexnet_lrn.input.npy"), "--output", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            ours = np.load(out).reshape(-1)
            error = np.abs(ours - logits).max()
            print(f"{name}: clrp vs onnxruntime max |diff| {error:.3g} = {error / np.abs(logits).max():.3g} · max |logit|,"
                  f" top-5 {np.argsort(-ours)[:5].tolist()} vs {np.argsort(-logits)[:5].tolist()}")


if __name__ == "__main__":
    main()

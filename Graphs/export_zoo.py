#!/usr/bin/env python3
"""Export the modern-CNN zoo of issue 9 to ONNX: full-size torchvision models, seeded random weights.

Models: resnet50, densenet121, mobilenet_v3_large, efficientnet_b0, squeezenet1_1, inception_v3
(299x299, aux_logits=False, transform_input=False, init_weights=True), regnet_y_400mf,
convnext_tiny; all `weights=None` (nothing is downloaded), built after `torch.manual_seed`, then
made numerically healthy by `calibrate()` from export_torchvision.py (LSUV-style unit variance,
seeded non-trivial BatchNorm, class-balanced classifier). ConvNeXt's layer scale (init 1e-6,
which would make every block an identity) is first set to seeded U[0.1, 0.5] values, so the
blocks matter to the logits.

Each model is written by both exporters torch has:

* ``legacy``: TorchScript exporter (``dynamo=False``), the lowest opset that has the model's ops
  (13; 14 for HardSwish in MobileNetV3; 17 for LayerNormalization in ConvNeXt), constant folding
  on (BatchNorm folded into the convs), dynamic batch axis;
* ``dynamo``: ``torch.onnx.export(dynamo=True)`` (opset 18), dynamic batch axis (batch 1 where
  torch.export cannot trace a symbolic batch: ConvNeXt), one file.

Output in Graphs/build/zoo/ (git-ignored): ``<model>_<exporter>.onnx``, the seeded input
``<model>_<exporter>.input.npy`` (N(0,1), batch 1, seed from the model name, the same for both
exporters) and onnxruntime's logits ``<model>_<exporter>.logits.npy`` (CPU, graph optimizations
off, 1 thread), and ``manifest.json`` (per export: file, exporter, opset, input shape, op-type
histogram, onnxruntime-vs-torch max |diff|, logit std and argmax). A failed export is recorded
in the manifest with its error and the script goes on.

`SURVEY` lists further torchvision families (alexnet, vgg11_bn, googlenet, resnext50_32x4d,
mobilenet_v2, mnasnet1_0, shufflenet_v2_x1_0, efficientnet_v2_s, regnet_x_400mf), exported only
when named with --only; Graphs/check_zoo.py checks whatever the manifest holds.

Run: python3 Graphs/export_zoo.py [--only resnet50 convnext_tiny] [--exporter legacy|dynamo]
Takes about 15 minutes on 2 cores and writes about 1 GB.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import traceback
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision

from export_torchvision import CALIB_BATCH, calibrate

ROOT = Path(__file__).resolve().parent.parent
ZOO_DIR = ROOT / "Graphs" / "build" / "zoo"

torch.set_num_threads(1)


def convnext_tiny() -> torch.nn.Module:
    model = torchvision.models.convnext_tiny(weights=None)
    gen = torch.Generator().manual_seed(77)
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, torchvision.models.convnext.CNBlock):
                block.layer_scale.copy_(torch.empty_like(block.layer_scale).uniform_(0.1, 0.5, generator=gen))
    return model


class CalibrationHandle(torch.nn.Module):
    """SqueezeNet ends in a 1x1 conv, not a Linear, and calibrate() needs a last Linear: this
    wrapper gives it one that the forward pass never calls, so every conv, the classifier conv
    included, is rescaled to unit output variance and nothing else changes."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net
        self.unused = torch.nn.Linear(1, 1)

    def forward(self, x):
        return self.net(x)


# name -> (builder, input side, legacy opset)
ZOO = {
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 224, 13),
    "densenet121": (lambda: torchvision.models.densenet121(weights=None), 224, 13),
    "mobilenet_v3_large": (lambda: torchvision.models.mobilenet_v3_large(weights=None), 224, 14),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), 224, 13),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(weights=None), 224, 13),
    "inception_v3": (lambda: torchvision.models.inception_v3(
        weights=None, aux_logits=False, transform_input=False, init_weights=True), 299, 13),
    "regnet_y_400mf": (lambda: torchvision.models.regnet_y_400mf(weights=None), 224, 13),
    "convnext_tiny": (convnext_tiny, 224, 17),
}
# Beyond issue 9's list: the rest of torchvision's classification families (grouped convs,
# channel shuffle, ReLU6 inverted residuals, Fused-MBConv, the classic nets the paper used), to
# find what real exports of other architectures need. Export with --only (not by default).
SURVEY = {
    "alexnet": (lambda: torchvision.models.alexnet(weights=None), 224, 13),
    "vgg11_bn": (lambda: torchvision.models.vgg11_bn(weights=None), 224, 13),
    "googlenet": (lambda: torchvision.models.googlenet(
        weights=None, aux_logits=False, transform_input=False, init_weights=True), 224, 13),
    "resnext50_32x4d": (lambda: torchvision.models.resnext50_32x4d(weights=None), 224, 13),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), 224, 13),
    "mnasnet1_0": (lambda: torchvision.models.mnasnet1_0(weights=None), 224, 13),
    "shufflenet_v2_x1_0": (lambda: torchvision.models.shufflenet_v2_x1_0(weights=None), 224, 13),
    "efficientnet_v2_s": (lambda: torchvision.models.efficientnet_v2_s(weights=None), 224, 13),
    "regnet_x_400mf": (lambda: torchvision.models.regnet_x_400mf(weights=None), 224, 13),
}
DYNAMO_OPSET = 18


def op_histogram(path: Path) -> dict:
    proto = onnx.load(str(path))
    return dict(sorted(collections.Counter(n.op_type for n in proto.graph.node).items()))


def export_legacy(model, x, path: Path, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)


def export_dynamo(model, x, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=DYNAMO_OPSET,
                              input_names=["input"], output_names=["logits"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False)
        except Exception:  # torch.export cannot trace ConvNeXt's Linear-on-NHWC with a symbolic batch
            print(f"{path.name}: dynamo export with a dynamic batch failed; exporting batch 1", flush=True)
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=DYNAMO_OPSET,
                              input_names=["input"], output_names=["logits"], external_data=False)


def onnxruntime_logits(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def export_model(name: str, exporters: list[str]) -> list[dict]:
    build, side, opset = {**ZOO, **SURVEY}[name]
    seed = zlib.crc32(name.encode()) % 100_000
    torch.manual_seed(seed)
    model = build().eval()
    has_linear = any(isinstance(m, torch.nn.Linear) for m in model.modules())
    calibrate(model if has_linear else CalibrationHandle(model), (CALIB_BATCH, 3, side, side), seed + 1)
    x = np.random.default_rng(seed).standard_normal((1, 3, side, side)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    entries = []
    for exporter in exporters:
        stem = f"{name}_{exporter}"
        path = ZOO_DIR / f"{stem}.onnx"
        entry = dict(model=name, exporter=exporter, file=path.name, input_file=f"{stem}.input.npy",
                     logits_file=f"{stem}.logits.npy", input_shape=list(x.shape),
                     opset=opset if exporter == "legacy" else DYNAMO_OPSET)
        started = time.time()
        try:
            if exporter == "legacy":
                export_legacy(model, torch.from_numpy(x), path, opset)
            else:
                export_dynamo(model, torch.from_numpy(x), path)
            onnx.checker.check_model(str(path))
            logits = onnxruntime_logits(path, x)
            diff = float(np.abs(logits - expected).max())
            assert diff <= 1e-3 * max(1.0, float(np.abs(expected).max())), f"onnxruntime != torch ({diff})"
            np.save(ZOO_DIR / entry["input_file"], x)
            np.save(ZOO_DIR / entry["logits_file"], logits.astype(np.float32))
            entry.update(ops=op_histogram(path), size_bytes=path.stat().st_size, ort_vs_torch=diff,
                         logit_std=float(logits.std()), argmax=int(logits.argmax()))
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, ORT-vs-torch {diff:.1e}, "
                  f"logit std {logits.std():.3f}, argmax {int(logits.argmax())}, "
                  f"{time.time() - started:.0f} s\n    ops: {entry['ops']}", flush=True)
        except Exception as error:  # record and go on with the next export
            entry["error"] = f"{type(error).__name__}: {error}"[:2000]
            traceback.print_exc()
            print(f"{path.name}: FAILED {entry['error'][:300]}", flush=True)
        entries.append(entry)
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=list(ZOO), choices=list(ZOO) + list(SURVEY),
                        help="models to export (default: the issue 9 zoo; SURVEY's models only when named)")
    parser.add_argument("--exporter", choices=["legacy", "dynamo"], nargs="*", default=["legacy", "dynamo"])
    args = parser.parse_args()
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    manifest_path = ZOO_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}", flush=True)
    for name in args.only:
        for entry in export_model(name, args.exporter):
            manifest[f"{entry['model']}_{entry['exporter']}"] = entry
            manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    failed = [key for key, entry in manifest.items() if "error" in entry]
    print(f"{len(manifest)} exports in {manifest_path.relative_to(ROOT)}, failed: {failed or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

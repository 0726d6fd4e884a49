#!/usr/bin/env python3
"""Export Keras applications through tf2onnx: full-size models, seeded random weights, no downloads.

Runs in a TensorFlow venv OUTSIDE the repository (the system python keeps its own onnx/torch):

    python3 -m venv /work/tfenv
    /work/tfenv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnxruntime numpy
    /work/tfenv/bin/python Graphs/export_keras.py [--only MobileNetV2 ResNet50] [--opsets 13 17]

(measured with tensorflow-cpu 2.15.1, keras 2.15.0, tf2onnx 1.16.1, onnx 1.17.0, onnxruntime 1.26.0).

Models: `tf.keras.applications` MobileNetV2, ResNet50, EfficientNetB0, DenseNet121, InceptionV3 (299),
Xception (299), VGG16, MobileNetV3Small, ConvNeXtTiny, all `weights=None` (nothing is downloaded),
`classifier_activation=None` (pre-softmax logits), built after `tf.keras.utils.set_random_seed`.
Keras initializes BatchNorm to the identity (gamma 1, beta 0, mean 0, var 1); `calibrate()` makes it
non-trivial and the activations healthy: seeded gamma = +-U[0.5, 1.5] (about 10 % negative),
beta = 0.2 N(0, 1), then every BatchNorm's moving mean and variance are set to its batch statistics
on a seeded calibration batch (momentum 0, one training-mode call); the classifier bias is set so
that the logits are class-balanced on that batch. ConvNeXt's layer scale (1e-6) is set to seeded
U[0.1, 0.5]. VGG16 (no BatchNorm) keeps Keras' Glorot initialization apart from the balanced head.

Input: a seeded random image, pixels U[0, 255] smoothed over 8x8 blocks plus noise, NHWC float32,
batch 1, passed through the family's own `preprocess_input` (identity for the models whose
preprocessing is inside the graph: EfficientNet, MobileNetV3 and ConvNeXt start with Rescaling /
Normalization layers). `<model>.preprocess.yaml` is clrp's description of the same mapping (per
channel bounds for z^B; caffe-mode BGR order is kept as a per-channel mean, the channel flip does
not change the bounds).

Each model is converted with `tf2onnx.convert.from_keras` at every opset of --opsets (default 13
and 17), input signature [None, H, W, 3] (dynamic batch), into Graphs/build/keras/ (git-ignored):
`<model>_opset<N>.onnx`, `<model>.input.npy`, `<model>_opset<N>.logits.npy` (onnxruntime, CPU,
graph optimizations off, 1 thread) and `manifest.json` (per export: file, opset, input shape, op-type
histogram, onnxruntime-vs-Keras max |diff|, logit std, argmax, preprocessing). A failed export is
recorded with its error and the script goes on. Graphs/check_zoo.py --keras checks them with clrp.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import time
import traceback
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Graphs" / "build" / "keras"
apps = tf.keras.applications

# name -> (constructor, preprocess_input, input side, preprocessing for clrp (mean, std, range))
CAFFE = dict(mean=[103.939, 116.779, 123.68], std=[1, 1, 1], range=[0, 255])
TORCH = dict(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], range=[0, 1])
TF_MODE = dict(mean=[1, 1, 1], std=[1, 1, 1], range=[0, 2])          # x = p / 127.5 - 1
PIXELS = dict(mean=[0, 0, 0], std=[1, 1, 1], range=[0, 255])          # preprocessing in the graph
MODELS = {
    "MobileNetV2": (apps.MobileNetV2, apps.mobilenet_v2.preprocess_input, 224, TF_MODE),
    "ResNet50": (apps.ResNet50, apps.resnet50.preprocess_input, 224, CAFFE),
    "EfficientNetB0": (apps.EfficientNetB0, apps.efficientnet.preprocess_input, 224, PIXELS),
    "DenseNet121": (apps.DenseNet121, apps.densenet.preprocess_input, 224, TORCH),
    "InceptionV3": (apps.InceptionV3, apps.inception_v3.preprocess_input, 299, TF_MODE),
    "Xception": (apps.Xception, apps.xception.preprocess_input, 299, TF_MODE),
    "VGG16": (apps.VGG16, apps.vgg16.preprocess_input, 224, CAFFE),
    "MobileNetV3Small": (apps.MobileNetV3Small, apps.mobilenet_v3.preprocess_input, 224, PIXELS),
    "ConvNeXtTiny": (apps.ConvNeXtTiny, apps.convnext.preprocess_input, 224, PIXELS),
}


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) % 100_000


def image(side: int, rng: np.random.Generator, batch: int = 1) -> np.ndarray:
    """Pixels in [0, 255]: 8x8 blocks of random colour plus noise, NHWC float32."""
    blocks = rng.uniform(0, 255, (batch, (side + 7) // 8, (side + 7) // 8, 3))
    smooth = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :side, :side]
    return np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.float32)


def calibrate(model: tf.keras.Model, batch: np.ndarray, seed: int) -> None:
    """Non-trivial BatchNorm, moving statistics from one calibration batch, balanced logits."""
    rng = np.random.default_rng(seed)
    norms = [l for l in model.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
    for layer in norms:
        n = layer.gamma.shape[0] if layer.gamma is not None else layer.moving_mean.shape[0]
        if layer.gamma is not None:
            sign = np.where(rng.uniform(size=n) < 0.1, -1.0, 1.0)
            layer.gamma.assign((sign * rng.uniform(0.5, 1.5, n)).astype(np.float32))
        if layer.beta is not None:
            layer.beta.assign((0.2 * rng.standard_normal(n)).astype(np.float32))
        layer.momentum = 0.0
    for layer in model.layers:  # ConvNeXt's LayerScale (1e-6 at initialization)
        if type(layer).__name__ == "LayerScale":
            layer.gamma.assign(rng.uniform(0.1, 0.5, layer.gamma.shape).astype(np.float32))
    if norms:
        model(batch, training=True)  # moving statistics := this batch's statistics, layer by layer
    head = model.layers[-1]
    if isinstance(head, tf.keras.layers.Dense):
        logits = model(batch, training=False).numpy()
        head.bias.assign((head.bias.numpy() - logits.mean(axis=0) + 0.1 * rng.standard_normal(logits.shape[1]))
                         .astype(np.float32))


@contextlib.contextmanager
def traceable_grouped_convolutions():
    """Keras 2.15 runs a grouped Conv2D (ConvNeXt's depthwise 7x7: groups = channels) through an
    XLA-compiled tf.function, which tf2onnx 1.16.1 cannot inline ("No Op registered for
    PartitionedCall"). While converting, the plain tf.nn.convolution is traced instead: the same
    operation, which tf2onnx writes as a Conv with `group`. (TensorFlow's CPU kernels cannot run a
    grouped convolution outside XLA, so Keras' own reference logits are computed before this.)"""
    from keras.src.layers.convolutional import base_conv
    compiled = base_conv.Conv._jit_compiled_convolution_op
    base_conv.Conv._jit_compiled_convolution_op = lambda self, inputs, kernel: self.convolution_op(inputs, kernel)
    try:
        yield
    finally:
        base_conv.Conv._jit_compiled_convolution_op = compiled


def op_histogram(path: Path) -> dict:
    proto = onnx.load(str(path))
    return dict(sorted(collections.Counter(n.op_type for n in proto.graph.node).items()))


def onnxruntime_logits(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def preprocess_yaml(name: str, spec: dict) -> str:
    fmt = lambda v: "[" + ", ".join(f"{x:g}" for x in v) + "]"
    return (f"name: keras-{name}\nmean: {fmt(spec['mean'])}\nstd: {fmt(spec['std'])}\nrange: {fmt(spec['range'])}\n"
            f"layout: NHWC\nsize: input\n")


def export_model(name: str, opsets: list[int]) -> list[dict]:
    build, preprocess, side, spec = MODELS[name]
    seed = seed_of(name)
    tf.keras.utils.set_random_seed(seed)
    model = build(weights=None, input_shape=(side, side, 3), classifier_activation=None)
    rng = np.random.default_rng(seed)
    calibrate(model, preprocess(image(side, rng, batch=8)), seed + 1)
    x = preprocess(image(side, rng))
    expected = model(x, training=False).numpy()
    np.save(OUT / f"{name}.input.npy", x)
    (OUT / f"{name}.preprocess.yaml").write_text(preprocess_yaml(name, spec))
    entries = []
    for opset in opsets:
        stem = f"{name}_opset{opset}"
        path = OUT / f"{stem}.onnx"
        entry = dict(model=name, exporter=f"tf2onnx-{opset}", opset=opset, file=path.name,
                     input_file=f"{name}.input.npy", logits_file=f"{stem}.logits.npy",
                     preprocess_file=f"{name}.preprocess.yaml", input_shape=list(x.shape))
        started = time.time()
        try:
            signature = (tf.TensorSpec((None, side, side, 3), tf.float32, name="input"),)
            with traceable_grouped_convolutions():
                tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(path))
            onnx.checker.check_model(str(path))
            logits = onnxruntime_logits(path, x)
            diff = float(np.abs(logits - expected).max())
            assert diff <= 1e-3 * max(1.0, float(np.abs(expected).max())), f"onnxruntime != keras ({diff})"
            np.save(OUT / entry["logits_file"], logits.astype(np.float32))
            entry.update(ops=op_histogram(path), nodes=len(onnx.load(str(path)).graph.node),
                         size_bytes=path.stat().st_size, ort_vs_keras=diff,
                         logit_std=float(logits.std()), argmax=int(logits.argmax()))
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, ORT-vs-Keras {diff:.1e}, "
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
    parser.add_argument("--only", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--opsets", nargs="*", type=int, default=[13, 17])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    print(f"tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}", flush=True)
    for name in args.only:
        for entry in export_model(name, args.opsets):
            manifest[f"{entry['model']}_opset{entry['opset']}"] = entry
            manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
        tf.keras.backend.clear_session()
    failed = [key for key, entry in manifest.items() if "error" in entry]
    print(f"{len(manifest)} exports in {manifest_path.relative_to(ROOT)}, failed: {failed or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

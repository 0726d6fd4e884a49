#!/usr/bin/env python3
"""Small Keras models exported by tf2onnx, committed in Tests/Fixtures/keras/ (CI has no TensorFlow).

Runs in the TensorFlow venv of Graphs/export_keras.py (see its header):

    /work/tfenv/bin/python Graphs/keras_blocks.py

Each fixture is a few Keras layers in the forms the full-size Keras applications take through
tf2onnx 1.16.1 (Graphs/export_keras.py, Docs/ZOO.md "Keras applications through tf2onnx"), seeded,
with BatchNorm made non-trivial as there, exported at opsets 13 and 17 with a dynamic batch:

  pads_and_normalization   NHWC input in pixels [0, 255]; Keras' Rescaling(1/255) and Normalization
                           layers (Mul, Sub, Mul by [3] constants on NHWC: before tf2onnx's Transpose to
                           NCHW); ZeroPadding2D + Conv 3x3/2 'valid' (MobileNetV2's and EfficientNet's
                           strided convs), BatchNorm, ReLU6; ZeroPadding2D + DepthwiseConv2D 3x3/2 with
                           depth_multiplier 2; BatchNorm, ReLU; ZeroPadding2D + MaxPool 3x3/2 (DenseNet's
                           and ResNet's pool1); Conv 1x1; GlobalAveragePooling2D; Dense (logits).
                           tf2onnx keeps the ZeroPadding2D layers as Pad nodes.
  mobilenet_v3_block       Keras' own MobileNetV3 pieces (keras.src.applications.mobilenet_v3): stem Conv 3x3/2 +
                           BatchNorm + hard_swish (`x * relu6(x + 3) / 6`: Add, Clip, Mul, Mul), an inverted
                           residual block with stride 2 (ZeroPadding2D, which tf2onnx leaves on the NHWC side of
                           its Transpose), squeeze-and-excitation (GlobalAveragePooling2D(keepdims=True): ReduceMean
                           over axes 1, 2 of NHWC; hard_sigmoid gate), then one with stride 1 and a residual Add;
                           GlobalAveragePooling2D; Dense.
  softmax_head             a conv net with Keras' default classifier_activation='softmax' (the Dense
                           layer's activation, exported as Softmax after MatMul + Add) and the same net
                           without it: clrp must explain the pre-softmax logits of the first.

Files in Tests/Fixtures/keras/<fixture>/: opset13.onnx, opset17.onnx, input.npy (NHWC float32,
batch 1), logits.opset<N>.npy (onnxruntime, CPU, graph optimizations off); softmax_head also has
presoftmax.opset<N>.onnx and its logits (the logits clrp must give for the softmax model); and
Tests/Fixtures/keras/manifest.json with, for pads_and_normalization, the z^B bounds the first conv
must get: Keras' own Rescaling + Normalization applied to pixels 0 and 255 per channel.
"""
from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "keras"
OPSETS = [13, 17]
layers = tf.keras.layers


def randomize_batchnorm(model: tf.keras.Model, batch: np.ndarray, seed: int) -> None:
    """As export_keras.calibrate: seeded gamma (some negative) and beta, batch moving statistics."""
    rng = np.random.default_rng(seed)
    norms = [l for l in model.layers if isinstance(l, layers.BatchNormalization)]
    for layer in norms:
        n = layer.gamma.shape[0]
        layer.gamma.assign((np.where(rng.uniform(size=n) < 0.2, -1.0, 1.0) * rng.uniform(0.5, 1.5, n)).astype(np.float32))
        layer.beta.assign((0.2 * rng.standard_normal(n)).astype(np.float32))
        layer.momentum = 0.0
    model(batch, training=True)


def pixels(shape, rng) -> np.ndarray:
    return rng.uniform(0, 255, shape).astype(np.float32)


def pads_and_normalization() -> tuple[tf.keras.Model, np.ndarray, dict]:
    tf.keras.utils.set_random_seed(11)
    rng = np.random.default_rng(11)
    mean, variance = np.array([0.45, 0.5, 0.55]), np.array([0.05, 0.07, 0.06])
    x = inputs = layers.Input((24, 24, 3))
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Normalization(mean=mean, variance=variance)(x)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Conv2D(12, 1)(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5)(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_batchnorm(model, pixels((16, 24, 24, 3), rng), 12)
    # The first conv's input per channel for pixels 0 and 255, by Keras' own layers.
    ends = model.layers[2](model.layers[1](np.array([[[[0, 0, 0], [255, 255, 255]]]], np.float32))).numpy()[0, 0]
    extra = dict(zbox_low=[float(v) for v in np.minimum(ends[0], ends[1])],
                 zbox_high=[float(v) for v in np.maximum(ends[0], ends[1])],
                 preprocessing=dict(mean=[0], std=[1], range=[0, 255], layout="NHWC"))
    return model, pixels((1, 24, 24, 3), rng), extra


def mobilenet_v3_block() -> tuple[tf.keras.Model, np.ndarray, dict]:
    from keras.src.applications import mobilenet_v3 as m3
    tf.keras.utils.set_random_seed(31)
    rng = np.random.default_rng(31)
    x = inputs = layers.Input((32, 32, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = m3.hard_swish(x)
    x = m3._inverted_res_block(x, 3, 24, 3, 2, 0.25, m3.hard_swish, 1)  # block_id 0 would skip the expansion
    x = m3._inverted_res_block(x, 3, 24, 3, 1, 0.25, m3.hard_swish, 2)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5)(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_batchnorm(model, rng.standard_normal((16, 32, 32, 3)).astype(np.float32), 32)
    return model, rng.standard_normal((1, 32, 32, 3)).astype(np.float32), {}


def softmax_head() -> tuple[tf.keras.Model, np.ndarray, dict]:
    tf.keras.utils.set_random_seed(21)
    rng = np.random.default_rng(21)
    x = inputs = layers.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(6, activation="softmax")(x)
    return tf.keras.Model(inputs, x), rng.standard_normal((1, 16, 16, 3)).astype(np.float32), {}


def without_softmax(model: tf.keras.Model) -> tf.keras.Model:
    """The same layers and weights, the head's softmax replaced by the identity."""
    head = model.layers[-1]
    logits = layers.Dense(head.units, activation=None)
    out = logits(model.layers[-2].output)
    logits.set_weights(head.get_weights())
    return tf.keras.Model(model.input, out)


def export(model: tf.keras.Model, x: np.ndarray, path: Path, opset: int) -> np.ndarray:
    spec = (tf.TensorSpec((None,) + tuple(x.shape[1:]), tf.float32, name="input"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(path))
    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = model(x, training=False).numpy()
    assert np.abs(logits - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max()), "onnxruntime != keras"
    return logits.astype(np.float32)


def main() -> int:
    manifest = dict(about="Graphs/keras_blocks.py: small Keras models exported by tf2onnx "
                          f"{tf2onnx.__version__} (tensorflow {tf.__version__}), onnxruntime {ort.__version__} "
                          "outputs; paths relative to Tests/Fixtures", fixtures={})
    for name, build in [("pads_and_normalization", pads_and_normalization), ("mobilenet_v3_block", mobilenet_v3_block),
                        ("softmax_head", softmax_head)]:
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        model, x, extra = build()
        np.save(folder / "input.npy", x)
        entry = dict(input=f"keras/{name}/input.npy", exports={}, **extra)
        for opset in OPSETS:
            path = folder / f"opset{opset}.onnx"
            logits = export(model, x, path, opset)
            np.save(folder / f"logits.opset{opset}.npy", logits)
            ops = dict(sorted(collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node).items()))
            record = dict(onnx=f"keras/{name}/{path.name}", logits=f"keras/{name}/logits.opset{opset}.npy", ops=ops)
            if name == "softmax_head":
                plain = folder / f"presoftmax.opset{opset}.onnx"
                presoftmax = export(without_softmax(model), x, plain, opset)
                np.save(folder / f"logits.presoftmax.opset{opset}.npy", presoftmax)
                assert np.allclose(np.exp(presoftmax) / np.exp(presoftmax).sum(), logits, atol=1e-6)
                record.update(presoftmax_onnx=f"keras/{name}/{plain.name}",
                              compare_with=f"keras/{name}/logits.presoftmax.opset{opset}.npy")
            else:
                record.update(compare_with=record["logits"])
            entry["exports"][f"opset{opset}"] = record
            print(f"{name} opset {opset}: {ops}", flush=True)
        manifest["fixtures"][name] = entry
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

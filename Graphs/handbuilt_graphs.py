#!/usr/bin/env python3
"""Hand-built ONNX graphs (onnx.helper + seeded numpy weights) that mimic the
graph styles users bring from other frameworks, for clrp's importer tests.

Written files
-------------
Tests/Fixtures/models/keras_tf2onnx_small.onnx   (committed, 32x32 NHWC input)
Graphs/build/keras_tf2onnx.onnx                  (git-ignored, 128x128 NHWC input)
    A Keras CNN as exported by tf2onnx (opset 13):
      input "input_1" [unk__6, H, W, 3] (NHWC) -> Transpose(perm 0,3,1,2)
      -> Conv(bias, explicit pads) -> Relu
      -> Mul(const [1,C,1,1]) + Add(const [1,C,1,1])   (a BatchNormalization that
         comes AFTER the ReLU: tf2onnx cannot fuse it into the conv)
      -> MaxPool -> Conv(stride 2, auto_pad SAME_UPPER => asymmetric padding)
      -> Relu -> MaxPool
      -> Keras Flatten: Transpose(perm 0,2,3,1) back to NHWC, then
         Shape -> Gather(0) -> Cast -> Unsqueeze -> Concat([-1]) -> Reshape
      -> Dense: MatMul(W[K,M]) + Add(b[M]) -> Relu
      -> Keras Reshape((M,)) layer: Shape -> Slice[0:1] -> Concat([M]) -> Reshape
      -> Dense: MatMul + Add -> Softmax   (graph output "dense_1")
    Tensor storage variety: most floats as raw_data (numpy_helper.from_array),
    the BN scale and the last bias as float_data (helper.make_tensor(vals=list)),
    the Concat constant [-1] as int64_data.  Names contain '/' and ':0' like
    tf2onnx's; opset_import also lists the (unused) ai.onnx.ml domain.

Tests/Fixtures/models/caffe_small.onnx   (committed, 72x72 input)
Graphs/build/caffe.onnx                  (git-ignored, 232x232, full CaffeNet widths)
    A CaffeNet (AlexNet-original) as written by a Caffe->ONNX converter
    (opset 9, ir_version 4, initializers ALSO listed as graph inputs):
      conv1(11x11/4) relu pool1 norm1(LRN 5, 1e-4, 0.75, 1)
      conv2(5x5, group 2) relu pool2 norm2
      conv3 relu pool3_ave(AveragePool 3x3/1, pads 1, count_include_pad=0)
      conv4(group 2) relu conv5(group 2) relu pool5
      Flatten fc6(Gemm transB=1) relu drop6(Dropout ratio 0.5)
      fc7 relu drop7 fc8 prob(Softmax)
    Caffe's ceil-mode pooling is written as asymmetric pads [0,0,1,1] (no
    ceil_mode attribute).  The input sizes are chosen so that the extra pad
    row/column really changes every max-pool's output size (floor != ceil).

Tests/Fixtures/models/external/vgg_tiny_external.onnx + weights.bin
    A tiny VGG-style conv net (opset 13) whose tensors ALL live in an
    external data file (size_threshold=0).

Weights: He-normal with a fixed numpy seed.  The classifier layer is then
"class balanced" on a seeded random batch (its bias cancels the mean logit
and its scale gives logits of std ~1 across inputs), otherwise random nets
produce (almost) input-independent logits.  Conv1 of the Caffe net gets a
large gain so the activations are in the range of a real Caffe model fed
0..255 pixels, which makes LRN actually non-linear.

Every model passes onnx.checker.check_model(full_check=True) and is run once
through onnxruntime.

Usage:  python3 Graphs/handbuilt_graphs.py          # small fixtures + large versions
        python3 Graphs/handbuilt_graphs.py --small  # only the committed fixtures
"""

from __future__ import annotations

import argparse
import collections
import copy
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "Graphs" / "build"
FIXTURE_DIR = ROOT / "Tests" / "Fixtures" / "models"
CALIB_BATCH = 8


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def he(rng: np.random.Generator, shape, fan_in: int, gain: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * gain * np.sqrt(2.0 / fan_in)).astype(np.float32)


def raw(name: str, arr: np.ndarray) -> TensorProto:
    """Initializer stored as raw_data (what numpy_helper.from_array writes)."""
    return numpy_helper.from_array(np.array(arr, order="C"), name=name)  # (ascontiguousarray would turn 0-d into 1-d)


def float_data(name: str, arr: np.ndarray) -> TensorProto:
    """Float initializer stored in the repeated float_data field."""
    arr = np.asarray(arr, dtype=np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, list(arr.shape), arr.flatten().tolist())


def int64_data(name: str, values, dims) -> TensorProto:
    """int64 initializer stored in the repeated int64_data field."""
    return helper.make_tensor(name, TensorProto.INT64, dims, list(values))


def session(model: onnx.ModelProto | str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3  # silence "initializer appears in graph inputs" (intended, Caffe style)
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def run_tensor(model: onnx.ModelProto, feeds: dict, name: str) -> np.ndarray:
    """Value of an intermediate tensor `name` (added as an extra graph output)."""
    m = copy.deepcopy(model)
    if name not in [o.name for o in m.graph.output]:
        m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return session(m).run([name], feeds)[0]


def balance(build, input_name: str, input_shape, pre_softmax: str, seed: int) -> onnx.ModelProto:
    """Build once, measure the classifier's output z = W.h + b on a seeded random
    batch, then rebuild with W' = W/s and b' = -mean(W.h)/s + 0.1*N(0,1)
    (s = std of W.h across the batch): logits vary with the input, std ~1."""
    model = build(None)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((CALIB_BATCH, *input_shape[1:])).astype(np.float32)
    z = run_tensor(model, {input_name: x}, pre_softmax)
    b = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == build.bias_name))
    wh = z - b
    mu = wh.mean(axis=0)
    s = float((wh - mu).std())
    new_bias = (-mu / s + 0.1 * rng.standard_normal(mu.shape)).astype(np.float32)
    return build((1.0 / s, new_bias))


def op_counts(model: onnx.ModelProto) -> dict:
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def save_and_check(model: onnx.ModelProto, path: Path, external: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        # onnx *appends* to an existing data file: start from scratch
        (path.parent / "weights.bin").unlink(missing_ok=True)
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="weights.bin",
                        size_threshold=0, convert_attribute=False)
        (path.parent / "weights.bin").chmod(0o644)  # onnx creates it 0600
    else:
        onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    sess = session(str(path))
    inp = sess.get_inputs()[0]
    shape = [2 if not isinstance(d, int) else d for d in inp.shape]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = sess.run(None, {inp.name: x})[0]
    size = path.stat().st_size + ((path.parent / "weights.bin").stat().st_size if external else 0)
    print(f"{path.relative_to(ROOT)}: {size / 1e6:.2f} MB, input {inp.name}{inp.shape}, "
          f"output {sess.get_outputs()[0].name}{list(y.shape)}, argmax={y.argmax(1).tolist()}")
    print(f"    ops: {op_counts(onnx.load(str(path), load_external_data=False))}")


# --------------------------------------------------------------------------
# Keras / tf2onnx style
# --------------------------------------------------------------------------

def keras_tf2onnx(hw: int, c1: int, c2: int, hidden: int, classes: int, seed: int):
    """Returns build(final) -> ModelProto; `final` = (scale, bias) for the last Dense."""
    P = "StatefulPartitionedCall/sequential"

    def build(final):
        rng = np.random.default_rng(seed)
        w1 = he(rng, (c1, 3, 3, 3), 27)
        b1 = (0.1 * rng.standard_normal(c1)).astype(np.float32)
        bn_scale = rng.uniform(0.5, 1.5, (1, c1, 1, 1)).astype(np.float32)
        bn_scale[0, :: max(1, c1 // 4), 0, 0] *= -1.0          # a few negative BN scales
        bn_offset = (0.2 * rng.standard_normal((1, c1, 1, 1))).astype(np.float32)
        w2 = he(rng, (c2, c1, 3, 3), c1 * 9)
        b2 = (0.1 * rng.standard_normal(c2)).astype(np.float32)
        s = hw // 2 // 2 // 2                                   # pool, stride-2 conv, pool
        k = s * s * c2
        w3 = he(rng, (k, hidden), k)                            # Keras Dense kernel [in, out]
        b3 = (0.1 * rng.standard_normal(hidden)).astype(np.float32)
        w4 = he(rng, (hidden, classes), hidden)
        b4 = (0.1 * rng.standard_normal(classes)).astype(np.float32)
        if final is not None:
            w4 = (w4 * final[0]).astype(np.float32)
            b4 = final[1]

        inits = [
            raw(f"{P}/conv2d/Conv2D/ReadVariableOp:0", w1),
            raw(f"{P}/conv2d/BiasAdd/ReadVariableOp:0", b1.reshape(-1)),
            float_data(f"{P}/batch_normalization/FusedBatchNormV3/Mul:0", bn_scale),  # float_data
            raw(f"{P}/batch_normalization/FusedBatchNormV3/Add:0", bn_offset),
            raw(f"{P}/conv2d_1/Conv2D/ReadVariableOp:0", w2),
            raw(f"{P}/conv2d_1/BiasAdd/ReadVariableOp:0", b2),
            raw("const_axes__12", np.array([0], dtype=np.int64)),
            raw("const_gather_idx__10", np.array(0, dtype=np.int64)),           # scalar index
            int64_data("const_fold_opt__17", [-1], [1]),                          # int64_data
            raw(f"{P}/dense/MatMul/ReadVariableOp:0", w3),
            raw(f"{P}/dense/BiasAdd/ReadVariableOp:0", b3),
            raw("const_starts__20", np.array([0], dtype=np.int64)),
            raw("const_ends__21", np.array([1], dtype=np.int64)),
            raw("const_slice_axes__22", np.array([0], dtype=np.int64)),
            raw(f"{P}/reshape/Reshape/shape_1:0", np.array([hidden], dtype=np.int64)),
            raw(f"{P}/dense_1/MatMul/ReadVariableOp:0", w4),
            float_data(f"{P}/dense_1/BiasAdd/ReadVariableOp:0", b4),            # float_data
        ]
        nodes = [
            helper.make_node("Transpose", ["input_1"], [f"{P}/conv2d/BiasAdd__6:0"],
                             name=f"{P}/conv2d/BiasAdd__6", perm=[0, 3, 1, 2]),
            helper.make_node("Conv", [f"{P}/conv2d/BiasAdd__6:0", f"{P}/conv2d/Conv2D/ReadVariableOp:0",
                                      f"{P}/conv2d/BiasAdd/ReadVariableOp:0"],
                             [f"{P}/conv2d/BiasAdd:0"], name=f"{P}/conv2d/BiasAdd",
                             dilations=[1, 1], group=1, kernel_shape=[3, 3],
                             pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Relu", [f"{P}/conv2d/BiasAdd:0"], [f"{P}/conv2d/Relu:0"],
                             name=f"{P}/conv2d/Relu"),
            # BatchNormalization after ReLU: tf2onnx emits it as Mul + Add with
            # per-channel [1,C,1,1] constants.
            helper.make_node("Mul", [f"{P}/conv2d/Relu:0",
                                     f"{P}/batch_normalization/FusedBatchNormV3/Mul:0"],
                             [f"{P}/batch_normalization/FusedBatchNormV3/mul_1:0"],
                             name=f"{P}/batch_normalization/FusedBatchNormV3/mul_1"),
            helper.make_node("Add", [f"{P}/batch_normalization/FusedBatchNormV3/mul_1:0",
                                     f"{P}/batch_normalization/FusedBatchNormV3/Add:0"],
                             [f"{P}/batch_normalization/FusedBatchNormV3:0"],
                             name=f"{P}/batch_normalization/FusedBatchNormV3"),
            helper.make_node("MaxPool", [f"{P}/batch_normalization/FusedBatchNormV3:0"],
                             [f"{P}/max_pooling2d/MaxPool:0"], name=f"{P}/max_pooling2d/MaxPool",
                             kernel_shape=[2, 2], strides=[2, 2]),
            # Keras Conv2D(strides=2, padding="same"): SAME_UPPER, pads 0 before / 1 after
            helper.make_node("Conv", [f"{P}/max_pooling2d/MaxPool:0", f"{P}/conv2d_1/Conv2D/ReadVariableOp:0",
                                      f"{P}/conv2d_1/BiasAdd/ReadVariableOp:0"],
                             [f"{P}/conv2d_1/BiasAdd:0"], name=f"{P}/conv2d_1/BiasAdd",
                             auto_pad="SAME_UPPER", dilations=[1, 1], group=1,
                             kernel_shape=[3, 3], strides=[2, 2]),
            helper.make_node("Relu", [f"{P}/conv2d_1/BiasAdd:0"], [f"{P}/conv2d_1/Relu:0"],
                             name=f"{P}/conv2d_1/Relu"),
            helper.make_node("MaxPool", [f"{P}/conv2d_1/Relu:0"], [f"{P}/max_pooling2d_1/MaxPool:0"],
                             name=f"{P}/max_pooling2d_1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
            # Keras Flatten on NHWC data: back to NHWC, then reshape to [N, -1]
            helper.make_node("Transpose", [f"{P}/max_pooling2d_1/MaxPool:0"],
                             [f"{P}/max_pooling2d_1/MaxPool__28:0"],
                             name=f"{P}/max_pooling2d_1/MaxPool__28", perm=[0, 2, 3, 1]),
            helper.make_node("Shape", [f"{P}/max_pooling2d_1/MaxPool__28:0"],
                             [f"{P}/flatten/Shape:0"], name=f"{P}/flatten/Shape"),
            helper.make_node("Gather", [f"{P}/flatten/Shape:0", "const_gather_idx__10"],
                             [f"{P}/flatten/strided_slice:0"], name=f"{P}/flatten/strided_slice", axis=0),
            helper.make_node("Cast", [f"{P}/flatten/strided_slice:0"],
                             [f"{P}/flatten/strided_slice__14:0"], name=f"{P}/flatten/strided_slice__14",
                             to=TensorProto.INT64),
            helper.make_node("Unsqueeze", [f"{P}/flatten/strided_slice__14:0", "const_axes__12"],
                             [f"{P}/flatten/Reshape/shape_Unsqueeze__15:0"],
                             name=f"{P}/flatten/Reshape/shape_Unsqueeze__15"),
            helper.make_node("Concat", [f"{P}/flatten/Reshape/shape_Unsqueeze__15:0", "const_fold_opt__17"],
                             [f"{P}/flatten/Reshape/shape_Concat__16:0"],
                             name=f"{P}/flatten/Reshape/shape_Concat__16", axis=0),
            helper.make_node("Reshape", [f"{P}/max_pooling2d_1/MaxPool__28:0",
                                         f"{P}/flatten/Reshape/shape_Concat__16:0"],
                             [f"{P}/flatten/Reshape:0"], name=f"{P}/flatten/Reshape"),
            # Dense(hidden, relu)
            helper.make_node("MatMul", [f"{P}/flatten/Reshape:0", f"{P}/dense/MatMul/ReadVariableOp:0"],
                             [f"{P}/dense/MatMul:0"], name=f"{P}/dense/MatMul"),
            helper.make_node("Add", [f"{P}/dense/MatMul:0", f"{P}/dense/BiasAdd/ReadVariableOp:0"],
                             [f"{P}/dense/BiasAdd:0"], name=f"{P}/dense/BiasAdd"),
            helper.make_node("Relu", [f"{P}/dense/BiasAdd:0"], [f"{P}/dense/Relu:0"], name=f"{P}/dense/Relu"),
            # Keras Reshape((hidden,)) layer: batch dim via Shape -> Slice[0:1]
            helper.make_node("Shape", [f"{P}/dense/Relu:0"], [f"{P}/reshape/Shape:0"], name=f"{P}/reshape/Shape"),
            helper.make_node("Slice", [f"{P}/reshape/Shape:0", "const_starts__20", "const_ends__21",
                                       "const_slice_axes__22"],
                             [f"{P}/reshape/strided_slice:0"], name=f"{P}/reshape/strided_slice"),
            helper.make_node("Concat", [f"{P}/reshape/strided_slice:0", f"{P}/reshape/Reshape/shape_1:0"],
                             [f"{P}/reshape/Reshape/shape:0"], name=f"{P}/reshape/Reshape/shape", axis=0),
            helper.make_node("Reshape", [f"{P}/dense/Relu:0", f"{P}/reshape/Reshape/shape:0"],
                             [f"{P}/reshape/Reshape:0"], name=f"{P}/reshape/Reshape"),
            # Dense(classes, softmax)
            helper.make_node("MatMul", [f"{P}/reshape/Reshape:0", f"{P}/dense_1/MatMul/ReadVariableOp:0"],
                             [f"{P}/dense_1/MatMul:0"], name=f"{P}/dense_1/MatMul"),
            helper.make_node("Add", [f"{P}/dense_1/MatMul:0", f"{P}/dense_1/BiasAdd/ReadVariableOp:0"],
                             [f"{P}/dense_1/BiasAdd:0"], name=f"{P}/dense_1/BiasAdd"),
            helper.make_node("Softmax", [f"{P}/dense_1/BiasAdd:0"], ["dense_1"], name=f"{P}/dense_1/Softmax"),
        ]
        graph = helper.make_graph(
            nodes, "sequential",
            inputs=[helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__6", hw, hw, 3])],
            outputs=[helper.make_tensor_value_info("dense_1", TensorProto.FLOAT, ["unk__7", classes])],
            initializer=inits,
        )
        model = helper.make_model(
            graph, producer_name="tf2onnx", producer_version="1.16.1 15c810",
            opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 2)],
        )
        model.ir_version = 8
        return model

    build.bias_name = f"{P}/dense_1/BiasAdd/ReadVariableOp:0"
    return balance(build, "input_1", (1, hw, hw, 3), f"{P}/dense_1/BiasAdd:0", seed + 1)


# --------------------------------------------------------------------------
# Caffe converter style
# --------------------------------------------------------------------------

def caffe(hw: int, chans, fc: int, classes: int, seed: int):
    c1, c2, c3, c4, c5 = chans

    def pool_out(n):  # Caffe ceil-mode 3x3/2 max pool
        return int(np.ceil((n - 3) / 2)) + 1

    s1 = (hw - 11) // 4 + 1
    # the asymmetric pad must matter at every pool: floor and ceil differ
    for n in (s1, pool_out(s1), pool_out(pool_out(s1))):
        assert (n - 3) % 2 == 1, f"input {hw}: ceil == floor at a {n}x{n} pool"
    s5 = pool_out(pool_out(pool_out(s1)))
    k6 = c5 * s5 * s5

    def build(final):
        rng = np.random.default_rng(seed)
        W = {
            # conv1 gain 40: activations ~ those of a Caffe net fed 0..255 pixels,
            # so LRN(alpha=1e-4) really normalises
            "conv1": he(rng, (c1, 3, 11, 11), 3 * 121, gain=40.0),
            "conv2": he(rng, (c2, c1 // 2, 5, 5), c1 // 2 * 25),
            "conv3": he(rng, (c3, c2, 3, 3), c2 * 9),
            "conv4": he(rng, (c4, c3 // 2, 3, 3), c3 // 2 * 9),
            "conv5": he(rng, (c5, c4 // 2, 3, 3), c4 // 2 * 9),
            "fc6": he(rng, (fc, k6), k6),           # Caffe InnerProduct: [out, in] -> transB=1
            "fc7": he(rng, (fc, fc), fc),
            "fc8": he(rng, (classes, fc), fc),
        }
        B = {k: (0.1 * rng.standard_normal(v.shape[0])).astype(np.float32) for k, v in W.items()}
        B["conv1"] *= 40.0
        if final is not None:
            W["fc8"] = (W["fc8"] * final[0]).astype(np.float32)
            B["fc8"] = final[1]

        inits = []
        for k in W:
            inits += [raw(f"{k}_w_0", W[k]), raw(f"{k}_b_0", B[k])]

        def conv(name, x, k, pad, stride=1, group=1):
            return helper.make_node("Conv", [x, f"{name}_w_0", f"{name}_b_0"], [name], name=name,
                                    kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2,
                                    dilations=[1, 1], group=group)

        def relu(name, x):
            return helper.make_node("Relu", [x], [name], name=name)

        def pool(name, x):  # Caffe ceil_mode written as extra end padding
            return helper.make_node("MaxPool", [x], [name], name=name, kernel_shape=[3, 3],
                                    strides=[2, 2], pads=[0, 0, 1, 1])

        def lrn(name, x):
            return helper.make_node("LRN", [x], [name], name=name, size=5, alpha=1e-4, beta=0.75, bias=1.0)

        def gemm(name, x):
            return helper.make_node("Gemm", [x, f"{name}_w_0", f"{name}_b_0"], [name], name=name,
                                    alpha=1.0, beta=1.0, transA=0, transB=1)

        def dropout(name, x):
            return helper.make_node("Dropout", [x], [name], name=name, ratio=0.5)

        nodes = [
            conv("conv1", "data", 11, 0, stride=4), relu("relu1", "conv1"),
            pool("pool1", "relu1"), lrn("norm1", "pool1"),
            conv("conv2", "norm1", 5, 2, group=2), relu("relu2", "conv2"),
            pool("pool2", "relu2"), lrn("norm2", "pool2"),
            conv("conv3", "norm2", 3, 1), relu("relu3", "conv3"),
            helper.make_node("AveragePool", ["relu3"], ["pool3_ave"], name="pool3_ave",
                             kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
            conv("conv4", "pool3_ave", 3, 1, group=2), relu("relu4", "conv4"),
            conv("conv5", "relu4", 3, 1, group=2), relu("relu5", "conv5"),
            pool("pool5", "relu5"),
            helper.make_node("Flatten", ["pool5"], ["pool5_flat"], name="pool5_flat", axis=1),
            gemm("fc6", "pool5_flat"), relu("relu6", "fc6"), dropout("drop6", "relu6"),
            gemm("fc7", "drop6"), relu("relu7", "fc7"), dropout("drop7", "relu7"),
            gemm("fc8", "drop7"),
            helper.make_node("Softmax", ["fc8"], ["prob"], name="prob", axis=1),
        ]
        # Old converters list every initializer as a graph input as well (IR < 4
        # required it; allowed in IR 4, where inputs shadowed by initializers
        # are optional).
        weight_inputs = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
        graph = helper.make_graph(
            nodes, "CaffeNet",
            inputs=[helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, hw, hw])] + weight_inputs,
            outputs=[helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", classes])],
            initializer=inits,
        )
        model = helper.make_model(graph, producer_name="caffe2onnx", producer_version="2.0",
                                  opset_imports=[helper.make_opsetid("", 9)])
        model.ir_version = 4
        return model

    build.bias_name = "fc8_b_0"
    return balance(build, "data", (1, 3, hw, hw), "fc8", seed + 1)


# --------------------------------------------------------------------------
# Tiny VGG with external data
# --------------------------------------------------------------------------

def vgg_tiny(seed: int, classes: int = 10):
    def build(final):
        rng = np.random.default_rng(seed)
        W = {
            "features.0.weight": he(rng, (8, 3, 3, 3), 27),
            "features.2.weight": he(rng, (8, 8, 3, 3), 72),
            "features.5.weight": he(rng, (16, 8, 3, 3), 72),
            "classifier.weight": he(rng, (classes, 16 * 8 * 8), 16 * 8 * 8),
        }
        B = {k.replace("weight", "bias"): (0.1 * rng.standard_normal(v.shape[0])).astype(np.float32)
             for k, v in W.items()}
        if final is not None:
            W["classifier.weight"] = (W["classifier.weight"] * final[0]).astype(np.float32)
            B["classifier.bias"] = final[1]
        inits = [raw(k, v) for k, v in {**W, **B}.items()]

        def conv(i, x, out):
            return helper.make_node("Conv", [x, f"features.{i}.weight", f"features.{i}.bias"], [out],
                                    name=f"/features/features.{i}/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])

        nodes = [
            conv(0, "input", "c0"), helper.make_node("Relu", ["c0"], ["r0"]),
            conv(2, "r0", "c2"), helper.make_node("Relu", ["c2"], ["r2"]),
            helper.make_node("MaxPool", ["r2"], ["p4"], kernel_shape=[2, 2], strides=[2, 2]),
            conv(5, "p4", "c5"), helper.make_node("Relu", ["c5"], ["r5"]),
            helper.make_node("MaxPool", ["r5"], ["p7"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p7"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "classifier.weight", "classifier.bias"], ["logits"], transB=1),
        ]
        graph = helper.make_graph(
            nodes, "vgg_tiny",
            inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
            outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
            initializer=inits,
        )
        model = helper.make_model(graph, producer_name="clrp-handbuilt", producer_version="1",
                                  opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        return model

    build.bias_name = "classifier.bias"
    return balance(build, "input", (1, 3, 32, 32), "logits", seed + 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="only the committed small fixtures")
    args = ap.parse_args()

    save_and_check(keras_tf2onnx(hw=32, c1=8, c2=16, hidden=32, classes=10, seed=3001),
                   FIXTURE_DIR / "keras_tf2onnx_small.onnx")
    save_and_check(caffe(hw=72, chans=(12, 32, 48, 48, 32), fc=256, classes=10, seed=3002),
                   FIXTURE_DIR / "caffe_small.onnx")
    save_and_check(vgg_tiny(seed=3003), FIXTURE_DIR / "external" / "vgg_tiny_external.onnx", external=True)
    if not args.small:
        save_and_check(keras_tf2onnx(hw=128, c1=32, c2=64, hidden=256, classes=1000, seed=4001),
                       BUILD_DIR / "keras_tf2onnx.onnx")
        save_and_check(caffe(hw=232, chans=(96, 256, 384, 384, 256), fc=4096, classes=1000, seed=4002),
                       BUILD_DIR / "caffe.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())

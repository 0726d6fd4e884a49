#!/usr/bin/env python3
"""Tiny ONNX files that clrp must reject with a clear error (or, for the float16
one, load and run), for Tests/RelevanceTests/BadInputTests.swift.

Written files (Tests/Fixtures/bad/, committed, each a few hundred bytes to a few KB)
-------------------------------------------------------------------------------
unsupported_op.onnx        Conv -> Hardmax ('act1'): an operator clrp does not import
int_input.onnx             INT64 graph input (token ids) -> Cast -> Conv
conv_weight_mismatch.onnx  3-channel input, Conv weight [4, 5, 3, 3] ('conv1')
dangling_input.onnx        Relu 'relu1' reads 'ghost', which nothing produces
two_inputs.onnx            two graph inputs added together
non_constant_weight.onnx   MatMul 'mm' of two activations (x . x^T)
custom_domain.onnx         Conv -> com.microsoft FusedGelu ('gelu1')
fp16_weights.onnx          Conv weights stored as FLOAT16: conv1 reads its weight
                           directly (raw_data), conv2 through Cast(to=FLOAT)
                           (int32_data storage, as helper.make_tensor writes it)
fp16_weights_fp32.onnx     the float32 twin (same values, widened): same outputs
opset6.onnx                a Conv -> Relu model declaring opset 6
kernel_does_not_fit.onnx   7x7 Conv 'big' on a 3x3 input
reflect_pad.onnx           Pad 'pad1' with mode 'reflect' (opset 13)
training_bn.onnx           BatchNormalization 'bn1' with training_mode=1 (opset 15)
empty_data_input.onnx      Conv 'conv2' whose data input name is '' (weights present):
                           found by fuzzing, it used to crash constant folding
The rest are hostile values that used to crash (trap or exhaust memory) instead of failing:
computed_conv_weight.onnx  Conv 'conv1' whose weight is computed at run time (Relu 'wrelu' of it)
huge_pads.onnx             Conv 'conv1' with pads of 2^40
negative_input_dim.onnx    input declared [N, 3, -8, 8]
reshape_overflow.onnx      Reshape 'reshape1' to [2^40, 2^40, -1]
concat_no_inputs.onnx      Concat 'cat1' without inputs
overflowing_dims.onnx      an initializer of shape [2^32 - 1, 2^32 - 1, 4] (and no data)
zero_channels.onnx         Conv 'conv1' with weight [0, 3, 3, 3] and bias [0], then Gemm [10, 0]
unused_constant_of_shape.onnx  an unused ConstantOfShape 'big' of 2^31 floats
broadcast_constants.onnx   Add 'grow' of constants [32768, 1] + [1, 32768] (ConstantOfShape)
huge_input.onnx            input declared [1, 3, 16384, 16384] (Conv, Relu, GlobalAveragePool)
pool_pads_exceed_kernel.onnx  MaxPool 'pool1' with kernel_shape [2, 2] and pads [5, 5, 5, 5]

The models are built with onnx.helper and seeded numpy weights; they are not
run through onnx.checker (several are invalid on purpose).

Usage:  python3 Graphs/bad_models.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "bad"
RNG = np.random.default_rng(20240611)


def weights(name: str, shape, dtype=np.float32) -> TensorProto:
    arr = (RNG.standard_normal(shape) * 0.3).astype(dtype)
    return numpy_helper.from_array(arr, name=name)


def image_input(name: str = "x", shape=("N", 3, 8, 8), elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, list(shape))


def output(name: str = "y"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def model(nodes, inputs, outputs, initializers, opset: int = 13, domains=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "bad", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="clrp bad_models.py")
    m.ir_version = 8
    return m


def conv(name: str, x: str, w: str, y: str, **attrs):
    return helper.make_node("Conv", [x, w], [y], name=name, **attrs)


def build() -> dict[str, onnx.ModelProto]:
    models: dict[str, onnx.ModelProto] = {}

    models["unsupported_op"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Hardmax", ["c1"], ["y"], name="act1")],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])])

    models["int_input"] = model(
        [helper.make_node("Cast", ["ids"], ["xf"], name="cast1", to=TensorProto.FLOAT),
         conv("conv1", "xf", "w1", "y", kernel_shape=[3, 3])],
        [image_input("ids", elem=TensorProto.INT64)], [output()], [weights("w1", [4, 3, 3, 3])])

    models["conv_weight_mismatch"] = model(
        [conv("conv1", "x", "w1", "y", kernel_shape=[3, 3])],
        [image_input()], [output()], [weights("w1", [4, 5, 3, 3])])

    models["dangling_input"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("Relu", ["ghost"], ["y"], name="relu1")],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])])

    models["two_inputs"] = model(
        [helper.make_node("Add", ["x", "x2"], ["s"], name="add1"),
         conv("conv1", "s", "w1", "y", kernel_shape=[3, 3])],
        [image_input(), image_input("x2")], [output()], [weights("w1", [4, 3, 3, 3])])

    models["non_constant_weight"] = model(
        [helper.make_node("Flatten", ["x"], ["f"], name="flat1", axis=1),
         helper.make_node("Transpose", ["f"], ["ft"], name="tr1", perm=[1, 0]),
         helper.make_node("MatMul", ["f", "ft"], ["y"], name="mm")],
        [image_input(shape=(1, 3, 8, 8))], [output()], [])

    models["custom_domain"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("FusedGelu", ["c1"], ["y"], name="gelu1", domain="com.microsoft")],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])], domains=("com.microsoft",))

    # float16 weights, and their float32 twin with exactly the same (widened) values.
    w1 = (RNG.standard_normal([4, 3, 3, 3]) * 0.3).astype(np.float16)
    w2 = (RNG.standard_normal([5, 4, 3, 3]) * 0.3).astype(np.float16)
    b1 = (RNG.standard_normal([4]) * 0.1).astype(np.float16)
    for suffix, dtype in (("", np.float16), ("_fp32", np.float32)):
        if dtype == np.float16:
            # make_tensor stores FLOAT16 values as their bit patterns in int32_data.
            w2_tensor = helper.make_tensor("w2", TensorProto.FLOAT16, list(w2.shape),
                                           w2.astype(np.float32).flatten().tolist())
            assert len(w2_tensor.int32_data) == w2.size and not w2_tensor.raw_data
            cast_w2 = [helper.make_node("Cast", ["w2"], ["w2f"], name="cast_w2", to=TensorProto.FLOAT)]
            w2_name = "w2f"
        else:
            w2_tensor = numpy_helper.from_array(w2.astype(np.float32), name="w2")
            cast_w2, w2_name = [], "w2"
        models["fp16_weights" + suffix] = model(
            [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1")] + cast_w2 +
            [conv("conv2", "r1", w2_name, "y", kernel_shape=[3, 3])],
            [image_input()], [output()],
            [numpy_helper.from_array(w1.astype(dtype), name="w1"),
             numpy_helper.from_array(b1.astype(dtype), name="b1"), w2_tensor])

    models["opset6"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("Relu", ["c1"], ["y"], name="relu1")],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])], opset=6)

    models["kernel_does_not_fit"] = model(
        [conv("big", "x", "w1", "y", kernel_shape=[7, 7])],
        [image_input(shape=("N", 3, 3, 3))], [output()], [weights("w1", [4, 3, 7, 7])])

    models["reflect_pad"] = model(
        [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad1", mode="reflect"),
         conv("conv1", "p", "w1", "y", kernel_shape=[3, 3])],
        [image_input()], [output()],
        [weights("w1", [4, 3, 3, 3]), numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")])

    models["training_bn"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["y"], name="bn1", training_mode=1)],
        [image_input()], [output()],
        [weights("w1", [4, 3, 3, 3]), numpy_helper.from_array(np.ones(4, np.float32), "g"),
         numpy_helper.from_array(np.zeros(4, np.float32), "b"), numpy_helper.from_array(np.zeros(4, np.float32), "m"),
         numpy_helper.from_array(np.ones(4, np.float32), "v")], opset=15)

    models["empty_data_input"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("Conv", ["", "w2", "b2"], ["y"], name="conv2", kernel_shape=[3, 3])],
        [image_input()], [output()],
        [weights("w1", [4, 3, 3, 3]), weights("w2", [2, 4, 3, 3]), weights("b2", [2])])

    models["computed_conv_weight"] = model(
        [helper.make_node("Relu", ["w_raw"], ["w1"], name="wrelu"),
         conv("conv1", "x", "w1", "y", kernel_shape=[3, 3])],
        [image_input()], [output()], [weights("w_raw", [4, 3, 3, 3])])

    models["huge_pads"] = model(
        [conv("conv1", "x", "w1", "y", kernel_shape=[3, 3], pads=[1 << 40] * 4)],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])])

    models["negative_input_dim"] = model(
        [conv("conv1", "x", "w1", "y", kernel_shape=[3, 3])],
        [image_input(shape=("N", 3, -8, 8))], [output()], [weights("w1", [4, 3, 3, 3])])

    models["reshape_overflow"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("Reshape", ["c1", "target"], ["y"], name="reshape1")],
        [image_input()], [output()],
        [weights("w1", [4, 3, 3, 3]), numpy_helper.from_array(np.array([1 << 40, 1 << 40, -1], np.int64), "target")])

    models["concat_no_inputs"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("Concat", [], ["cat"], name="cat1", axis=1),
         helper.make_node("Add", ["c1", "cat"], ["y"], name="add1")],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])])

    huge = TensorProto(name="w1", data_type=TensorProto.FLOAT, dims=[(1 << 32) - 1, (1 << 32) - 1, 4])
    models["overflowing_dims"] = model(
        [conv("conv1", "x", "w1", "y", kernel_shape=[3, 3])], [image_input()], [output()], [huge])

    # Zero-sized and huge values: each used to crash (SIGFPE, or exhausting memory).
    models["zero_channels"] = model(
        [helper.make_node("Conv", ["x", "w0", "b0"], ["c1"], name="conv1", kernel_shape=[3, 3]),
         helper.make_node("Flatten", ["c1"], ["f"], name="flat1", axis=1),
         helper.make_node("Gemm", ["f", "wfc"], ["y"], name="fc", transB=1)],
        [image_input()], [output()],
        [numpy_helper.from_array(np.zeros([0, 3, 3, 3], np.float32), "w0"),
         numpy_helper.from_array(np.zeros([0], np.float32), "b0"),
         numpy_helper.from_array(np.zeros([10, 0], np.float32), "wfc")])

    def shape_const(name, dims):
        return numpy_helper.from_array(np.array(dims, np.int64), name)

    models["unused_constant_of_shape"] = model(
        [helper.make_node("ConstantOfShape", ["big_shape"], ["big"], name="big"),
         helper.make_node("Relu", ["x"], ["y"], name="relu1")],
        [image_input()], [output()], [shape_const("big_shape", [1 << 31])])

    models["broadcast_constants"] = model(
        [helper.make_node("ConstantOfShape", ["sa"], ["a"], name="ca",
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("ConstantOfShape", ["sb"], ["b"], name="cb",
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.0])),
         helper.make_node("Add", ["a", "b"], ["grown"], name="grow"),
         helper.make_node("ReduceMean", ["grown"], ["m"], name="mean1", keepdims=0),
         helper.make_node("Add", ["x", "m"], ["y"], name="add1")],
        [image_input()], [output()], [shape_const("sa", [32768, 1]), shape_const("sb", [1, 32768])])

    models["huge_input"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("GlobalAveragePool", ["r1"], ["g"], name="gap1"),
         helper.make_node("Flatten", ["g"], ["y"], name="flat1", axis=1)],
        [image_input(shape=(1, 3, 16384, 16384))], [output()], [weights("w1", [8, 3, 3, 3])])

    models["pool_pads_exceed_kernel"] = model(
        [conv("conv1", "x", "w1", "c1", kernel_shape=[3, 3]),
         helper.make_node("MaxPool", ["c1"], ["y"], name="pool1", kernel_shape=[2, 2], pads=[5, 5, 5, 5])],
        [image_input()], [output()], [weights("w1", [4, 3, 3, 3])])
    return models


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, m in build().items():
        path = OUT / f"{name}.onnx"
        path.write_bytes(m.SerializeToString(deterministic=True))
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()

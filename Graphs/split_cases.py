#!/usr/bin/env python3
"""ONNX Split in every form, valid and not, with onnxruntime's verdict, for
Tests/RelevanceTests/SplitValidityTests.swift.

Each case is one model: x [1, C, 2, 3] -> Relu -> Split 'split' -> Concat 'concat' of the pieces
in reverse order -> y. The Split varies in opset (7, 11, 13, 18), axis, sizes (attribute before
opset 13, input from 13 on), no sizes (equal pieces) and num_outputs (opset 18). onnxruntime
loads and runs each model (graph optimizations off): a case it refuses records the first line
of its error; a case it runs records the pieces' sizes along the axis (from the shapes of y's
inputs, run as extra graph outputs) and y.

Writes Tests/Fixtures/split/<case>.onnx and Tests/Fixtures/split/cases.json:
{"cases": [{"name", "opset", "channels", "axis", "outputs", "split_attribute", "split_input",
"num_outputs", "onnxruntime": {"accepted": bool, "error"?: str, "piece_sizes"?: [int],
"input"?: [float], "y"?: [float]}}]}.
The models are not run through onnx.checker (several are invalid on purpose).

Run: python3 Graphs/split_cases.py (a second; needs onnx, numpy, onnxruntime).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "split"

# (name, opset, channels, axis, outputs, split attribute, split input, num_outputs)
CASES = [
    # Valid in ONNX and onnxruntime.
    ("sizes_attribute_opset11", 11, 5, 1, 2, [2, 3], None, None),
    ("sizes_input_negative_axis_opset13", 13, 6, -3, 3, None, [1, 4, 1], None),
    ("sizes_input_width_opset13", 13, 3, 3, 2, None, [1, 2], None),
    ("sizes_input_opset18", 18, 5, 1, 2, None, [4, 1], None),
    ("equal_opset7", 7, 4, 1, 2, None, None, None),
    ("equal_opset13", 13, 6, 1, 3, None, None, None),
    ("num_outputs_uneven_opset18", 18, 7, 1, 3, None, None, 3),
    ("num_outputs_uneven_four_opset18", 18, 10, 1, 4, None, None, 4),
    ("num_outputs_even_negative_axis_opset18", 18, 8, -3, 2, None, None, 2),
    # Sizes that do not add up to the axis length.
    ("sizes_attribute_short_opset11", 11, 5, 1, 2, [2, 2], None, None),
    ("sizes_attribute_long_opset11", 11, 5, 1, 2, [3, 3], None, None),
    ("sizes_input_short_opset13", 13, 6, 1, 3, None, [1, 2, 2], None),
    ("sizes_input_long_opset18", 18, 5, 1, 2, None, [2, 4], None),
    # Equal pieces that do not divide the axis (before opset 18).
    ("equal_uneven_opset7", 7, 5, 1, 2, None, None, None),
    ("equal_uneven_opset13", 13, 8, 1, 3, None, None, None),
    # num_outputs whose last piece would be negative, or empty (onnxruntime allows that one).
    ("num_outputs_negative_last_opset18", 18, 5, 1, 4, None, None, 4),
    ("num_outputs_empty_last_opset18", 18, 4, 1, 3, None, None, 3),
    # Sizes that are negative, zero (allowed by ONNX), or as many as the outputs.
    ("sizes_negative_opset13", 13, 5, 1, 2, None, [-1, 6], None),
    ("sizes_zero_opset13", 13, 4, 1, 2, None, [0, 4], None),
    ("sizes_count_input_opset13", 13, 5, 1, 2, None, [2, 2, 1], None),
    ("sizes_count_attribute_opset11", 11, 5, 1, 2, [1, 1, 3], None, None),
    # The axis, num_outputs and the outputs.
    ("axis_out_of_range_opset13", 13, 4, 4, 2, None, None, None),
    ("no_sizes_no_num_outputs_opset18", 18, 4, 1, 2, None, None, None),
    ("num_outputs_for_other_outputs_opset18", 18, 6, 1, 2, None, None, 3),
]


def model(opset, channels, axis, outputs, split_attribute, split_input, num_outputs) -> onnx.ModelProto:
    pieces = [f"piece{i}" for i in range(outputs)]
    split_inputs, initializers = ["a"], []
    if split_input is not None:
        initializers.append(numpy_helper.from_array(np.array(split_input, dtype=np.int64), "sizes"))
        split_inputs.append("sizes")
    attributes = {"axis": axis}
    if split_attribute is not None:
        attributes["split"] = split_attribute
    if num_outputs is not None:
        attributes["num_outputs"] = num_outputs
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Split", split_inputs, pieces, name="split", **attributes),
        helper.make_node("Concat", pieces[::-1], ["y"], name="concat", axis=axis),
    ]
    graph = helper.make_graph(nodes, "split", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="split_cases.py")
    m.ir_version = 8
    return m


def onnxruntime_verdict(m: onnx.ModelProto, channels: int, axis: int, outputs: int) -> dict:
    import onnxruntime as ort
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    probe.graph.output.extend(helper.make_tensor_value_info(f"piece{i}", TensorProto.FLOAT, None) for i in range(outputs))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    x = ((np.arange(channels * 6, dtype=np.float32) * 7) % 11 - 5).reshape(1, channels, 2, 3) / 4
    try:
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        y, *pieces = session.run(None, {"x": x})
    except Exception as error:  # onnxruntime's refusal, at load or at run time
        return {"accepted": False, "error": str(error).strip().splitlines()[0][:300]}
    return {"accepted": True, "piece_sizes": [int(p.shape[axis]) for p in pieces],
            "input": x.ravel().tolist(), "y": y.ravel().tolist()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.onnx"):
        old.unlink()
    cases = []
    for name, opset, channels, axis, outputs, split_attribute, split_input, num_outputs in CASES:
        m = model(opset, channels, axis, outputs, split_attribute, split_input, num_outputs)
        (OUT / f"{name}.onnx").write_bytes(m.SerializeToString())
        verdict = onnxruntime_verdict(m, channels, axis, outputs)
        cases.append({"name": name, "opset": opset, "channels": channels, "axis": axis, "outputs": outputs,
                      "split_attribute": split_attribute, "split_input": split_input, "num_outputs": num_outputs,
                      "onnxruntime": verdict})
        print(f"{name:42s} {'runs, pieces ' + str(verdict['piece_sizes']) if verdict['accepted'] else 'refused: ' + verdict['error'][:110]}")
    (OUT / "cases.json").write_text(json.dumps({"cases": cases}, indent=1) + "\n")


if __name__ == "__main__":
    main()

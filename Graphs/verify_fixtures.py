#!/usr/bin/env python3
"""Tiny ONNX files for the edge cases of `clrp verify` (Tests/CLITests/VerifyRobustnessTests.swift).

Written files (Tests/Fixtures/verify/, committed, a few hundred bytes each)
------------------------------------------------------------------------
no_nodes.onnx     a graph without nodes: its output is its input [N, 1, 4, 4]
zero_score.onnx   Flatten -> Gemm 'fc' with 2 classes; class 1 has zero weights and
                  bias, so it scores exactly 0 for every input (class 0 sums the pixels)

Usage:  python3 Graphs/verify_fixtures.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "verify"


def model(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "verify_fixture", inputs, outputs, initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="clrp verify_fixtures.py")
    m.ir_version = 8
    return m


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])
    onnx.save(model([], [x], [x], []), OUT / "no_nodes.onnx")

    w = np.zeros((2, 16), np.float32)
    w[0] = 1
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    zero = model(
        [helper.make_node("Flatten", ["x"], ["f"], name="flatten", axis=1),
         helper.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1)],
        [x], [y], [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(2, np.float32), "b")])
    onnx.save(zero, OUT / "zero_score.onnx")


if __name__ == "__main__":
    main()

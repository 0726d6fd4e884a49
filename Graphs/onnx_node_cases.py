#!/usr/bin/env python3
"""ONNX's own node conformance cases, rewritten as one-input models for clrp.

Collects `onnx.backend.test.case.node.collect_testcases()` (the cases of ONNX's backend test suite,
with their expected outputs computed by ONNX's reference implementation) for every operator clrp's
importer supports (the list `ONNXImporter.supportedOperators` in
Sources/Relevance/Import/ONNXImporter.swift, read from there and checked against the copy below)
and for the operators the CNN zoo needs (issue 9), and writes each usable case as
Tests/Fixtures/onnx-node-cases/<case>/{model.onnx, input.npy, expected.npy}.

clrp explains models with one float image input, so each case keeps its FIRST float input (with
data) as the graph input and turns every other input into an initializer holding the case's data.
A case is skipped, with the reason listed in manifest.json, when it is an "_expanded" case (the
operator written as a function of other operators), has several graph nodes or outputs (except
the optional extra outputs of LayerNormalization, Dropout and MaxPool, which are dropped), has no
float input, a non-float output, an empty float input or output, declares an opset older than 7 (clrp refuses
those for the whole file), or is large (> 64 kB of data: the committed set stays small), except the
only usable case of an operator, which is kept up to 256 kB (test_mish, 80 kB).

Writes manifest.json: {"cases": [{"name", "op_type", "opset", "input_shape", "output_shape",
"constant_inputs", "onnxruntime_vs_expected", "tolerance"}], "skipped": [{"name", "op_type", "reason"}], "supported_by_importer": [...],
"zoo_ops": [...]}. Each case is also run in onnxruntime (when it can): `onnxruntime_vs_expected` is its relative
distance to ONNX's expected output, and `tolerance` is 1e-4 (relative to max|expected|) unless
ONNX's expected output is hand-rounded (onnxruntime between 5e-5 and 1e-3 away), then twice that
distance.
Run: python3 Graphs/onnx_node_cases.py (about 10 s; needs onnx, numpy, onnxruntime).
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "onnx-node-cases"
IMPORTER = ROOT / "Sources" / "Relevance" / "Import" / "ONNXImporter.swift"
MAX_BYTES = 64_000
MAX_BYTES_SOLE_CASE = 256_000

# A copy of ONNXImporter.supportedOperators (its structuralOperators plus the ONNX names of the
# activations in ActivationRegistry.all and of the ops in OperatorRegistry.all), checked against
# the Swift sources when they are found.
IMPORTED_OPS = [
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Div", "Dropout", "Elu", "Erf", "Flatten", "Gather",
    "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity",
    "LRN", "LayerNormalization", "LeakyRelu", "MatMul", "Max", "MaxPool", "Min", "Mish", "Mul", "PRelu", "Pad",
    "Pow", "ReduceMax", "ReduceMean", "ReduceMin", "Relu", "Reshape", "Resize", "Selu", "Shape", "Sigmoid", "Slice",
    "Softmax", "Softplus", "Softsign", "Split", "Squeeze", "Sub", "Tanh", "ThresholdedRelu", "Transpose",
    "Unsqueeze", "Upsample",
]
# Operators the zoo's models need (issue 9; see the op histograms of Graphs/export_zoo.py).
ZOO_OPS = [
    "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Erf", "LayerNormalization", "Max", "Min",
    "ReduceMax", "ConvTranspose", "Resize", "Upsample", "Mul",
]


def registry_onnx_names(registry: Path, directory: Path) -> list[str] | None:
    """The `onnxNames` of every type listed in the registry file's `static let all` (types
    defined in directory/*.swift); None when they are not where this function looks."""
    if not (registry.exists() and directory.is_dir()):
        return None
    registered = re.search(r"static let all:[^=]*=\s*\[(.*?)\]", registry.read_text(), re.S)
    if not registered:
        return None
    sources = "\n".join(f.read_text() for f in sorted(directory.glob("*.swift")))
    names = []
    for type_name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\.self", registered.group(1)):
        body = re.search(r"struct " + type_name + r"\b.*?static let onnxNames(?::[^=]*)?\s*=\s*\[(.*?)\]", sources, re.S)
        if body is None:
            return None
        names += re.findall(r'"([A-Za-z]+)"', body.group(1))
    return names


def importer_ops() -> list[str] | None:
    """ONNXImporter.supportedOperators as the Swift sources define it: the importer's
    `structuralOperators`, the `onnxNames` of every activation type in `ActivationRegistry.all`
    and of every op type in `OperatorRegistry.all`; None when the sources no longer have these
    lists where this function looks."""
    ops = ROOT / "Sources" / "Relevance" / "Ops"
    if not IMPORTER.exists():
        return None
    structural = re.search(r"structuralOperators\s*=\s*\[(.*?)\]", IMPORTER.read_text(), re.S)
    activations = registry_onnx_names(ops / "ActivationFunction.swift", ops / "Activations")
    operators = registry_onnx_names(ops / "Operator.swift", ops / "Operators")
    if not structural or activations is None or operators is None:
        return None
    return re.findall(r'"([A-Za-z]+)"', structural.group(1)) + activations + operators


FLOAT = TensorProto.FLOAT
# Operators whose outputs after the first are optional statistics or masks: a case with several
# outputs keeps only the first (its node then lists one output), the others are dropped.
OPTIONAL_EXTRA_OUTPUTS = {"LayerNormalization": True, "Dropout": True, "MaxPool": True}
# Operators whose outputs are all results (Split's pieces): a case with several outputs becomes
# one case per output, "<case>__output<k>", whose node keeps every output and whose graph has
# output k only.
CASE_PER_OUTPUT = {"Split"}


def rewrite(case, max_bytes: int = MAX_BYTES, output: int = 0) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray, list[str]] | str:
    """The case as a one-input model, its input and expected output (of the node's output
    `output`, for CASE_PER_OUTPUT operators); or the reason to skip it."""
    graph = case.model.graph
    if case.name.endswith("_expanded") or "_expanded_" in case.name:
        return "expanded (a function of other operators)"
    if len(graph.node) != 1:
        return f"{len(graph.node)} nodes"
    opset = next((o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset < 7:
        return f"opset {opset} (clrp reads opset 7 and newer)"
    if not case.data_sets:
        return "no data"
    inputs, outputs = case.data_sets[0]
    inputs = [np.asarray(v) if isinstance(v, np.generic) else v for v in inputs]
    outputs = [np.asarray(v) if isinstance(v, np.generic) else v for v in outputs]
    if len(outputs) != len(graph.output) or not outputs:
        return "outputs and data differ in number"
    per_output = graph.node[0].op_type in CASE_PER_OUTPUT
    if len(outputs) > 1 and not OPTIONAL_EXTRA_OUTPUTS.get(graph.node[0].op_type) and not per_output:
        return f"{len(outputs)} outputs"
    expected = outputs[output]
    if not isinstance(expected, np.ndarray) or expected.dtype != np.float32:
        return f"output is {getattr(expected, 'dtype', type(expected).__name__)}, not float32"
    if expected.size == 0:
        return "empty output"
    if len(inputs) != len(graph.input):
        return "inputs and data differ in number"
    keep = None
    for i, (info, value) in enumerate(zip(graph.input, inputs)):
        if not isinstance(value, np.ndarray):
            return f"input '{info.name}' is a {type(value).__name__}, not a tensor"
        if value.size == 0 and (keep is None and value.dtype == np.float32):
            return f"input '{info.name}' is empty"
        if keep is None and value.size > 0 and info.type.tensor_type.elem_type == FLOAT and value.dtype == np.float32:
            keep = i
    if keep is None:
        return "no float32 input"
    total = sum(v.nbytes for v in inputs) + expected.nbytes
    if total > max_bytes:
        return f"large ({total / 1e3:.0f} kB of data)"

    initializers = [numpy_helper.from_array(v, info.name)
                    for i, (info, v) in enumerate(zip(graph.input, inputs)) if i != keep]
    value = inputs[keep]
    new_input = helper.make_tensor_value_info(graph.input[keep].name, FLOAT, list(value.shape))
    node = onnx.NodeProto()
    node.CopyFrom(graph.node[0])
    if not per_output:
        del node.output[1:]  # optional extra outputs (see OPTIONAL_EXTRA_OUTPUTS) are dropped
    new_graph = helper.make_graph([node], case.name, [new_input], [graph.output[output]], initializers)
    model = helper.make_model(new_graph, opset_imports=list(case.model.opset_import),
                              producer_name="onnx-node-case", ir_version=case.model.ir_version)
    onnx.checker.check_model(model)
    return model, value, expected, [info.name for i, info in enumerate(graph.input) if i != keep]


def onnxruntime_vs_expected(path: Path, value: np.ndarray, expected: np.ndarray) -> float | None:
    """max|onnxruntime - expected| / max|expected|, or None where onnxruntime cannot run the case."""
    try:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        out = session.run(None, {session.get_inputs()[0].name: value})[0]
    except Exception:  # an opset or operator onnxruntime does not implement, or onnxruntime missing
        return None
    if out.shape != expected.shape:
        return float("inf")
    return float(np.abs(out - expected).max() / max(float(np.abs(expected).max()), 1e-30))


def main() -> int:
    parsed = importer_ops()
    if parsed is None:
        print(f"note: could not read the operator lists of {IMPORTER.relative_to(ROOT)} and the activations; using the copy in this script")
    elif sorted(parsed) != sorted(IMPORTED_OPS):
        print(f"error: IMPORTED_OPS differs from {IMPORTER.relative_to(ROOT)}: "
              f"only there {sorted(set(parsed) - set(IMPORTED_OPS))}, only here {sorted(set(IMPORTED_OPS) - set(parsed))}; "
              "update the copy in this script")
        return 1
    wanted = set(IMPORTED_OPS) | set(ZOO_OPS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases
        cases = collect_testcases(None)
    # The cases are rewritten; other files there (README.md) stay.
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
    (OUT / "manifest.json").unlink(missing_ok=True)
    written, skipped = [], []
    results = {}
    for case in sorted(cases, key=lambda c: c.name):
        op_types = {n.op_type for n in case.model.graph.node}
        op_type = next(iter(op_types)) if len(op_types) == 1 else "+".join(sorted(op_types))
        if not op_types & wanted:
            continue
        if op_types <= CASE_PER_OUTPUT and len(case.model.graph.output) > 1:
            for k in range(len(case.model.graph.output)):
                results[f"{case.name}__output{k}"] = (case, op_type, rewrite(case, output=k))
        else:
            results[case.name] = (case, op_type, rewrite(case))
    usable = {op_type for _, op_type, result in results.values() if not isinstance(result, str)}
    for name, (case, op_type, result) in results.items():
        if isinstance(result, str) and result.startswith("large") and op_type not in usable:
            result = rewrite(case, MAX_BYTES_SOLE_CASE)  # the operator's only case
        if isinstance(result, str):
            skipped.append(dict(name=name, op_type=op_type, reason=result))
            continue
        model, value, expected, constants = result
        directory = OUT / name
        directory.mkdir()
        onnx.save(model, str(directory / "model.onnx"))
        np.save(directory / "input.npy", value)
        np.save(directory / "expected.npy", expected)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        ort_error = onnxruntime_vs_expected(directory / "model.onnx", value, expected)
        # ONNX writes some expected outputs by hand, rounded (e.g. averagepool_2d_ceil_last_window_
        # starts_on_pad, 5.6e-5 off): where onnxruntime is 5e-5 to 1e-3 from them, the case's
        # tolerance is twice onnxruntime's distance instead of 1e-4.
        # Larger distances (random training-mode Dropout, Resize align_corners downsampling, where
        # onnxruntime departs from ONNX's reference) keep 1e-4: ONNX's reference decides.
        tolerance = 2 * ort_error if ort_error is not None and 5e-5 < ort_error <= 1e-3 else 1e-4
        written.append(dict(name=name, op_type=op_type, opset=opset, input_shape=list(value.shape),
                            output_shape=list(expected.shape), constant_inputs=constants,
                            onnxruntime_vs_expected=ort_error, tolerance=tolerance))
    manifest = dict(source=f"onnx {onnx.__version__} onnx.backend.test.case.node.collect_testcases()",
                    supported_by_importer=IMPORTED_OPS, zoo_ops=ZOO_OPS, cases=written, skipped=skipped)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    by_op: dict[str, list[int]] = {}
    for c in written:
        by_op.setdefault(c["op_type"], [0, 0])[0] += 1
    for s in skipped:
        by_op.setdefault(s["op_type"], [0, 0])[1] += 1
    for op, (n, k) in sorted(by_op.items()):
        if "+" in op:
            continue
        print(f"{op:22s} written {n:3d}  skipped {k:3d}")
    print(f"{len(written)} cases written, {len(skipped)} skipped, {total / 1e6:.2f} MB in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

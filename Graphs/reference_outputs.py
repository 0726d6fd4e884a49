#!/usr/bin/env python3
"""onnxruntime reference outputs for clrp's fixture models.

For every ``*.onnx`` under ``Tests/Fixtures/models/`` (recursively):

* ``Tests/Fixtures/reference/<model>.input.npy``   seeded N(0,1) float32 input,
  batch 2, in the model's OWN layout (NHWC for keras_tf2onnx_small);
* ``Tests/Fixtures/reference/<model>.logits.npy``  onnxruntime output of the
  unmodified graph (CPUExecutionProvider, graph optimisations DISABLED,
  1 thread), float32.  For models ending in Softmax these are probabilities;
* ``Tests/Fixtures/reference/<model>.presoftmax.npy``  only for models whose
  output is produced by a Softmax node: output of a copy of the graph with that
  Softmax removed and its input made the graph output.  clrp strips a trailing
  Softmax, so this is what its forward pass must reproduce;
* ``Tests/Fixtures/reference/manifest.json`` describing all of the above
  (``compare_with`` names the file the Swift tests should compare against).

The seed of each input is crc32(<model name without "_bn">), so inputs are
stable across runs and machines; a "_bn" model gets the same input as its
sibling (googlenet_small / googlenet_bn_small are the same network, BN folded
by the exporter or not, so their reference outputs agree to ~1e-5).

Models named ``*_dynamo`` are left out: ``Graphs/export_dynamo.py`` writes their
references with its own inputs when it exports them (and ``Graphs/method_reference.py``
explains those inputs).

``--full`` does the same for ``Graphs/build/*.onnx`` (batch 1) into
``Graphs/build/reference/`` (+ manifest.json there) and prints logit std /
argmax as a sanity check.

Usage:  python3 Graphs/reference_outputs.py [--full]
"""

from __future__ import annotations

import argparse
import collections
import copy
import hashlib
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_MODELS = ROOT / "Tests" / "Fixtures" / "models"
FIXTURE_REF = ROOT / "Tests" / "Fixtures" / "reference"
BUILD_DIR = ROOT / "Graphs" / "build"
BUILD_REF = BUILD_DIR / "reference"


def make_session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1          # deterministic summation order
    so.inter_op_num_threads = 1
    so.log_severity_level = 3            # Caffe-style initializers-as-inputs warn otherwise
    src = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The single real input (graph inputs that are also initializers are weights)."""
    inits = {t.name for t in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits]
    assert len(real) == 1, f"expected exactly one data input, got {[i.name for i in real]}"
    return real[0]


def concrete_shape(vi: onnx.ValueInfoProto, batch: int) -> list[int]:
    dims = vi.type.tensor_type.shape.dim
    shape = []
    for i, d in enumerate(dims):
        if d.HasField("dim_value"):
            shape.append(d.dim_value)
        else:
            assert i == 0, f"{vi.name}: only the batch dim may be symbolic"
            shape.append(batch)
    return shape


def trailing_softmax(model: onnx.ModelProto) -> onnx.NodeProto | None:
    out = model.graph.output[0].name
    producer = [n for n in model.graph.node if out in n.output]
    return producer[0] if producer and producer[0].op_type == "Softmax" else None


def strip_softmax(model: onnx.ModelProto, softmax: onnx.NodeProto) -> onnx.ModelProto:
    """Copy of `model` without the final Softmax; its input becomes the output."""
    m = copy.deepcopy(model)
    idx = [i for i, n in enumerate(m.graph.node) if n.output == softmax.output][0]
    del m.graph.node[idx]
    del m.graph.output[:]
    m.graph.output.append(helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, None))
    return m


def opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def op_counts(model: onnx.ModelProto) -> dict:
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def layout(shape: list[int]) -> str:
    if len(shape) == 4 and shape[-1] == 3 and shape[1] != 3:
        return "NHWC"
    return "NCHW" if len(shape) == 4 else f"rank{len(shape)}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def process(path: Path, models_root: Path, ref_dir: Path, batch: int) -> dict:
    name = path.stem
    model = onnx.load(str(path))                      # also loads external data
    has_external = any(
        t.data_location == onnx.TensorProto.EXTERNAL
        for t in onnx.load(str(path), load_external_data=False).graph.initializer)
    inp = data_input(model)
    shape = concrete_shape(inp, batch)
    # "_bn" variants share their sibling's input (googlenet_small and
    # googlenet_bn_small are the same function => identical reference logits)
    rng = np.random.default_rng(zlib.crc32(name.replace("_bn", "").encode()))
    x = rng.standard_normal(shape).astype(np.float32)

    sess = make_session(path)
    out_name = model.graph.output[0].name
    y = sess.run([out_name], {inp.name: x})[0].astype(np.float32)

    ref_dir.mkdir(parents=True, exist_ok=True)
    files = {"input": f"{name}.input.npy", "logits": f"{name}.logits.npy"}
    np.save(ref_dir / files["input"], x)
    np.save(ref_dir / files["logits"], y)

    sm = trailing_softmax(model)
    pre = None
    if sm is not None:
        stripped = strip_softmax(model, sm)
        pre = make_session(stripped).run([sm.input[0]], {inp.name: x})[0].astype(np.float32)
        files["presoftmax"] = f"{name}.presoftmax.npy"
        np.save(ref_dir / files["presoftmax"], pre)
        # sanity: softmax(presoftmax) == probabilities
        e = np.exp(pre - pre.max(axis=1, keepdims=True))
        assert np.allclose(e / e.sum(axis=1, keepdims=True), y, atol=1e-6)

    logits = pre if pre is not None else y
    base = models_root.parent                 # all manifest paths are relative to this
    rel = lambda p: p.relative_to(base).as_posix()  # noqa: E731
    data_files = [rel(path)]
    if has_external:
        data_files += sorted({rel(path.parent / {e.key: e.value for e in t.external_data}["location"])
                              for t in onnx.load(str(path), load_external_data=False).graph.initializer
                              if t.data_location == onnx.TensorProto.EXTERNAL})
    files = {k: rel(ref_dir / v) for k, v in files.items()}
    entry = {
        "name": name,
        "model": rel(path),
        "model_sha256": sha256(path),
        "external_data": has_external,
        "files": data_files,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opset": opset(model),
        "input_name": inp.name,
        "input_file": files["input"],
        "input_shape": shape,
        "input_layout": layout(shape),
        "output_name": out_name,
        "output_file": files["logits"],
        "output_shape": list(y.shape),
        "softmax_stripped": sm is not None,
        "presoftmax_output_name": sm.input[0] if sm is not None else None,
        "presoftmax_file": files.get("presoftmax"),
        "compare_with": files.get("presoftmax", files["logits"]),
        "logits_std": float(logits.std()),
        "logits_absmax": float(np.abs(logits).max()),
        "argmax": logits.argmax(axis=1).tolist(),
        "op_counts": op_counts(model),
    }
    print(f"{entry['model']}: in {inp.name}{shape} {entry['input_layout']} -> {out_name}{list(y.shape)}"
          f"{'  (+presoftmax)' if sm is not None else ''}  logits std={entry['logits_std']:.4f} "
          f"argmax={entry['argmax']}")
    return entry


def run(models: list[Path], models_root: Path, ref_dir: Path, batch: int) -> None:
    entries = [process(p, models_root, ref_dir, batch) for p in models]
    manifest = {
        "generator": "Graphs/reference_outputs.py",
        "paths_relative_to": models_root.parent.relative_to(ROOT).as_posix(),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "execution": "CPUExecutionProvider, ORT_DISABLE_ALL, 1 thread",
        "batch": batch,
        "note": "compare_with = file clrp's forward pass must match (pre-softmax logits "
                "when the graph ends in Softmax, since clrp strips it).",
        "models": entries,
    }
    (ref_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(entries)} models -> {(ref_dir / 'manifest.json').relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also Graphs/build/*.onnx -> Graphs/build/reference/")
    args = ap.parse_args()
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    run(sorted(p for p in FIXTURE_MODELS.rglob("*.onnx") if not p.stem.endswith("_dynamo")), FIXTURE_MODELS, FIXTURE_REF, batch=2)
    if args.full:
        run(sorted(BUILD_DIR.glob("*.onnx")), BUILD_DIR, BUILD_REF, batch=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

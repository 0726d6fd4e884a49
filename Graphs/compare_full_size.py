#!/usr/bin/env python3
"""Forward logits of clrp against onnxruntime's on the full-size models in Graphs/build.

Needs the exports and references (`python3 Graphs/export_torchvision.py`,
`python3 Graphs/handbuilt_graphs.py`, `python3 Graphs/reference_outputs.py --full`) and a
release build (`swift build -c release`). Prints one line per model:
relative error = max |clrp - onnxruntime| / max |onnxruntime|, which must stay below 1e-4.
"""
import pathlib, subprocess, sys, tempfile

import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
build = root / "Graphs" / "build"
clrp = root / ".build" / "release" / "clrp"
worst = 0.0
for model in sorted(build.glob("*.onnx")):
    ref_dir = build / "reference"
    inp = ref_dir / f"{model.stem}.input.npy"
    expected = ref_dir / f"{model.stem}.presoftmax.npy"
    if not expected.exists():
        expected = ref_dir / f"{model.stem}.logits.npy"
    if not inp.exists():
        print(f"{model.name}: no reference input, skipped")
        continue
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "logits.npy"
        run = subprocess.run([str(clrp), "classify", str(model), str(inp), "--output", str(out), "--top", "1"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{model.name}: clrp failed: {run.stderr.strip()}")
            worst = float("inf")
            continue
        ours = np.load(out)
    ref = np.load(expected)
    err = float(np.abs(ours.reshape(ref.shape) - ref).max() / np.abs(ref).max())
    worst = max(worst, err)
    print(f"{model.name:22s} relative error {err:.2e}   argmax clrp {int(ours.argmax())} onnxruntime {int(ref.argmax())}")
print(f"worst {worst:.2e}: {'PASS' if worst < 1e-4 else 'FAIL'} (tolerance 1e-4)")
sys.exit(0 if worst < 1e-4 else 1)

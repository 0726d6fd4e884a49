#!/usr/bin/env python3
"""Why clrp's gradient maps of googlenet_small differ from the float64 reference.

Prints the figures quoted in Tests/RelevanceTests/MethodReferenceTests.swift:
1. per conv layer, min |pre-activation| / max |pre-activation| on the fixture input in float64
   (the smallest are ~5e-6, below float32 rounding of a conv output);
2. central differences of the class-0 logit (float64 torch) along the direction in which
   clrp's gradient map and the reference map differ, for h = 1e-2 ... 1e-6, next to the two
   maps' directional derivatives: the difference quotient jumps between them, so the gradient
   is not defined to float32 precision at this input.

Needs a release build (`swift build -c release`) and the packages of method_reference.py.
Run: python3 Graphs/near_kinks.py
"""
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import method_reference as mr

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"


def main() -> None:
    ctx = mr.load_small("googlenet_small")
    model = ctx.model[mr.F64].eval()
    x = torch.from_numpy(np.load(FIXTURES / "relevance" / "googlenet_small.input.npy")).double()

    rows = []
    def hook(name):
        def h(module, inputs, output):
            z = output.detach().abs()
            rows.append((float(z.min() / z.max()), name))
        return h
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook(name))
    with torch.no_grad():
        model(x)
    print("smallest |pre-activation| / layer max (float64):")
    for ratio, name in sorted(rows)[:5]:
        print(f"  {name:32s} {ratio:.2e}")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gradient.npy"
        subprocess.run([str(ROOT / ".build" / "release" / "clrp"), "explain", str(FIXTURES / "models" / "googlenet_small.onnx"),
                        str(FIXTURES / "relevance" / "googlenet_small.input.npy"), "--method", "gradient", "--class", "0",
                        "--output", str(out)], check=True, capture_output=True)
        a = torch.from_numpy(np.load(out)).double()[None]
    b = torch.from_numpy(np.load(FIXTURES / "methods" / "googlenet_small.gradient.0.npy")).double()[None]
    d = (a - b) / (a - b).norm()
    print(f"directional derivative along (clrp - reference): clrp {float((a * d).sum()):.2f}, reference {float((b * d).sum()):.2f}")
    for h in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]:
        with torch.no_grad():
            q = (model(x + h * d)[0, 0] - model(x - h * d)[0, 0]) / (2 * h)
        print(f"  central difference, h = {h:g}: {float(q):.2f}")


if __name__ == "__main__":
    main()

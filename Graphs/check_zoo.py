#!/usr/bin/env python3
"""Run clrp on every full-size zoo export of Graphs/export_zoo.py and print what works.

For each Graphs/build/zoo/<model>_<exporter>.onnx (see its manifest.json):
  * `clrp classify` on the seeded input, compared with onnxruntime's logits:
    PASS when max|clrp - onnxruntime| <= 1e-4 * max|logit|;
  * `clrp verify --rules <preset> --preprocess imagenet` on the same input: conserved or not, and
    the leak 1 - (input relevance / score);
  * `clrp inspect` (must succeed; its parameter and MAC totals are printed);
then a table: model, exporter, op types, classify status, max diff, verify status, leak. A model
with an operator clrp does not have shows the importer's refusal (expected until the ops land).
The op-type histogram of every export follows the table.

The preset per model: the first of its family presets (FAMILY below, e.g. Rules/efficientnet.yaml,
then Rules/mobilenet.yaml; issue 9's family presets) that exists, else `paper`; `--rules NAME` uses
NAME for all.

With --keras it checks Graphs/build/keras/ instead (Graphs/export_keras.py: Keras applications
through tf2onnx, NHWC input, opsets 13 and 17): the same three commands, verify with the export's
own `<model>.preprocess.yaml` (the z^B bounds of the family's preprocess_input) and the family
preset of KERAS_FAMILY.

Usage: python3 Graphs/check_zoo.py [CLRP_BINARY] [--rules NAME] [--only resnet50 ...] [--keras]
(default binary .build/release/clrp; build it with `swift build -c release`). Exit status 1 when
any classify fails or differs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "Graphs" / "build" / "zoo"
KERAS = ROOT / "Graphs" / "build" / "keras"
# Preset files tried in order per model (the first that exists in Rules/ is used, else `paper`).
FAMILY = {
    "resnet50": ["resnet"], "densenet121": ["densenet", "resnet"],
    "mobilenet_v3_large": ["mobilenet"], "efficientnet_b0": ["efficientnet", "mobilenet"],
    "squeezenet1_1": ["squeezenet"], "inception_v3": ["inception", "googlenet"],
    "regnet_y_400mf": ["regnet", "resnet"], "convnext_tiny": ["convnext", "resnet"],
    "resnext50_32x4d": ["resnet"], "regnet_x_400mf": ["regnet", "resnet"], "mobilenet_v2": ["mobilenet"],
    "mnasnet1_0": ["mobilenet"], "shufflenet_v2_x1_0": ["mobilenet"], "efficientnet_v2_s": ["mobilenet"],
}
# The Keras applications of Graphs/export_keras.py, by the same families.
KERAS_FAMILY = {
    "MobileNetV2": ["mobilenet"], "MobileNetV3Small": ["mobilenet"], "EfficientNetB0": ["efficientnet", "mobilenet"],
    "ResNet50": ["resnet"], "DenseNet121": ["densenet", "resnet"], "ConvNeXtTiny": ["convnext", "resnet"],
    "Xception": ["mobilenet"], "InceptionV3": ["inception"], "VGG16": ["paper"],
}


def first_line(text: str, limit: int = 160) -> str:
    line = next((l for l in text.strip().splitlines() if l.strip()), "")
    line = line.replace(str(ROOT) + "/", "")
    if "is not supported; supported:" in line:
        line = line[:line.index("; supported:")]
    return line[:limit]


def preset_for(model: str, override: str | None) -> str:
    if override:
        return override
    families = {**FAMILY, **KERAS_FAMILY}
    return next((f for f in families.get(model, [model]) if (ROOT / "Rules" / f"{f}.yaml").exists()), "paper")


def check(clrp: Path, key: str, entry: dict, rules: str | None, folder: Path = ZOO) -> dict:
    model = folder / entry["file"]
    inp = folder / entry["input_file"]
    expected = np.load(folder / entry["logits_file"])
    preprocess = str(folder / entry["preprocess_file"]) if "preprocess_file" in entry else "imagenet"
    row = dict(model=entry["model"], exporter=entry["exporter"], ops=len(entry["ops"]), nodes=sum(entry["ops"].values()),
               preset=preset_for(entry["model"], rules))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "logits.npy"
        run = subprocess.run([str(clrp), "classify", str(model), str(inp), "--output", str(out), "--top", "1"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            row.update(classify="refused", diff=None, why=first_line(run.stderr))
        else:
            ours = np.load(out).reshape(expected.shape)
            diff = float(np.abs(ours - expected).max())
            scale = float(np.abs(expected).max())
            row.update(classify="PASS" if diff <= 1e-4 * scale else "FAIL", diff=diff / scale)
    run = subprocess.run([str(clrp), "verify", str(model), "--rules", row["preset"], "--preprocess", preprocess,
                          "--input", str(inp), "--json"], capture_output=True, text=True)
    try:
        report = json.loads(run.stdout)
        row.update(verify="conserved" if report["conserved"] else "LEAKS", leak=1 - report["input_ratio"],
                   ratio=report["input_ratio"], score=report["score"], failures=report.get("failures"),
                   zero_losses=report.get("zero_denominator_losses"))
        if report["conserved"] and report.get("zero_denominator_losses"):
            row["verify"] = "zero denominators"
    except (json.JSONDecodeError, KeyError):
        row.update(verify="refused", leak=None, verify_why=first_line(run.stderr or run.stdout))
    run = subprocess.run([str(clrp), "inspect", str(model), "--json"], capture_output=True, text=True)
    if run.returncode == 0:
        report = json.loads(run.stdout)
        row.update(inspect="ok", params=report.get("total_params"), macs=report.get("total_macs"))
    else:
        row.update(inspect="refused", inspect_why=first_line(run.stderr))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clrp", nargs="?", default=str(ROOT / ".build" / "release" / "clrp"))
    parser.add_argument("--rules", default=None, help="one preset for every model")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--keras", action="store_true", help="check Graphs/build/keras (export_keras.py) instead")
    args = parser.parse_args()
    folder = KERAS if args.keras else ZOO
    manifest = json.loads((folder / "manifest.json").read_text())
    rows, histograms = [], {}
    for key, entry in sorted(manifest.items()):
        if args.only and entry["model"] not in args.only:
            continue
        if "error" in entry:
            rows.append(dict(model=entry["model"], exporter=entry["exporter"], ops=0, classify="no export",
                             diff=None, verify="-", leak=None, why=entry["error"][:120]))
            continue
        histograms[key] = entry["ops"]
        rows.append(check(Path(args.clrp), key, entry, args.rules, folder))
        print(f"checked {key}", file=sys.stderr, flush=True)

    print("| model | exporter | nodes | op types | classify | max diff / max logit | preset | verify | input / score | leak | inspect |")
    print("|---|---|---:|---:|---|---:|---|---|---:|---:|---|")
    for r in rows:
        diff = f"{r['diff']:.1e}" if r.get("diff") is not None else "-"
        leak = f"{r['leak']:.1e}" if r.get("leak") is not None else "-"
        inspect = r.get("inspect", "-")
        if r.get("params"):
            inspect += f" ({r['params'] / 1e6:.1f} M params, {r['macs'] / 1e9:.2f} GMAC)"
        ratio = f"{r['ratio']:.6f}" if r.get("ratio") is not None else "-"
        print(f"| {r['model']} | {r['exporter']} | {r.get('nodes', '-')} | {r['ops']} | {r['classify']} | {diff} | {r.get('preset', '-')} "
              f"| {r['verify']} | {ratio} | {leak} | {inspect} |")
    details = {f"{r['model']}_{r['exporter']}": (r.get("failures") or []) + (r.get("zero_losses") or []) for r in rows}
    if any(details.values()):
        print("\nnodes that do not conserve (verify's failures, then losses at zero denominators):")
        for key, lines in details.items():
            for line in lines:
                print(f"  {key}: {line}")
    reasons = {f"{r['model']}_{r['exporter']}": r.get("why") or r.get("verify_why") or r.get("inspect_why") for r in rows
               if r.get("why") or r.get("verify_why") or r.get("inspect_why")}
    if reasons:
        print("\nrefusals:")
        for key, why in reasons.items():
            print(f"  {key}: {why}")
    ops = sorted({op for h in histograms.values() for op in h})
    print("\nop-type histogram (nodes per op type):\n")
    print("| op | " + " | ".join(k.replace("_legacy", " L").replace("_dynamo", " D") for k in histograms) + " |")
    print("|---|" + "---:|" * len(histograms))
    for op in ops:
        print(f"| {op} | " + " | ".join(str(h.get(op, "")) for h in histograms.values()) + " |")
    bad = [r for r in rows if r["classify"] in ("FAIL",)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Train three small CNNs on the Shapes dataset and export them to ONNX.

    python3 Graphs/shapes/generate.py     # the committed test fixtures (needed for the multi-object score)
    python3 Graphs/shapes/train.py        # all three models (about 15-20 min on 2 CPU cores)
    python3 Graphs/shapes/train.py --only shapes-vgg

Writes Tests/Fixtures/models/{shapes-alexnet,shapes-vgg,shapes-googlenet}.onnx and
Graphs/shapes/models.json (accuracies, parameter counts, sizes, hashes).  The
training images (SEED_TRAIN) are generated once and cached in
Graphs/build/shapes/ (git-ignored).

Inputs are what clrp's `--preprocess imagenet` makes of a 64x64 image: PIL
BILINEAR resize to 73x73, centre crop 64 (offset 4), x = (p/255 - mean)/std with
torchvision's ImageNet mean/std.  The models contain no normalization.

Export: legacy TorchScript exporter (dynamo=False), opset 13, input `input`
[batch, 3, 64, 64], output `logits` [batch, 11], dynamic batch axis, constant
folding on.  Checked with onnx.checker (full_check) and against torch with
onnxruntime (max |diff| <= 1e-4 * max |logit|).

Determinism: seeds everywhere, torch.use_deterministic_algorithms(True), 2
threads; the data order comes from a seeded torch.Generator.
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as G  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "Tests" / "Fixtures" / "models"
CACHE_DIR = ROOT / "Graphs" / "build" / "shapes"
MODELS_JSON = Path(__file__).resolve().parent / "models.json"
FIXTURES = G.OUT_DIR

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
NC = len(G.CLASSES)
N_TRAIN = 40000
N_TEST_SINGLE = 2000
OPSET = 13
MAX_BYTES = 5 * 1024 * 1024


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def conv_bn(cin, cout, kernel_size, stride=1, padding=0):
    """Conv2d + BatchNorm2d.  BatchNorm only speeds up training: in eval mode the
    exporter folds it into the conv's weights and bias (constant folding), so the
    ONNX files hold plain Conv nodes (checked in verify())."""
    return [nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(cout)]


def _lrn(x, size: int, alpha: float, beta: float, k: float):
    """x / (k + alpha/size * sum of x^2 over `size` neighbouring channels)^beta
    (the window is [c - size//2, c + (size-1)//2], as in ONNX LRN and torch)."""
    sq = F.pad(x * x, (0, 0, 0, 0, size // 2, (size - 1) // 2))
    c = x.shape[1]
    s = sum(sq[:, i:i + c] for i in range(size))
    return x / (k + alpha / size * s) ** beta


LRN_PARAMS = dict(size=5, alpha=0.02, beta=0.75, k=2.0)
LRN_PLACEHOLDER = "Erf"   # not used otherwise in these models


class LRN(nn.LocalResponseNorm):
    """nn.LocalResponseNorm with a faster, equivalent forward for training, exported as
    one ONNX LRN node.  torch's legacy exporter has no LRN symbolic (it traces
    F.local_response_norm into Pad/AveragePool/Pow/Div and shape arithmetic, and an
    autograd.Function with `symbolic` trips its peephole pass), so during export the
    layer writes a placeholder Erf node, and export() renames each Erf to LRN with
    LRN_PARAMS.  verify() then checks the file against torch's real forward."""

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            assert dict(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k) == LRN_PARAMS
            return torch.erf(x)
        return _lrn(x, self.size, self.alpha, self.beta, self.k)


class ShapesAlexNet(nn.Module):
    """AlexNet-style: 7x7 stride-2 conv, LRN, overlapping 3x3/2 max pools (two with
    ceil_mode, where floor and ceil differ), dense layers with dropout."""

    def __init__(self, classes: int = NC) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(3, 24, kernel_size=7, stride=2, padding=3),      # 64 -> 32
            nn.ReLU(),
            LRN(**LRN_PARAMS),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),                # 32 -> 16 (floor: 15)
            *conv_bn(24, 48, kernel_size=5, padding=2),
            nn.ReLU(),
            LRN(**LRN_PARAMS),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),                # 16 -> 8 (floor: 7)
            *conv_bn(48, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            *conv_bn(64, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            *conv_bn(64, 48, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),                                # 8 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.25),
            nn.Linear(48 * 3 * 3, 256),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class ShapesVGG(nn.Module):
    """VGG-style: stacks of 3x3 convs, 2x2 max pools, three dense layers."""

    CFG = [16, "M", 32, "M", 48, 48, "M", 96, 96, "M"]

    def __init__(self, classes: int = NC) -> None:
        super().__init__()
        layers, c = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [*conv_bn(c, v, 3, padding=1), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)                          # 64 -> 4
        self.classifier = nn.Sequential(
            nn.Linear(96 * 4 * 4, 256),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(256, classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Conv(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__(*conv_bn(cin, cout, k, stride=stride, padding=padding), nn.ReLU())


class Inception(nn.Module):
    """GoogLeNet inception block: 1x1 | 1x1-3x3 | 1x1-5x5 | 3x3/1 max pool (pad 1)-1x1, concat."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp):
        super().__init__()
        self.b1 = Conv(cin, c1, 1)
        self.b2 = nn.Sequential(Conv(cin, c3r, 1), Conv(c3r, c3, 3, padding=1))
        self.b3 = nn.Sequential(Conv(cin, c5r, 1), Conv(c5r, c5, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), Conv(cin, cp, 1))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class ShapesGoogLeNet(nn.Module):
    """GoogLeNet-style: stem, four inception blocks, ceil-mode max pools, one 2x2
    average pool, global average pool, dropout, one dense layer."""

    def __init__(self, classes: int = NC) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            Conv(3, 24, 5, stride=2, padding=2),                  # 64 -> 32
            nn.MaxPool2d(3, stride=2, ceil_mode=True),             # 32 -> 16 (floor: 15)
            Conv(24, 24, 1),
            Conv(24, 48, 3, padding=1),
        )
        self.inception3a = Inception(48, 16, 16, 24, 8, 8, 8)         # -> 56
        self.pool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)        # 16 -> 8 (floor: 7)
        self.inception4a = Inception(56, 24, 24, 40, 8, 16, 16)       # -> 96
        self.inception4b = Inception(96, 32, 24, 48, 8, 16, 16)       # -> 112
        self.pool4 = nn.AvgPool2d(2, stride=2)                         # 8 -> 4
        self.inception5a = Inception(112, 40, 32, 56, 12, 24, 24)     # -> 144
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(144, classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.inception3a(x)
        x = self.inception4b(self.inception4a(self.pool3(x)))
        x = self.inception5a(self.pool4(x))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(self.dropout(x))


# name -> (builder, seed, epochs, learning rate)
MODELS = {
    "shapes-alexnet": (ShapesAlexNet, 3001, 5, 1e-3),
    "shapes-vgg": (ShapesVGG, 3002, 5, 1e-3),
    "shapes-googlenet": (ShapesGoogLeNet, 3003, 3, 1e-3),
}


def init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        # nn.Linear keeps PyTorch's default init (smaller than Kaiming: gentler start)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def normalize(u8: np.ndarray) -> torch.Tensor:
    """uint8 N x 64 x 64 x 3 (already through imagenet_geometry) -> float N x 3 x 64 x 64."""
    x = (u8.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def single_set(seed: int, n: int, name: str):
    """(uint8 N x 64 x 64 x 3 after the imagenet geometry, int64 labels), cached."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{name}_{seed}_{n}.npz"
    if path.exists():
        z = np.load(path)
        return z["x"], z["y"]
    t = time.time()
    xs = np.empty((n, G.SIZE, G.SIZE, 3), np.uint8)
    ys = np.empty(n, np.int64)
    for i in range(n):
        img, c = G.single_object(seed, i)
        xs[i] = G.imagenet_geometry(img)
        ys[i] = c
    np.savez(path, x=xs, y=ys)
    print(f"generated {n} {name} images in {time.time() - t:.0f} s -> {path.relative_to(ROOT)}", flush=True)
    return xs, ys


def multi_set():
    """The committed multi-object test PNGs (through the imagenet geometry) and their class sets."""
    ann = json.loads((FIXTURES / "annotations.json").read_text())
    xs = np.stack([G.imagenet_geometry(Image.open(FIXTURES / im["file"]).convert("RGB")) for im in ann["images"]])
    present = [sorted({o["class"] for o in im["objects"]}) for im in ann["images"]]
    return xs, present


# --------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------

@torch.no_grad()
def logits_of(model, xs_u8: np.ndarray, bs: int = 500) -> np.ndarray:
    model.eval()
    return np.concatenate([model(normalize(xs_u8[i:i + bs])).numpy() for i in range(0, len(xs_u8), bs)])


def scores(logits: np.ndarray, labels=None, present=None) -> dict:
    if labels is not None:
        return {"top1": float((logits.argmax(1) == labels).mean())}
    top2 = np.argsort(-logits, axis=1)[:, :2]
    ok2 = [set(t.tolist()) <= set(p) for t, p in zip(top2, present)]
    ok1 = [int(t[0]) in p for t, p in zip(top2, present)]
    return {"top2_both_present": float(np.mean(ok2)), "top1_present": float(np.mean(ok1))}


def train(name: str, epochs_override: int | None = None) -> dict:
    build, seed, epochs, lr = MODELS[name]
    epochs = epochs_override or epochs
    torch.manual_seed(seed)
    model = build()
    init_weights(model)
    xtr, ytr = single_set(G.SEED_TRAIN, N_TRAIN, "train")
    xte, yte = single_set(G.SEED_TEST_SINGLE, N_TEST_SINGLE, "test_single")
    xmu, present = multi_set()
    ytr_t = torch.from_numpy(ytr)

    bs = 32
    steps = epochs * (N_TRAIN // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(seed + 1)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(N_TRAIN, generator=gen)
        tot, n = 0.0, 0
        for b in range(N_TRAIN // bs):
            idx = perm[b * bs:(b + 1) * bs]
            x, y = normalize(xtr[idx.numpy()]), ytr_t[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
            n += len(idx)
        acc = scores(logits_of(model, xte), labels=yte)["top1"]
        print(f"{name} epoch {ep + 1}/{epochs}: loss {tot / n:.4f}, single-object test acc {acc:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    train_time = time.time() - t0

    single = scores(logits_of(model, xte), labels=yte)
    multi = scores(logits_of(model, xmu), present=present)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), CACHE_DIR / f"{name}.pt")   # git-ignored
    path = MODEL_DIR / f"{name}.onnx"
    export(model, path)
    check = verify(model, path, xte, yte, xmu, present)
    ex = example_check(model)
    info = {
        "file": str(path.relative_to(ROOT)),
        "size_bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "epochs": epochs,
        "train_images": N_TRAIN,
        "train_seconds": round(train_time),
        "single_object_test": {"images": N_TEST_SINGLE, **single},
        "multi_object_test": {"images": len(xmu), **multi},
        "onnxruntime": check,
        "example": ex,
    }
    print(json.dumps({name: info}, indent=1), flush=True)
    assert info["size_bytes"] <= MAX_BYTES, f"{name}: {info['size_bytes']} bytes"
    return info


# --------------------------------------------------------------------------
# Export and checks
# --------------------------------------------------------------------------

def export(model: nn.Module, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 3, G.SIZE, G.SIZE)
    kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        opset_version=OPSET,
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
        export_params=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), **kwargs)
    proto = onnx.load(str(path))
    placeholders = [n for n in proto.graph.node if n.op_type == LRN_PLACEHOLDER]
    for node in placeholders:
        node.op_type = "LRN"
        node.name = node.name.replace(LRN_PLACEHOLDER, "LRN")
        p = LRN_PARAMS
        node.attribute.extend([onnx.helper.make_attribute("size", p["size"]),
                               onnx.helper.make_attribute("alpha", p["alpha"]),
                               onnx.helper.make_attribute("beta", p["beta"]),
                               onnx.helper.make_attribute("bias", p["k"])])
    add_labels(proto)
    onnx.save(proto, str(path))


def add_labels(proto) -> None:
    """The class names as the model's `labels` metadata (a JSON list), which clrp shows."""
    names = (ROOT / "Tests" / "Fixtures" / "shapes" / "labels.txt").read_text().split()
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {"labels": json.dumps(names)})


@torch.no_grad()
def verify(model, path: Path, xte, yte, xmu, present) -> dict:
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = normalize(xmu[:64])
    ref = model(x).numpy()
    out = sess.run(["logits"], {"input": x.numpy()})[0]
    diff = float(np.abs(out - ref).max())
    absmax = float(np.abs(ref).max())
    assert "BatchNormalization" not in ops, f"{path.name}: BatchNorm was not folded"
    allowed = {"Conv", "Relu", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Flatten", "Gemm"}
    assert set(ops) <= allowed, f"{path.name}: unexpected ops {sorted(set(ops) - allowed)}"
    assert diff <= 1e-4 * absmax, f"{path.name}: onnxruntime differs from torch by {diff} (max |logit| {absmax})"
    ort_single = np.concatenate([sess.run(["logits"], {"input": normalize(xte[i:i + 500]).numpy()})[0]
                                 for i in range(0, len(xte), 500)])
    ort_multi = sess.run(["logits"], {"input": normalize(xmu).numpy()})[0]
    return {"max_abs_diff_vs_torch": diff, "max_abs_logit": absmax, "ops": dict(sorted(ops.items())),
            "single_object_top1": scores(ort_single, labels=yte)["top1"],
            "multi_object_top2_both_present": scores(ort_multi, present=present)["top2_both_present"]}


@torch.no_grad()
def example_check(model) -> dict:
    ex = json.loads((FIXTURES / "example.json").read_text())
    img = Image.open(FIXTURES / ex["file"]).convert("RGB")
    logits = logits_of(model, G.imagenet_geometry(img)[None])[0]
    top2 = [int(i) for i in np.argsort(-logits)[:2]]
    want = sorted(o["class"] for o in ex["objects"])
    return {"top2": [G.CLASSES[i] for i in top2], "correct": sorted(top2) == want}


def example_check_onnx(path: Path) -> dict:
    """example_check() with onnxruntime on an exported file."""
    ex = json.loads((FIXTURES / "example.json").read_text())
    img = Image.open(FIXTURES / ex["file"]).convert("RGB")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"input": normalize(G.imagenet_geometry(img)[None]).numpy()})[0][0]
    top2 = [int(i) for i in np.argsort(-logits)[:2]]
    want = sorted(o["class"] for o in ex["objects"])
    return {"top2": [G.CLASSES[i] for i in top2], "correct": sorted(top2) == want}


README = Path(__file__).resolve().parent / "README.md"


def write_readme_table() -> None:
    """Rewrite the results table in README.md from models.json."""
    table = json.loads(MODELS_JSON.read_text())
    rows = ["| model | parameters | ONNX size | ops | epochs | single-object top-1 (2 000) | "
            "multi-object top-2 both present (600) | multi-object top-1 present | example | ORT vs torch |",
            "|---|---:|---:|---|---:|---:|---:|---:|---|---:|"]
    for name, v in table.items():
        ops = ", ".join(f"{k} {n}" for k, n in v["onnxruntime"]["ops"].items())
        rows.append(f"| `{name}.onnx` | {v['parameters']:,} | {v['size_bytes'] / 1e6:.2f} MB | {ops} | {v['epochs']} | "
                    f"{100 * v['single_object_test']['top1']:.2f} % | "
                    f"{100 * v['multi_object_test']['top2_both_present']:.1f} % | "
                    f"{100 * v['multi_object_test']['top1_present']:.1f} % | "
                    f"{' + '.join(v['example']['top2'])} {'✓' if v['example']['correct'] else '✗'} | "
                    f"{v['onnxruntime']['max_abs_diff_vs_torch']:.1e} |")
    text = README.read_text()
    a, b = "<!-- BEGIN RESULTS (train.py) -->\n", "<!-- END RESULTS -->"
    i, j = text.index(a) + len(a), text.index(b)
    README.write_text(text[:i] + "\n".join(rows) + "\n" + text[j:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, choices=list(MODELS))
    ap.add_argument("--epochs", type=int, default=None, help="override the epochs (for quick trials)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    ap.add_argument("--check-example", action="store_true",
                    help="only re-check the example image with the committed ONNX files (updates models.json)")
    args = ap.parse_args()
    if args.check_example:
        table = json.loads(MODELS_JSON.read_text())
        for name in table:
            table[name]["example"] = example_check_onnx(ROOT / table[name]["file"])
            print(name, table[name]["example"])
        MODELS_JSON.write_text(json.dumps(table, indent=1) + "\n")
        write_readme_table()
        return 0 if all(v["example"]["correct"] for v in table.values()) else 1
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}", flush=True)
    for name in MODELS:
        if args.only and name not in args.only:
            continue
        info = train(name, args.epochs)
        # re-read just before writing: several --only runs may share the file
        table = json.loads(MODELS_JSON.read_text()) if MODELS_JSON.exists() else {}
        table[name] = info
        table = {k: table[k] for k in MODELS if k in table}
        MODELS_JSON.write_text(json.dumps(table, indent=1) + "\n")
        write_readme_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())

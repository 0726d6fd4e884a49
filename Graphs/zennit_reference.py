#!/usr/bin/env python3
"""Golden LRP relevance maps from Zennit (independent reference) for clrp's
small torchvision fixture models.

Regenerate
----------
    pip install zennit==0.5.1        # the version the committed files were made with
    python3 Graphs/zennit_reference.py
(needs torch, torchvision, onnx, onnxruntime; CPU only, ~10 s.)

Output: ``Tests/Fixtures/relevance/``
    <model>.input.npy                 float32 [1,3,H,W]  (ImageNet-normalised input)
    <model>.paper.relevance.npy       float32 [1,3,H,W]
    <model>.epsilon.relevance.npy     float32 [1,3,H,W]
    manifest.json                     paths are relative to ``Tests/Fixtures/``

Models: alexnet_small, vgg16_small, googlenet_small, vgg16_bn_small,
googlenet_bn_small.  The torch modules are rebuilt with the exact builders /
seeds / ``calibrate()`` of ``Graphs/export_torchvision.py`` (imported, not
copied) and each is checked against its ONNX file with onnxruntime (all graph
optimisations off) before use: max|ORT - torch| <= 1e-5 * max(1, max|logit|)
against the float64 torch forward (the float32 torch forward is itself ~1e-5
relative away from float64 on these deep nets; vs float32 torch we assert 3e-5).
googlenet_small and googlenet_bn_small are the SAME torch module (seed 2003;
the first ONNX file has BN folded by the exporter) and get the same input, so
their relevance files must agree too (checked).

Precision: the golden maps are computed by Zennit in FLOAT64 (model.double(),
input = the float32 input cast exactly to float64, R_out from the float64
logit) and stored as float32.  The same attribution done in float32 is also
run and its distance to the golden map stored in the manifest
(``float32_zennit_vs_golden``) as a tolerance hint: ~1e-6 (max|diff|/max|R|)
everywhere EXCEPT the GoogLeNet epsilon maps (~1.5e-2, cosine 0.99998): the
epsilon map equals gradient x input here (checked), and the gradient jumps when
a near-zero pre-activation or max-pool near-tie flips under float32 rounding.

Input: pixels p ~ U[0,1) from ``torch.Generator().manual_seed(seed)``
(``torch.rand(1,3,H,W)``), x = (p - mean) / std with ImageNet
mean (0.485,0.456,0.406), std (0.229,0.224,0.225).
Target c = argmax logit; initial relevance R_out = onehot(c) * logit_c
(``attributor(x, torch.eye(K)[[c]] * logit_c)``).

Presets (explicit ``NameMapComposite`` built from the module names; a module
not in the map gets the plain gradient):
  paper:
    first Conv2d (``features.0`` / ``conv1.conv``): ZBox(low, high,
        zero_params=['bias']), low/high = per-channel (0-mean)/std and
        (1-mean)/std broadcast to the full input shape [1,3,H,W].
        R_i = sum_j (x_i w_ij - l_i w_ij+ - h_i w_ij-) / stab(sum_i' same) R_j.
        Conv zero padding pads x, l and h alike with 0 (Zennit runs the conv on
        l and h tensors, so padded positions contribute 0 to all three terms).
        (Zennit's ZBox with bias would give the same denominator: the bias
        cancels as b - b+ - b- = 0; we zero it to match the paper exactly.)
    every other Conv2d and Linear: ZPlus(zero_params=['bias']).
        Zennit 0.5.1 ZPlus = x+ W+ + x- W-  (two branches, same denominator):
        R_i = sum_j (a_i+ w_ij+ + a_i- w_ij-) / stab(sum_i' (a_i'+ w_i'j+ + a_i'- w_i'j-)) R_j
        NOTE: Zennit's ZPlus default zero_params=None does NOT drop the bias:
        it zeroes the bias only in the negative branch and keeps clamp(b, min=0)
        in the positive one.  So zero_params=['bias'] is passed explicitly.
    nn.ReLU modules: Pass.  (torchvision GoogLeNet's BasicConv2d uses
        F.relu, which has no module -> plain gradient; for LRP this is the same
        as Pass because the relevance of a dead unit is already 0: every rule
        used here multiplies by the (clamped) layer input.)
    MaxPool2d (incl. ceil_mode): no rule -> plain gradient = winner-take-all.
    AvgPool2d / AdaptiveAvgPool2d: Norm()  (R_i = a_i * sum_j (1/k) R_j / stab(z_j)).
    Dropout (eval: identity), Flatten, torch.cat (GoogLeNet): plain gradient.
  epsilon:
    every Conv2d and Linear, first layer included: Epsilon(epsilon=1e-6),
    biases INCLUDED (zero_params=None).  R_i = a_i sum_j w_ij R_j / stab(z_j + b_j).
    ReLU Pass, MaxPool gradient, AvgPool Norm() as above.

Stabiliser (zennit/core.py ``stabilize``, default clip=False, norm_scale=False):
    stab(z) = z + eps * sign(z),  sign(0) := +1,  eps = 1e-6
implemented as ``sign = (z == 0) + z.sign(); return z + sign * eps``.
All rules above use eps = 1e-6 (ZBox/ZPlus/Norm stabilizer default, Epsilon's
epsilon=1e-6).

BatchNorm (vgg16_bn_small, and the torch module behind both googlenet files):
merged into the preceding Conv2d with ``ExactSequentialMergeBatchNorm``, a
subclass of Zennit's ``SequentialMergeBatchNorm`` (= ``zennit.torchvision.
VGGCanonizer``).  SequentialMergeBatchNorm walks the leaf modules in
registration order, so torchvision's ``BasicConv2d`` (conv, bn, F.relu) IS
found (conv and bn are adjacent leaves), inside Inception branches too.  The
subclass fixes one detail of Zennit 0.5.1: after merging, the stock canonizer
sets the BN to running_var=1, which computes x / sqrt(1 + bn.eps), not x.  With
bn.eps = 1e-3 (GoogLeNet) this changes the network's function and relevance
by ~0.1-1 %.  The subclass sets running_var = 1 - bn.eps instead (exactly 1.0
after adding eps in float32, asserted), so the merged BN is an exact identity.
The deviation of the stock canonizer is printed for information.  The merged
bias (b - mean) * gamma / sqrt(var + eps) + beta is ignored by paper/ZPlus and
used by epsilon.

Checks printed: ORT agreement (also of the canonised model inside the
composite), relevance sums / ratio, non-zero maps, cosine(paper, epsilon) < 1,
plain-gradient map differs from both, googlenet pair equality, and an
independent hand-written LRP (plain torch autograd per layer, no Zennit hooks)
for the sequential models alexnet_small, vgg16_small, vgg16_bn_small.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export_torchvision as etv  # noqa: E402  (sets 1 thread + deterministic algorithms)

import zennit  # noqa: E402
from zennit.attribution import Gradient  # noqa: E402
from zennit.canonizers import SequentialMergeBatchNorm  # noqa: E402
from zennit.composites import NameMapComposite  # noqa: E402
from zennit.core import stabilize  # noqa: E402
from zennit.rules import Epsilon, Norm, Pass, ZBox, ZPlus  # noqa: E402

ROOT = HERE.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
OUT_DIR = FIXTURES / "relevance"

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
EPS = 1e-6

# model -> input seed (googlenet pair shares the seed: same module, same input)
INPUT_SEEDS = {
    "alexnet_small": 3001,
    "vgg16_small": 3002,
    "googlenet_small": 3003,
    "vgg16_bn_small": 3004,
    "googlenet_bn_small": 3003,
}
SEQUENTIAL = ("alexnet_small", "vgg16_small", "vgg16_bn_small")


# --------------------------------------------------------------------------
# Canonizer
# --------------------------------------------------------------------------

class ExactSequentialMergeBatchNorm(SequentialMergeBatchNorm):
    """Zennit's SequentialMergeBatchNorm, but the emptied BN is an exact identity
    (running_var = 1 - eps instead of 1, see module docstring)."""

    @staticmethod
    def merge_batch_norm(modules, batch_norm):
        SequentialMergeBatchNorm.merge_batch_norm(modules, batch_norm)
        var = torch.full_like(batch_norm.running_var.data, 1.0 - batch_norm.eps)
        assert bool(((var + batch_norm.eps) == 1.0).all()), "1 - eps + eps != 1 in float32"
        batch_norm.running_var.data = var


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def build(name: str):
    builder, shape, _fold, seed = etv.SMALL[name]
    torch.manual_seed(seed)
    model = builder().eval()
    etv.calibrate(model, (etv.CALIB_BATCH, *shape[1:]), seed + 1)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, shape


def ort_logits(name: str, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(FIXTURES / "models" / f"{name}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": x})[0]


def assert_close(a: np.ndarray, b: np.ndarray, what: str, rel: float = 1e-5) -> float:
    d = float(np.abs(a - b).max())
    tol = rel * max(1.0, float(np.abs(b).max()))
    assert d <= tol, f"{what}: max|diff| {d:.3e} > {tol:.3e}"
    return d


def make_input(shape, seed: int) -> torch.Tensor:
    p = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((p - mean) / std).float()


def bounds(shape, dtype=torch.float64):
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    low = ((0.0 - mean) / std).expand(*shape).contiguous().to(dtype)
    high = ((1.0 - mean) / std).expand(*shape).contiguous().to(dtype)
    return low, high


# --------------------------------------------------------------------------
# Composites
# --------------------------------------------------------------------------

def name_map(model: nn.Module, preset: str, shape):
    convs_linears = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    relus = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    avgpools = [n for n, m in model.named_modules()
                if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d))]
    first = convs_linears[0]
    assert isinstance(dict(model.named_modules())[first], nn.Conv2d)
    common = [(tuple(relus), Pass()), (tuple(avgpools), Norm(stabilizer=EPS))]
    if preset == "paper":
        low, high = bounds(shape, dtype=next(model.parameters()).dtype)
        nm = [((first,), ZBox(low, high, stabilizer=EPS, zero_params=["bias"])),
              (tuple(convs_linears[1:]), ZPlus(stabilizer=EPS, zero_params=["bias"]))]
    elif preset == "epsilon":
        nm = [(tuple(convs_linears), Epsilon(epsilon=EPS))]
    else:
        raise ValueError(preset)
    return nm + common, first


def attribute(model, x, r_out, preset, shape, canonizer_cls):
    nm, first = name_map(model, preset, shape)
    canon = [canonizer_cls()] if canonizer_cls is not None else None
    composite = NameMapComposite(name_map=nm, canonizers=canon)
    with Gradient(model=model, composite=composite) as attributor:
        out, rel = attributor(x.clone(), r_out)
    return out.detach(), rel.detach(), first


# --------------------------------------------------------------------------
# Independent hand-written LRP for the sequential models (no Zennit hooks)
# --------------------------------------------------------------------------

def stab(z):  # own copy of the convention, cross-checked against zennit.core.stabilize below
    return z + EPS * ((z == 0).to(z) + z.sign())


def folded_sequence(model: nn.Module):
    """features + avgpool + flatten + classifier, BN folded by hand."""
    seq = []
    mods = list(model.features) + [model.avgpool, nn.Flatten()] + list(model.classifier)
    for m in mods:
        if isinstance(m, nn.BatchNorm2d):
            conv = seq[-1]
            assert isinstance(conv, nn.Conv2d)
            s = m.weight / torch.sqrt(m.running_var + m.eps)
            conv = copy.deepcopy(conv)
            b = conv.bias if conv.bias is not None else torch.zeros_like(m.bias)
            conv.weight.data = conv.weight.data * s[:, None, None, None]
            conv.bias = nn.Parameter((b - m.running_mean) * s + m.bias, requires_grad=False)
            seq[-1] = conv
        else:
            seq.append(m)
    return seq


def lin(m, a, w, b):
    if isinstance(m, nn.Conv2d):
        return F.conv2d(a, w, b, m.stride, m.padding, m.dilation, m.groups)
    return F.linear(a, w, b)


def manual_lrp(model, x, c, preset, shape):
    def onehot_logit(logits):
        R = torch.zeros_like(logits)
        R[0, c] = logits[0, c]
        return R
    return manual_lrp_seq(folded_sequence(model), x, onehot_logit, preset, shape)


def manual_lrp_seq(seq, x, start, preset, shape):
    """LRP through the layer list `seq` (a prefix of folded_sequence(model) is fine);
    `start(output)` gives the relevance at the last layer's output."""
    acts = [x]
    with torch.no_grad():
        for m in seq:
            acts.append(m(acts[-1]))
    R = start(acts[-1])
    first = next(i for i, m in enumerate(seq) if isinstance(m, nn.Conv2d))
    low, high = bounds(shape, dtype=x.dtype)
    for i in reversed(range(len(seq))):
        m, a = seq[i], acts[i].detach()
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w, b = m.weight, m.bias
            if preset == "epsilon":
                a_ = a.clone().requires_grad_(True)
                z = lin(m, a_, w, b)
                (g,) = torch.autograd.grad(z, a_, R / stab(z))
                R = a * g
            elif i == first:  # ZBox, no bias
                xs = [a.clone().requires_grad_(True), low.clone().requires_grad_(True),
                      high.clone().requires_grad_(True)]
                zs = [lin(m, xs[0], w, None), lin(m, xs[1], w.clamp(min=0), None),
                      lin(m, xs[2], w.clamp(max=0), None)]
                s = R / stab(zs[0] - zs[1] - zs[2])
                gx, gl, gh = (torch.autograd.grad(zk, xk, s)[0] for zk, xk in zip(zs, xs))
                R = a * gx - low * gl - high * gh
            else:  # ZPlus, no bias
                ap = a.clamp(min=0).requires_grad_(True)
                an = a.clamp(max=0).requires_grad_(True)
                z = lin(m, ap, w.clamp(min=0), None) + lin(m, an, w.clamp(max=0), None)
                gp, gn = torch.autograd.grad(z, [ap, an], R / stab(z))
                R = ap.detach() * gp + an.detach() * gn
        elif isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            a_ = a.clone().requires_grad_(True)
            z = m(a_)
            (g,) = torch.autograd.grad(z, a_, R / stab(z))
            R = a * g
        elif isinstance(m, (nn.MaxPool2d, nn.Flatten)):
            a_ = a.clone().requires_grad_(True)
            (R,) = torch.autograd.grad(m(a_), a_, R)
        elif isinstance(m, (nn.ReLU, nn.Dropout)):
            pass
        else:
            raise TypeError(type(m))
    return R


# --------------------------------------------------------------------------

def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float((a @ b) / (a.norm() * b.norm()))


def main() -> int:
    from importlib.metadata import version
    zver = version("zennit")
    print(f"zennit {zver} ({Path(zennit.__file__).parent}), torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}")

    # stabiliser convention check
    z = torch.tensor([-2.0, -1e-9, 0.0, 1e-9, 3.0])
    assert torch.equal(stabilize(z, EPS), stab(z))
    assert stabilize(torch.tensor([0.0]), EPS).item() == torch.tensor(EPS).item()  # sign(0) = +1

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "Graphs/zennit_reference.py",
        "zennit_version": zver,
        "torch_version": torch.__version__,
        "paths_relative_to": "Tests/Fixtures",
        "input_normalization": {"mean": list(MEAN), "std": list(STD),
                                "pixels": "torch.rand(1,3,H,W, generator=manual_seed(input_seed))"},
        "initial_relevance": "onehot(target) * logit[target]",
        "stabilizer": "stab(z) = z + eps*sign(z), sign(0)=+1, eps=1e-6 (zennit.core.stabilize)",
        "bn_canonizer": "ExactSequentialMergeBatchNorm (zennit SequentialMergeBatchNorm, merged BN = exact identity)",
        "presets": {
            "paper": "first Conv2d ZBox(low,high, bias ignored); other Conv2d/Linear ZPlus "
                     "(x+w+ + x-w-, bias ignored); ReLU pass; MaxPool gradient (winner-take-all); "
                     "AvgPool/AdaptiveAvgPool Norm (proportional); BN merged into preceding conv",
            "epsilon": "all Conv2d/Linear Epsilon(1e-6) incl. bias (first layer too); ReLU pass; "
                       "MaxPool gradient; AvgPool/AdaptiveAvgPool Norm; BN merged into preceding conv",
        },
        "models": {},
    }
    results = {}
    for name in ["alexnet_small", "vgg16_small", "googlenet_small", "vgg16_bn_small", "googlenet_bn_small"]:
        model32, shape = build(name)
        model = copy.deepcopy(model32).double()     # golden maps are computed in float64
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        canon_cls = ExactSequentialMergeBatchNorm if has_bn else None
        x32 = make_input(shape, INPUT_SEEDS[name])
        xn = x32.numpy()
        x = x32.double()
        ref = ort_logits(name, xn)
        with torch.no_grad():
            t32 = model32(x32).numpy()
            t64 = model(x).numpy()
        # ORT (float32) vs the exact function (float64 torch): rel 1e-5.  The float32 torch
        # forward is itself ~1e-5 (rel) away from float64 on these deep nets, so the
        # ORT-vs-float32-torch comparison only gets 3e-5.
        d_ort = assert_close(ref, t64, f"{name} ORT vs float64 torch")
        d_ort32 = assert_close(ref, t32, f"{name} ORT vs float32 torch", rel=3e-5)
        c = int(ref[0].argmax())
        assert int(t64[0].argmax()) == c
        logit = float(t64[0, c])
        K = ref.shape[1]
        r_out = torch.eye(K, dtype=torch.float64)[[c]] * logit
        print(f"\n== {name}  input {list(shape)}  max|ORT-torch64|={d_ort:.2e} "
              f"max|ORT-torch32|={d_ort32:.2e}  target={c} logit={logit:.6f}")
        print(f"   ORT logits={np.round(ref[0], 4).tolist()}")

        np.save(OUT_DIR / f"{name}.input.npy", xn.astype(np.float32))
        entry = {
            "onnx": f"models/{name}.onnx",
            "input": f"relevance/{name}.input.npy",
            "input_shape": list(shape),
            "input_seed": INPUT_SEEDS[name],
            "target_class": c,
            "target_logit": logit,
            "target_logit_ort_float32": float(ref[0, c]),
            "logits_ort": [float(v) for v in ref[0]],
            "ort_vs_torch_float64_max_abs_diff": d_ort,
            "ort_vs_torch_float32_max_abs_diff": d_ort32,
            "bn_canonizer": canon_cls.__name__ if canon_cls else None,
            "presets": {},
        }
        maps = {}
        for preset in ("paper", "epsilon"):
            out, rel, first = attribute(model, x, r_out, preset, shape, canon_cls)
            d = assert_close(ref, out.numpy(), f"{name}/{preset} canonised model vs ORT")
            assert rel.shape == x.shape
            assert float(rel.abs().max()) > 0, f"{name}/{preset}: all-zero relevance"
            rsum = float(rel.sum())
            maps[preset] = rel
            np.save(OUT_DIR / f"{name}.{preset}.relevance.npy", rel.numpy().astype(np.float32))
            # same attribution in float32 (what a float32 engine can hope to reproduce)
            _, rel32, _ = attribute(model32, x32, r_out.float(), preset, shape, canon_cls)
            dd = (rel32.double() - rel).abs()
            f32_maxrel = float(dd.max() / rel.abs().max())
            f32_cos = cosine(rel32, rel)
            pe = {
                "relevance": f"relevance/{name}.{preset}.relevance.npy",
                "first_layer": first,
                "rules": manifest["presets"][preset],
                "relevance_sum": rsum,
                "initial_score": logit,
                "ratio": rsum / logit,
                "max_abs": float(rel.abs().max()),
                "nonzero_fraction": float((rel != 0).double().mean()),
                "float32_zennit_vs_golden": {"max_abs_diff_over_max_abs": f32_maxrel, "cosine": f32_cos},
            }
            if preset == "paper":
                pe["zbox_low"] = [(0 - m) / s for m, s in zip(MEAN, STD)]
                pe["zbox_high"] = [(1 - m) / s for m, s in zip(MEAN, STD)]
            entry["presets"][preset] = pe
            print(f"  {preset:8s} sum={rsum:+.6f}  R_init={logit:+.6f}  ratio={rsum / logit:.6f}  "
                  f"max|R|={pe['max_abs']:.4e}  nonzero={pe['nonzero_fraction']:.3f}  "
                  f"(canonised fwd vs ORT {d:.1e})")
            print(f"           float32 zennit vs float64 golden: max|diff|/max|R| = {f32_maxrel:.2e}, "
                  f"cos = {f32_cos:.9f}")

            if name in SEQUENTIAL:
                man = manual_lrp(model, x, c, preset, shape)
                dm = float((man - rel).abs().max() / rel.abs().max())
                print(f"           hand-written LRP vs zennit: max|diff|/max|R| = {dm:.2e}")
                assert dm < 1e-9, f"{name}/{preset}: manual LRP disagrees ({dm})"
                pe["handwritten_lrp_rel_diff"] = dm
            if has_bn:
                _, rel_stock, _ = attribute(model, x, r_out, preset, shape, SequentialMergeBatchNorm)
                ds = float((rel_stock - rel).abs().max() / rel.abs().max())
                print(f"           (stock SequentialMergeBatchNorm would differ: max|diff|/max|R| = {ds:.2e}, "
                      f"cos = {cosine(rel_stock, rel):.6f})")
                pe["stock_canonizer_rel_diff"] = ds

        cos = cosine(maps["paper"], maps["epsilon"])
        # plain gradient (no rules), same initial vector: NOT saved, must differ
        with Gradient(model=model) as attributor:
            _, grad = attributor(x.clone(), r_out)
        cg_p, cg_e = cosine(grad, maps["paper"]), cosine(grad, maps["epsilon"])
        cgx_e = cosine(grad * x, maps["epsilon"])
        print(f"  cos(paper, epsilon)={cos:.4f}  cos(grad, paper)={cg_p:.4f}  "
              f"cos(grad, epsilon)={cg_e:.4f}  cos(grad*x, epsilon)={cgx_e:.6f}")
        assert cos < 0.9999, f"{name}: paper and epsilon maps nearly identical"
        for p in ("paper", "epsilon"):
            assert not torch.allclose(grad, maps[p], rtol=1e-3, atol=1e-6), f"{name}: {p} == gradient"
        entry["cosine_paper_epsilon"] = cos
        entry["cosine_gradient_paper"] = cg_p
        entry["cosine_gradient_epsilon"] = cg_e
        entry["cosine_gradient_x_input_epsilon"] = cgx_e
        manifest["models"][name] = entry
        results[name] = maps

    for p in ("paper", "epsilon"):
        a, b = results["googlenet_small"][p], results["googlenet_bn_small"][p]
        d = float((a - b).abs().max())
        print(f"googlenet_small vs googlenet_bn_small {p}: max|diff| = {d:.2e}")
        assert d <= 1e-9 * float(a.abs().max())

    with open(OUT_DIR / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"\nwrote {OUT_DIR.relative_to(ROOT)}/ "
          f"({sum(p.stat().st_size for p in OUT_DIR.iterdir()) / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

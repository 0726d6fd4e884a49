#!/usr/bin/env python3
"""Golden float64 reference maps for every explanation method clrp offers
(LRP, three CLRP1 variants, CLRP2, SGLRP, gradient, gradient x input, guided
backprop, deconvnet, and neuron explanations), from Zennit and captum. Each
map is cross-checked against a hand-written torch version.

Regenerate
----------
    pip install zennit==0.5.1 captum==0.9.0    # the versions the committed files were made with
    python3 Graphs/method_reference.py
(needs torch, torchvision, onnx, onnxruntime; CPU only, single thread, ~20 s;
deterministic: a rerun writes byte-identical files.)

Models and inputs (nothing here is regenerated, only read)
------------------------------------------------------------
* ``vgg16_small``, ``googlenet_small``: torch modules rebuilt by
  ``zennit_reference.build`` (the builders / seeds / ``calibrate()`` of
  ``export_torchvision.py``), input ``Tests/Fixtures/relevance/<model>.input.npy``
  [1,3,H,W] (ImageNet-normalised U[0,1) pixels), so the ``lrp`` map of the top
  class is the ``paper`` map in ``relevance/`` (checked).
* ``residual_dynamo``: ``export_dynamo.TinyResidualNet`` rebuilt in the same
  global-RNG state as in ``export_dynamo.py`` (see ``build_residual``); input =
  the first image of ``Tests/Fixtures/reference/residual_dynamo.input.npy`` (N(0,1)).
  Only the gradient family is computed for it.
* ``alexnet_small`` is left out because of file size: its 20 maps would be
  another 3 MB.
Every torch module is checked against its ONNX file with onnxruntime (all graph
optimisations off) on that input before it is used.

Targets: the top-2 classes by float64 logit (rank 0 and 1, recorded in the
manifest). z = logits, t = target, C = number of classes (10).

Output: ``Tests/Fixtures/methods/``
    <model>.<method>.<target>.npy   float32 [3,H,W] (batch axis dropped)
    manifest.json                   one entry per file, described below

<target> is the class index, or for the vgg16_small neurons
``features.22-c<c>``, ``classifier.1-u<u>``, ``features.22-c<c>-y<y>-x<x>``.

Precision: every map is computed in FLOAT64 (``model.double()``, the float32
input cast exactly to float64, start vectors from the float64 logits) and
stored as float32. The same computation is also run in float32 (float32 model,
input, logits and start vectors) and ``float32_vs_float64`` =
max|R32 - R64| / max|R64| is stored per file as a tolerance hint.

Methods. R(s) = the Zennit map for output relevance s, i.e.
``Gradient(model, composite)(x, s)`` (s is the grad_output), with the
``paper`` rules of zennit_reference.py (explicit NameMapComposite: ZBox on the
first conv with bounds (0-mean)/std, (1-mean)/std; ZPlus(zero_params=['bias'])
on every other Conv2d/Linear; Pass on nn.ReLU; Norm on AvgPool/AdaptiveAvgPool;
MaxPool plain gradient; stabilizer 1e-6; GoogLeNet's BN merged into its convs
by ExactSequentialMergeBatchNorm).
  lrp            R(e_t z_t), signed.
  clrp1          max(0, R(e_t z_t) - R(s*)), s*_j = z_t/(C-1) for j != t, s*_t = 0.
                 Both maps computed separately, then subtracted.
  clrp1-abs      as clrp1 with s*_j = |z_j| for j != t, s*_t = 0 (the published code's dual).
  clrp1-normsum  max(0, R/sum(R) - R*/sum(R*)) with the clrp1 dual s*.
  clrp2          max(0, R - R*), R = R(e_t z_t) of the model, R* = R(e_t z_t) (same z_t,
                 from the ORIGINAL model) of a deep copy whose last Linear has weight row t
                 and bias t negated.
  sglrp          R(s), s_j = y_t (delta_tj - y_j), y = softmax(z) in float64, with
                 1 - y_t evaluated as sum_{j != t} y_j; signed.
  gradient       captum Saliency(abs=False), target t: dz_t/dx (start e_t, not e_t z_t).
  gradient-input captum InputXGradient: x * dz_t/dx.
  guided-backprop captum GuidedBackprop: ReLU backward = max(0, g) * (forward input > 0).
  deconvnet      captum Deconvolution: ReLU backward = max(0, g), forward mask ignored.
                 Max pooling routes by switches (plain autograd) in both. Only for models
                 whose ReLUs are all nn.ReLU modules (count of nn.ReLU == count of ONNX Relu
                 nodes): vgg16_small. GoogLeNet's BasicConv2d uses F.relu, which captum's
                 hooks do not see (captum then silently returns the plain gradient; printed).
  residual_dynamo: gradient, gradient-input only. Its stem has ReLU6 (ONNX Clip(0,6));
                 torch's hardtanh backward passes the gradient strictly inside (0, 6).
Neurons (vgg16_small, paper rules; the truncated model keeps the module names, so
the same name map applies, ZBox on features.0):
  features.22-c<c>        value after features.22 (ReLU, ONNX node /features/features.22/Relu),
                          c = channel with the largest summed activation; start = that
                          channel's activations, zero elsewhere (score = the channel sum).
                          lrp = R(start) through features[:23]; clrp2 = max(0, R - R*),
                          R* with conv features.21's output channel c (weights, bias) negated,
                          same start values (from the original model).
  classifier.1-u<u>       value after classifier.1 (ReLU, ONNX /classifier/classifier.1/Relu),
                          u = argmax; start e_u a_u; lrp and clrp2 (row u of classifier.0
                          weight and bias negated).
  features.22-c<c>-y<y>-x<x>  lrp with start one-hot at (c, y, x) times the activation,
                          (y, x) = spatial argmax of channel c.

Checks (asserted): ORT vs torch logits; lrp of the top class == relevance/<model>.paper
map; for vgg16_small every LRP-family map (both starts / both models of every contrastive
map, neurons included) against the hand-written LRP of zennit_reference.manual_lrp_seq
(plain autograd per layer, no Zennit hooks); linearity R(a) - R(b) == R(a - b);
captum gradient == torch.autograd.grad == Zennit plain Gradient; gradient vs a central
finite difference; captum guided/deconv == a custom-autograd-ReLU version. Printed:
cosines between the maps of the two top classes per method (the CLRP paper's claim is
that lrp maps of different classes are nearly identical and the contrastive ones not).

Observed with these fixtures (random, calibrated weights; all printed by the script)
-----------------------------------------------------------------------------------
* cos(lrp map of top-1, lrp map of top-2) = 0.99999998 (vgg16_small), 0.9994
  (googlenet_small): the paper's observation that LRP (z+ rules) is nearly class-blind holds.
  clrp1: 0.918 / 0.021, clrp2: 0.303 / 0.003, sglrp: 0.077 / -0.990 (GoogLeNet's top-2
  logits are almost tied, so their SGLRP starts are nearly opposite).
* clrp1-abs maps are ALL ZERO on both models and both targets (``all_zero`` in the manifest):
  sum_{j != t} |z_j| is 4-5x z_t and the maps are nearly proportional, so R* > R everywhere.
  The files are kept: an implementation must produce zeros there too.
* clrp1 is a small difference of two nearly equal maps (sum(max(0, R - R*)) ~ 2e-4 z_t
  on vgg16_small), so its float32 hint is ~5e-4..8e-4 on vgg16_small (1e-5 elsewhere; the
  other methods 1e-7..1e-5).

manifest.json: {"generator", versions, "paths_relative_to": "Tests/Fixtures",
"rules", "definitions" {method: text}, "models" {name: {onnx, input, input_index,
input_shape, logits_float64, top2, cosines {method: cos(map top1, map top2)}, ...}},
"files" [{file, model, onnx, input, input_index, method, target {kind: "class" |
"channel" | "unit" | "position", class/rank or layer/onnx_node/onnx_value/channel/unit/y/x},
score, start_sum, relevance_sum (float64 sum of the stored map; for contrastive maps
also target_relevance_sum and dual_relevance_sum), max_abs, shape, dtype,
float32_vs_float64, checks {...}}]}.
"""

from __future__ import annotations

import collections
import copy
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import zennit_reference as zr  # noqa: E402  (imports export_torchvision: 1 thread, deterministic)
import export_dynamo  # noqa: E402
from export_torchvision import CALIB_BATCH, calibrate  # noqa: E402

from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, Saliency  # noqa: E402
from zennit.attribution import Gradient  # noqa: E402

ROOT = HERE.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
OUT_DIR = FIXTURES / "methods"
F64, F32 = torch.float64, torch.float32

CLASS_METHODS_LRP = ("lrp", "clrp1", "clrp1-abs", "clrp1-normsum", "clrp2", "sglrp")
GRAD_METHODS = ("gradient", "gradient-input")
RELU_METHODS = ("guided-backprop", "deconvnet")

DEFINITIONS = {
    "lrp": "R(e_t * z_t), signed",
    "clrp1": "max(0, R(e_t z_t) - R(s*)), s*_j = z_t/(C-1) (j != t), s*_t = 0",
    "clrp1-abs": "max(0, R(e_t z_t) - R(s*)), s*_j = |z_j| (j != t), s*_t = 0",
    "clrp1-normsum": "max(0, R/sum(R) - R*/sum(R*)), R = R(e_t z_t), R* = R(s*) with the clrp1 dual",
    "clrp2": "max(0, R - R*), R* = R(e_t z_t) of a copy with last Linear row t (weight, bias) negated; "
             "z_t from the original model",
    "sglrp": "R(s), s_j = y_t (delta_tj - y_j), y = softmax(z), 1 - y_t = sum_{j != t} y_j; signed",
    "gradient": "captum Saliency(abs=False): dz_t/dx",
    "gradient-input": "captum InputXGradient: x * dz_t/dx",
    "guided-backprop": "captum GuidedBackprop: ReLU backward max(0, g) * (input > 0); max pool by switches",
    "deconvnet": "captum Deconvolution: ReLU backward max(0, g); max pool by switches",
    "neuron lrp": "R(start), start = the neuron values (zero elsewhere) at the layer output, through the "
                  "network truncated after that layer (same module names and paper name map)",
    "neuron clrp2": "max(0, R - R*), R* = same start through a copy with the neuron's incoming weights and "
                    "bias (conv output channel / Linear row) negated",
}


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def build_residual():
    """TinyResidualNet exactly as export_dynamo.py's __main__ makes it: the module is
    constructed (torchvision default init, global RNG) AFTER export("googlenet_small_dynamo")
    has called torch.manual_seed(3003) and drawn its dummy input torch.randn(1,3,96,96);
    then export() seeds 3004 and calibrates with seed 3005.  Checked against the ONNX file."""
    torch.manual_seed(3003)
    torch.randn(1, 3, 96, 96)
    model = export_dynamo.TinyResidualNet()
    torch.manual_seed(3004)
    model.eval()
    calibrate(model, (CALIB_BATCH, 3, 48, 48), 3005)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, (1, 3, 48, 48)


class Ctx:
    """One model + input in both precisions."""

    def __init__(self, name, model32, x32, canon, input_rel, input_index):
        self.name, self.canon = name, canon
        self.shape = tuple(x32.shape)
        self.model = {F32: model32, F64: copy.deepcopy(model32).double()}
        self.x = {F32: x32, F64: x32.double()}
        self.input_rel, self.input_index = input_rel, input_index
        with torch.no_grad():
            self.z = {d: self.model[d](self.x[d]) for d in (F32, F64)}
        ref = zr.ort_logits(name, x32.numpy())
        self.d_ort = zr.assert_close(ref, self.z[F64].numpy(), f"{name} ORT vs float64 torch")
        zr.assert_close(ref, self.z[F32].numpy(), f"{name} ORT vs float32 torch", rel=3e-5)
        self.top2 = [int(i) for i in self.z[F64][0].argsort(descending=True)[:2]]
        assert [int(i) for i in np.argsort(-ref[0])[:2]] == self.top2, "ORT top-2 differs"
        self.C = self.z[F64].shape[1]
        self.onnx_relus = sum(n.op_type == "Relu"
                              for n in onnx.load(str(FIXTURES / "models" / f"{name}.onnx")).graph.node)
        self.module_relus = sum(isinstance(m, nn.ReLU) for m in model32.modules())


def load_small(name):
    model32, shape = zr.build(name)
    x32 = torch.from_numpy(np.load(FIXTURES / "relevance" / f"{name}.input.npy"))
    assert tuple(x32.shape) == tuple(shape) and x32.dtype == torch.float32
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model32.modules())
    canon = zr.ExactSequentialMergeBatchNorm if has_bn else None
    return Ctx(name, model32, x32, canon, f"relevance/{name}.input.npy", 0)


def load_residual():
    model32, shape = build_residual()
    x32 = torch.from_numpy(np.load(FIXTURES / "reference" / "residual_dynamo.input.npy")[:1].copy())
    assert tuple(x32.shape) == shape
    return Ctx("residual_dynamo", model32, x32, None, "reference/residual_dynamo.input.npy", 0)


def last_linear(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def negated_copy(model, module_name, index):
    """Deep copy with output unit/channel `index` of `module_name` (weight and bias) negated."""
    dual = copy.deepcopy(model)
    m = dict(dual.named_modules())[module_name] if module_name else last_linear(dual)
    m.weight.data[index] = -m.weight.data[index]
    m.bias.data[index] = -m.bias.data[index]
    return dual


def no_inplace(model):
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    return m


# --------------------------------------------------------------------------
# Attribution primitives
# --------------------------------------------------------------------------

def lrp(ctx, d, s, model=None):
    """Zennit paper-rule map for output relevance s (the grad_output)."""
    model = ctx.model[d] if model is None else model
    x = ctx.x[d]
    out, rel, _ = zr.attribute(model, x, s.to(d), "paper", x.shape, ctx.canon)
    with torch.no_grad():
        ref = model(x)
    # the composite's (canonised) forward must be the model's forward
    zr.assert_close(out.numpy(), ref.numpy(), f"{ctx.name} composite forward", 1e-9 if d == F64 else 3e-5)
    return rel


def onehot(z, t, scale):
    s = torch.zeros_like(z)
    s[0, t] = scale
    return s


def dual_start(z, t, kind):
    s = z.abs().clone() if kind == "abs" else torch.full_like(z, float(z[0, t]) / (z.shape[1] - 1))
    s[0, t] = 0
    return s


def sglrp_start(z, t):
    y = torch.softmax(z, dim=1)
    others = torch.ones_like(y, dtype=torch.bool)
    others[0, t] = False
    s = -y[0, t] * y
    s[0, t] = y[0, t] * y[others].sum()   # y_t (1 - y_t) without cancellation
    return s


class _ModifiedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, guided):
        ctx.save_for_backward(a)
        ctx.guided = guided
        return a.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        g = g.clamp(min=0)
        if ctx.guided:
            g = g * (a > 0).to(g)
        return g, None


class ModifiedReLU(nn.Module):
    def __init__(self, guided):
        super().__init__()
        self.guided = guided

    def forward(self, a):
        return _ModifiedReLU.apply(a, self.guided)


def hand_modified_relu_grad(model, x, t, guided):
    m = copy.deepcopy(model)
    for _, mod in list(m.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(mod, cname, ModifiedReLU(guided))
    x_ = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m(x_)[0, t], x_)
    return g


def plain_grad(model, x, t):
    x_ = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x_)[0, t], x_)
    return g


def captum_map(method, model, x, t):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # captum's "setting backward hooks" chatter
        m = no_inplace(model)
        x_ = x.clone()
        if method == "gradient":
            a = Saliency(m).attribute(x_, target=t, abs=False)
        elif method == "gradient-input":
            a = InputXGradient(m).attribute(x_, target=t)
        elif method == "guided-backprop":
            a = GuidedBackprop(m).attribute(x_, target=t)
        elif method == "deconvnet":
            a = Deconvolution(m).attribute(x_, target=t)
        else:
            raise ValueError(method)
    return a.detach()


def reldiff(a, b):
    den = float(b.abs().max())
    return float((a.double() - b.double()).abs().max()) / den if den > 0 else float((a - b).abs().max())


# --------------------------------------------------------------------------
# Hand-written LRP cross-check (sequential models only)
# --------------------------------------------------------------------------

def manual(model, x, s, n_layers=None):
    seq = zr.folded_sequence(model)
    if n_layers is not None:
        seq = seq[:n_layers]
    return zr.manual_lrp_seq(seq, x, lambda out: s.to(out).view_as(out), "paper", x.shape)


# --------------------------------------------------------------------------
# Methods: each returns (map [1,3,H,W], info dict) for one precision
# --------------------------------------------------------------------------

def class_method(ctx, d, method, t, checks):
    z = ctx.z[d]
    zt = float(z[0, t])
    model, x = ctx.model[d], ctx.x[d]
    seq_check = d == F64 and ctx.name in zr.SEQUENTIAL

    def check_manual(name, R, s, m=None):
        if seq_check:
            dm = reldiff(manual(model if m is None else m, x, s), R)
            assert dm < 1e-9, f"{ctx.name}/{method}/{t}: hand-written LRP ({name}) differs: {dm}"
            checks[f"handwritten_lrp_{name}_rel_diff"] = dm

    if method in CLASS_METHODS_LRP:
        s = onehot(z, t, zt)
        R = lrp(ctx, d, s)
        check_manual("target", R, s)
        info = {"score": zt, "start_sum": float(s.sum())}
        if method == "lrp":
            return R, info
        if method == "sglrp":
            s = sglrp_start(z, t)
            Rs = lrp(ctx, d, s)
            check_manual("sglrp", Rs, s)
            info.update(start=[float(v) for v in s[0]], start_sum=float(s.sum()),
                        softmax_target=float(torch.softmax(z, 1)[0, t]))
            return Rs, info
        if method == "clrp2":
            dual = negated_copy(model, None, t)
            Rd = lrp(ctx, d, s, model=dual)
            check_manual("dual", Rd, s, dual)
            dual_start_sum = float(s.sum())
        else:
            sd = dual_start(z, t, "abs" if method == "clrp1-abs" else "mean")
            Rd = lrp(ctx, d, sd)
            check_manual("dual", Rd, sd)
            if d == F64:   # linearity of the (forward-fixed) rules: R(a) - R(b) == R(a - b)
                dl = reldiff(lrp(ctx, d, s - sd), R - Rd)
                assert dl < 1e-9, f"{ctx.name}/{method}: linearity {dl}"
                checks["linearity_rel_diff"] = dl
            dual_start_sum = float(sd.sum())
        info.update(target_relevance_sum=float(R.sum()), dual_relevance_sum=float(Rd.sum()),
                    dual_start_sum=dual_start_sum)
        if method == "clrp1-normsum":
            return (R / R.sum() - Rd / Rd.sum()).clamp(min=0), info
        return (R - Rd).clamp(min=0), info

    # gradient family (captum), start e_t
    a = captum_map(method, model, x, t)
    info = {"score": zt, "start_sum": 1.0}
    if d == F64:
        if method in GRAD_METHODS:
            g = plain_grad(model, x, t)
            ref = g if method == "gradient" else x * g
            checks["torch_autograd_rel_diff"] = reldiff(a, ref)
            assert checks["torch_autograd_rel_diff"] < 1e-12
            if method == "gradient":
                with Gradient(model=model) as attributor:
                    _, gz = attributor(x.clone(), onehot(z, t, 1.0))
                checks["zennit_plain_gradient_rel_diff"] = reldiff(gz, a)
                assert checks["zennit_plain_gradient_rel_diff"] < 1e-12
                # central finite difference along a seeded direction
                v = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=F64)
                h = 1e-6
                with torch.no_grad():
                    fd = (float(model(x + h * v)[0, t]) - float(model(x - h * v)[0, t])) / (2 * h)
                an = float((a * v).sum())
                checks["finite_difference_rel_diff"] = abs(fd - an) / max(abs(an), 1e-12)
                assert checks["finite_difference_rel_diff"] < 1e-5, checks
        else:
            h_ = hand_modified_relu_grad(model, x, t, guided=(method == "guided-backprop"))
            checks["handwritten_modified_relu_rel_diff"] = reldiff(a, h_)
            assert checks["handwritten_modified_relu_rel_diff"] < 1e-12, checks
            g = plain_grad(model, x, t)
            checks["rel_diff_to_plain_gradient"] = reldiff(a, g)
            assert checks["rel_diff_to_plain_gradient"] > 1e-3
    return a, info


def truncated(model, upto):
    """vgg16_small cut after `upto` ("features.22" / "classifier.1"); module names kept."""
    parts = collections.OrderedDict()
    kind, idx = upto.split(".")
    if kind == "features":
        parts["features"] = model.features[: int(idx) + 1]
    else:
        parts["features"] = model.features
        parts["avgpool"] = model.avgpool
        parts["flatten"] = nn.Flatten()
        parts["classifier"] = model.classifier[: int(idx) + 1]
    seq = nn.Sequential(parts)
    n_folded = (int(idx) + 1 if kind == "features"
                else len(model.features) + 2 + int(idx) + 1)   # prefix of zr.folded_sequence
    return seq, n_folded


def neuron_maps(ctx, d, sel=None):
    """vgg16_small neurons. sel (indices from the float64 run) is reused for float32."""
    model, x = ctx.model[d], ctx.x[d]
    out, checks, info = {}, {}, {}
    f_mod, f_n = truncated(model, "features.22")
    c_mod, c_n = truncated(model, "classifier.1")
    with torch.no_grad():
        fa = f_mod(x).clone()
        ca = c_mod(x).clone()
    if sel is None:
        c = int(fa[0].sum(dim=(1, 2)).argmax())
        u = int(ca[0].argmax())
        yx = int(fa[0, c].flatten().argmax())
        sel = {"c": c, "u": u, "y": yx // fa.shape[3], "x": yx % fa.shape[3]}
    c, u, yy, xx = sel["c"], sel["u"], sel["y"], sel["x"]

    s_ch = torch.zeros_like(fa)
    s_ch[0, c] = fa[0, c]
    s_u = torch.zeros_like(ca)
    s_u[0, u] = ca[0, u]
    s_pos = torch.zeros_like(fa)
    s_pos[0, c, yy, xx] = fa[0, c, yy, xx]
    jobs = [
        (f"features.22-c{c}", "lrp", f_mod, None, s_ch, f_n),
        (f"features.22-c{c}", "clrp2", f_mod, ("features.21", c), s_ch, f_n),
        (f"classifier.1-u{u}", "lrp", c_mod, None, s_u, c_n),
        (f"classifier.1-u{u}", "clrp2", c_mod, ("classifier.0", u), s_u, c_n),
        (f"features.22-c{c}-y{yy}-x{xx}", "lrp", f_mod, None, s_pos, f_n),
    ]
    for tag, method, mod, neg, s, n in jobs:
        R = lrp(ctx, d, s, model=mod)
        ck = {}
        if d == F64:
            dm = reldiff(manual(model, x, s, n), R)
            assert dm < 1e-9, f"neuron {tag} {method}: hand-written LRP differs {dm}"
            ck["handwritten_lrp_target_rel_diff"] = dm
        inf = {"score": float(s.sum()), "start_sum": float(s.sum())}
        if neg is not None:
            dual_full = negated_copy(model, *neg)
            dual_mod, _ = truncated(dual_full, tag.split("-")[0])
            Rd = lrp(ctx, d, s, model=dual_mod)
            if d == F64:
                dm = reldiff(manual(dual_full, x, s, n), Rd)
                assert dm < 1e-9, f"neuron {tag} clrp2 dual: hand-written LRP differs {dm}"
                ck["handwritten_lrp_dual_rel_diff"] = dm
            inf.update(target_relevance_sum=float(R.sum()), dual_relevance_sum=float(Rd.sum()),
                       dual_start_sum=float(s.sum()))
            R = (R - Rd).clamp(min=0)
        out[(tag, method)] = R
        checks[(tag, method)] = ck
        info[(tag, method)] = inf
    return out, checks, info, sel


# --------------------------------------------------------------------------

def cosine(a, b):
    """None when a map is all zero (cosine undefined)."""
    if float(a.abs().max()) == 0 or float(b.abs().max()) == 0:
        return None
    return zr.cosine(a, b)


def main() -> int:
    from importlib.metadata import version
    versions = {p: version(p) for p in ("zennit", "captum", "torch", "onnxruntime")}
    print("  ".join(f"{k} {v}" for k, v in versions.items()))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "Graphs/method_reference.py",
        "versions": versions,
        "paths_relative_to": "Tests/Fixtures",
        "dtype": "float32, computed in float64; shape [3,H,W] (batch axis of the [1,3,H,W] input dropped)",
        "rules": "paper preset of Graphs/zennit_reference.py: first Conv2d ZBox(low=(0-mean)/std, "
                 "high=(1-mean)/std, bias ignored); other Conv2d/Linear ZPlus(zero_params=['bias']); "
                 "nn.ReLU Pass; AvgPool/AdaptiveAvgPool Norm; MaxPool plain gradient; stabilizer 1e-6; "
                 "BN merged (ExactSequentialMergeBatchNorm)",
        "definitions": DEFINITIONS,
        "float32_vs_float64": "max|R32 - R64| / max|R64|, R32 = the same computation with float32 model, "
                              "input, logits and start vectors",
        "models": {},
        "files": [],
    }
    written = []

    def save(ctx, method, tag, R64, R32, info, checks, target):
        fname = f"{ctx.name}.{method}.{tag}.npy"
        arr = R64[0].numpy().astype(np.float32)
        np.save(OUT_DIR / fname, arr)
        written.append(fname)
        entry = {
            "file": f"methods/{fname}",
            "model": ctx.name,
            "onnx": f"models/{ctx.name}.onnx",
            "input": ctx.input_rel,
            "input_index": ctx.input_index,
            "method": method,
            "target": target,
            **info,
            "relevance_sum": float(R64.sum()),
            "max_abs": float(R64.abs().max()),
            "nonzero_fraction": float((R64 != 0).double().mean()),
            "all_zero": bool(float(R64.abs().max()) == 0.0),
            "shape": list(arr.shape),
            "dtype": "float32",
            "float32_vs_float64": reldiff(R32, R64),
            "checks": checks,
        }
        manifest["files"].append(entry)
        ck = " ".join(f"{k.replace('_rel_diff', '')}={v:.1e}" for k, v in checks.items())
        print(f"  {method:15s} {tag:22s} sum={entry['relevance_sum']:+.5f} score={info['score']:+.5f} "
              f"f32={entry['float32_vs_float64']:.1e} {ck}")
        return entry

    ctxs = [load_small("vgg16_small"), load_small("googlenet_small"), load_residual()]
    for ctx in ctxs:
        z = ctx.z[F64][0]
        print(f"\n== {ctx.name} {list(ctx.shape)}  max|ORT-torch64|={ctx.d_ort:.1e}  top2={ctx.top2} "
              f"logits={[round(float(v), 4) for v in z]}")
        residual = ctx.name == "residual_dynamo"
        methods = list(GRAD_METHODS) if residual else list(CLASS_METHODS_LRP) + list(GRAD_METHODS)
        relu_ok = ctx.module_relus == ctx.onnx_relus
        if relu_ok:
            methods += list(RELU_METHODS)
        print(f"   nn.ReLU modules {ctx.module_relus}, ONNX Relu nodes {ctx.onnx_relus} -> "
              f"guided/deconv {'yes' if relu_ok else 'no'}")
        if not relu_ok and not residual:
            t = ctx.top2[0]
            gb = captum_map("guided-backprop", ctx.model[F64], ctx.x[F64], t)
            print(f"   (captum GuidedBackprop here == plain gradient: rel diff "
                  f"{reldiff(gb, plain_grad(ctx.model[F64], ctx.x[F64], t)):.1e})")
        maps = {}
        for method in methods:
            for rank, t in enumerate(ctx.top2):
                checks = {}
                R64, info = class_method(ctx, F64, method, t, checks)
                R32, _ = class_method(ctx, F32, method, t, {})
                if method == "lrp" and rank == 0 and not residual:
                    golden = torch.from_numpy(np.load(FIXTURES / "relevance" / f"{ctx.name}.paper.relevance.npy"))
                    checks["relevance_paper_golden_rel_diff"] = reldiff(golden, R64.float())
                    assert checks["relevance_paper_golden_rel_diff"] == 0.0
                save(ctx, method, str(t), R64, R32, info, checks,
                     {"kind": "class", "class": t, "rank": rank})
                maps[(method, rank)] = R64
        cos = {m: cosine(maps[(m, 0)], maps[(m, 1)]) for m in methods}
        print("   cos(map top1, map top2): " + "  ".join(
            f"{m} {'undefined (all-zero map)' if c is None else f'{c:.6f}'}" for m, c in cos.items()))
        if "lrp" in cos:
            holds = cos["lrp"] > 0.99 and all(cos[m] is not None and cos[m] < 0.95 for m in ("clrp1", "clrp2"))
            print(f"   CLRP paper claim (lrp maps of the top-2 classes nearly identical, clrp1/clrp2 not, "
                  f"cos < 0.95): lrp {cos['lrp']:.6f} clrp1 {cos['clrp1']:.6f} clrp2 {cos['clrp2']:.6f} -> "
                  f"{'holds' if holds else 'does not hold'}")
        manifest["models"][ctx.name] = {
            "onnx": f"models/{ctx.name}.onnx",
            "input": ctx.input_rel,
            "input_index": ctx.input_index,
            "input_shape": list(ctx.shape),
            "logits_float64": [float(v) for v in z],
            "top2": ctx.top2,
            "ort_vs_torch_float64_max_abs_diff": ctx.d_ort,
            "methods": methods,
            "cosine_top1_top2": cos,
        }
        if ctx.name == "residual_dynamo":
            manifest["models"][ctx.name]["build"] = (
                "export_dynamo.TinyResidualNet in the global-RNG state of export_dynamo.py "
                "(manual_seed(3003), randn(1,3,96,96), construct, manual_seed(3004), calibrate seed 3005)")
            manifest["models"][ctx.name]["note"] = "ReLU6 (Clip 0..6) gradient is 1 strictly inside (0, 6)"

        if ctx.name == "vgg16_small":
            n64, nchecks, ninfo, sel = neuron_maps(ctx, F64)
            n32, _, _, _ = neuron_maps(ctx, F32, sel)
            print(f"   neurons: {sel}")
            for (tag, method), R64 in n64.items():
                if tag.startswith("classifier"):
                    target = {"kind": "unit", "layer": "classifier.1", "unit": sel["u"],
                              "onnx_node": "/classifier/classifier.1/Relu",
                              "onnx_value": "/classifier/classifier.1/Relu_output_0",
                              "negated_for_dual": "classifier.0 weight row u and bias u"}
                elif "-y" in tag:
                    target = {"kind": "position", "layer": "features.22", "channel": sel["c"],
                              "y": sel["y"], "x": sel["x"], "onnx_node": "/features/features.22/Relu",
                              "onnx_value": "/features/features.22/Relu_output_0"}
                else:
                    target = {"kind": "channel", "layer": "features.22", "channel": sel["c"],
                              "onnx_node": "/features/features.22/Relu",
                              "onnx_value": "/features/features.22/Relu_output_0",
                              "negated_for_dual": "features.21 weight[c] and bias[c]"}
                save(ctx, method, tag, R64, n32[(tag, method)], ninfo[(tag, method)],
                     nchecks[(tag, method)], target)
            manifest["models"][ctx.name]["neurons"] = sel

    with open(OUT_DIR / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    stale = sorted(p.name for p in OUT_DIR.glob("*.npy") if p.name not in written)
    assert not stale, f"stale files in {OUT_DIR}: {stale}"
    total = sum(p.stat().st_size for p in OUT_DIR.iterdir())
    print(f"\nwrote {len(written)} maps + manifest.json to {OUT_DIR.relative_to(ROOT)}/ ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

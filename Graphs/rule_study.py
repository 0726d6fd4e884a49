#!/usr/bin/env python3
"""Which LRP rules conserve and keep CLRP class-discriminative on MobileNet/ResNet-style nets.

The study behind Rules/{mobilenet,resnet}.yaml and Docs/RULE-STUDY.md (issue 9).

A small, explicit, float64 LRP of our own: torchvision's mobilenet_v2 (depthwise convs,
ReLU6, linear bottlenecks, residual adds without a ReLU after them: the structure of
EfficientNet-Lite0) and resnet50 (bottlenecks, add then ReLU), seeded random weights made
healthy by `export_torchvision.calibrate()`, BatchNorm folded into the convs (as clrp's
canonicalizer does). The forward pass is recorded on a tape of ops (conv, dense, clamp,
add, max pool, global average pool); the backward pass walks the tape in reverse and
applies one rule per op, carrying K relevance signals at once:

  0  LRP of the top-1 class        (start e_t1 * z_t1)
  1  CLRP2 dual of the top-1 class (same start, head row t1 and bias negated)
  2  LRP of the top-2 class
  3  CLRP2 dual of the top-2 class
  4  CLRP1 dual of the top-1 class (z_t1 / (C-1) on every other class)
  5  CLRP1 dual of the top-2 class

Every linear rule is written the way clrp lowers it (Docs/DESIGN.md, "one linear-rule
mechanism"): denominators, each a list of terms (modified input x modified weight x
coefficient) plus an optional modified bias and a weight lambda;
  z_d = sum_t c_t F(in_t, W_t) + b_d,   R_in = sum_d lambda_d sum_t c_t in_t * F^T(R / stab(z_d), W_t)
with stab(z) = z + eps * sign(z), sign(0) = +1 (clrp and Zennit alike).

Measured per configuration and input (means over inputs are printed):
  cons      sum of the top-1 LRP map at the input / the top-1 score
  lost0     relevance that arrived at units whose denominator is exactly 0 / score
  bias      relevance absorbed by biases and epsilons (what the rules themselves drop) / score
  zeros     zero denominators per image (dw: depthwise convs, other: every other linear layer)
  amp       sum over residual adds of (|R_a| + |R_b|) / |R|, the worst add: 1 means no sign flips
  pos       positive share of the top-1 LRP heatmap (channel sum): sum h+ / sum |h|
  cosLRP    cosine between the top-1 and top-2 LRP heatmaps (the paper: close to 1)
  cosDual   cosine between the top-1 LRP heatmap and its CLRP2 dual's (the issue: close to -1)
  cosC2     cosine between the top-1 and top-2 CLRP2 maps, max(0, R - R*) (want: low)
  cosC1     the same for CLRP1
  c2mass    sum of the top-1 CLRP2 map / sum of the positive part of the top-1 LRP map
  cosPaper  cosine between the top-1 LRP heatmap and the `paper` config's (how much of z+'s
            picture a fix keeps; needs `paper` among the configs)

A Zennit cross-check (EpsilonPlusFlat with biases zeroed, ResNetCanonizer or
SequentialMergeBatchNorm) is run against the same configuration of our implementation.

Usage:
    python3 Graphs/rule_study.py            # 4 inputs at 128, mobilenet_v2 + resnet50 + efficientnet_b0
                                            # (SE gates as `signal`, SiLU as `pass`); ~15 min on one free core
    python3 Graphs/rule_study.py --quick    # 2 inputs at 96, 8 headline configs (under 5 minutes)
    python3 Graphs/rule_study.py --models mobilenet_v2 --inputs 6 --size 224 --configs paper,zplus-flat+absprop
    python3 Graphs/rule_study.py --models mobilenet_v2 --inputs 4
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_torchvision import calibrate  # noqa: E402  (seeded LSUV + random BatchNorm)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
warnings.filterwarnings("ignore", message="Mean of empty slice")   # CLRP2 cosines of all-zero maps are nan

ROOT = Path(__file__).resolve().parent.parent
SHAPES_DIR = ROOT / "Tests" / "Fixtures" / "shapes" / "test"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
STAB = 1e-6  # clrp's default stabilizer


def stab(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z) with sign(0) = +1."""
    return z + eps * torch.where(z >= 0, 1.0, -1.0)


# --------------------------------------------------------------------------
# The tape: a forward pass recorded as ops over numbered values
# --------------------------------------------------------------------------

@dataclass
class Op:
    kind: str                 # conv | dense | clamp | add | maxpool | gap | gate
    inputs: list[int]
    output: int
    name: str
    W: torch.Tensor | None = None
    b: torch.Tensor | None = None
    stride: int = 1
    padding: int = 0
    groups: int = 1
    role: str = ""            # linear layers: first | conv | pointwise | dw | dense


class Tape:
    def __init__(self, x: torch.Tensor):
        self.values: list[torch.Tensor] = [x]
        self.ops: list[Op] = []
        self.linear_count = 0

    def _new(self, t: torch.Tensor) -> int:
        self.values.append(t)
        return len(self.values) - 1

    def conv(self, x: int, W, b, stride, padding, groups, name) -> int:
        a = self.values[x]
        out = F.conv2d(a, W, b, stride=stride, padding=padding, groups=groups)
        if self.linear_count == 0:
            role = "first"
        elif groups > 1 and groups == a.shape[1]:
            role = "dw"
        elif W.shape[2:] == (1, 1):
            role = "pointwise"
        else:
            role = "conv"
        self.linear_count += 1
        op = Op("conv", [x], self._new(out), name, W, b, stride, padding, groups, role)
        self.ops.append(op)
        return op.output

    def dense(self, x: int, W, b, name) -> int:
        self.linear_count += 1
        out = F.linear(self.values[x], W, b)
        self.ops.append(Op("dense", [x], self._new(out), name, W, b, role="dense"))
        return len(self.values) - 1

    def unary(self, kind: str, x: int, out: torch.Tensor, name: str, **kw) -> int:
        self.ops.append(Op(kind, [x], self._new(out), name, **kw))
        return len(self.values) - 1

    def add(self, x: int, y: int, name: str) -> int:
        out = self.values[x] + self.values[y]
        self.ops.append(Op("add", [x, y], self._new(out), name))
        return len(self.values) - 1

    def gate(self, x: int, g: int, name: str) -> int:
        """x * g, g a gate (squeeze-and-excitation): rule `signal` gives g no relevance."""
        out = self.values[x] * self.values[g]
        self.ops.append(Op("gate", [x, g], self._new(out), name))
        return len(self.values) - 1


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None):
    """Weights and bias of conv followed by eval-mode BatchNorm, folded (exact)."""
    W = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(W.shape[0])
    if bn is None:
        return W, b
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return W * scale.view(-1, 1, 1, 1), (b - bn.running_mean.double()) * scale + bn.bias.detach().double()


def tape_conv(T: Tape, x: int, conv: nn.Conv2d, bn, name: str) -> int:
    W, b = fold_bn(conv, bn)
    assert conv.dilation == (1, 1) and conv.stride[0] == conv.stride[1] and conv.padding[0] == conv.padding[1]
    return T.conv(x, W, b, conv.stride[0], conv.padding[0], conv.groups, name)


def tape_conv_bn_act(T: Tape, x: int, seq: nn.Sequential, name: str) -> int:
    """torchvision's Conv2dNormActivation: conv, BatchNorm, activation (ReLU/ReLU6/SiLU/Hardswish)."""
    conv, bn = seq[0], seq[1]
    h = tape_conv(T, x, conv, bn, name)
    if len(seq) > 2:
        h = tape_activation(T, h, seq[2], name + ".act")
    return h


def tape_activation(T: Tape, x: int, act: nn.Module, name: str) -> int:
    a = T.values[x]
    if isinstance(act, nn.ReLU6):
        return T.unary("clamp", x, a.clamp(0, 6), name)
    if isinstance(act, nn.ReLU):
        return T.unary("clamp", x, a.clamp_min(0), name)
    # SiLU, Hardswish, Hardsigmoid: the rule `pass`
    return T.unary("clamp", x, act(a), name)


def trace_mobilenet_v2(m, x: torch.Tensor) -> Tape:
    from torchvision.models.mobilenetv2 import InvertedResidual
    T = Tape(x)
    h = 0
    for i, blk in enumerate(m.features):
        if isinstance(blk, InvertedResidual):
            inp = h
            layers = list(blk.conv)
            for j, l in enumerate(layers[:-2]):
                h = tape_conv_bn_act(T, h, l, f"features.{i}.conv.{j}")
            h = tape_conv(T, h, layers[-2], layers[-1], f"features.{i}.project")
            if blk.use_res_connect:
                h = T.add(inp, h, f"features.{i}.add")
        else:
            h = tape_conv_bn_act(T, h, blk, f"features.{i}")
    h = T.unary("gap", h, T.values[h].mean(dim=(2, 3)), "gap")
    lin = m.classifier[1]
    T.dense(h, lin.weight.detach().double(), lin.bias.detach().double(), "classifier")
    return T


def trace_resnet50(m, x: torch.Tensor) -> Tape:
    T = Tape(x)
    h = tape_conv(T, 0, m.conv1, m.bn1, "conv1")
    h = T.unary("clamp", h, T.values[h].clamp_min(0), "relu")
    h = T.unary("maxpool", h, F.max_pool2d(T.values[h], 3, 2, 1), "maxpool")
    for li in range(1, 5):
        for bi, blk in enumerate(getattr(m, f"layer{li}")):
            n = f"layer{li}.{bi}"
            inp = h
            h = tape_conv(T, h, blk.conv1, blk.bn1, n + ".conv1")
            h = T.unary("clamp", h, T.values[h].clamp_min(0), n + ".relu1")
            h = tape_conv(T, h, blk.conv2, blk.bn2, n + ".conv2")
            h = T.unary("clamp", h, T.values[h].clamp_min(0), n + ".relu2")
            h = tape_conv(T, h, blk.conv3, blk.bn3, n + ".conv3")
            idn = tape_conv(T, inp, blk.downsample[0], blk.downsample[1], n + ".downsample") if blk.downsample else inp
            h = T.add(h, idn, n + ".add")
            h = T.unary("clamp", h, T.values[h].clamp_min(0), n + ".relu3")
    h = T.unary("gap", h, T.values[h].mean(dim=(2, 3)), "gap")
    T.dense(h, m.fc.weight.detach().double(), m.fc.bias.detach().double(), "fc")
    return T


def trace_efficientnet_b0(m, x: torch.Tensor) -> Tape:
    """MBConv with SiLU (pass) and squeeze-and-excitation gates (rule `signal`: the gate gets
    no relevance, so the SE branch is traced only for the forward value)."""
    from torchvision.models.efficientnet import MBConv
    from torchvision.ops.misc import SqueezeExcitation
    T = Tape(x)
    h = 0
    for i, stage in enumerate(m.features):
        blocks = stage if isinstance(stage, nn.Sequential) and isinstance(stage[0], MBConv) else [stage]
        for bi, blk in enumerate(blocks):
            n = f"features.{i}.{bi}"
            if not isinstance(blk, MBConv):
                h = tape_conv_bn_act(T, h, blk, n)
                continue
            inp = h
            for j, l in enumerate(blk.block):
                if isinstance(l, SqueezeExcitation):
                    a = T.values[h]
                    s = l.avgpool(a)
                    s = l.scale_activation(l.fc2(l.activation(l.fc1(s))))
                    g = T.unary("const", 0, s, n + ".se")   # the gate as a value with no relevance path
                    h = T.gate(h, g, n + ".se.mul")
                else:
                    h = tape_conv_bn_act(T, h, l, f"{n}.block.{j}")
            if blk.use_res_connect:
                h = T.add(inp, h, n + ".add")
    h = T.unary("gap", h, T.values[h].mean(dim=(2, 3)), "gap")
    lin = m.classifier[1]
    T.dense(h, lin.weight.detach().double(), lin.bias.detach().double(), "classifier")
    return T


MODELS = {
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), trace_mobilenet_v2, 11),
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), trace_resnet50, 12),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), trace_efficientnet_b0, 13),
}


def build(name: str, size: int):
    make, trace, seed = MODELS[name]
    torch.manual_seed(seed)
    m = make()
    m.float()
    torch.set_default_dtype(torch.float32)
    try:
        calibrate(m, (4, 3, size, size), seed)
    finally:
        torch.set_default_dtype(torch.float64)
    m = m.double().eval()
    return m, trace


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class LinearRule:
    """A linear-layer rule by name, with clrp's parameters.

    kinds: epsilon (eps, bias), zplus, alphabeta (alpha, beta), zbox, wsquare, flat,
    gamma (gamma, eps, bias), gamma-gen (Zennit's generalized gamma), zplus-flat (eta): the proposed z+ rule with a flat term of
    weight eta in numerator and denominator, see terms()."""
    kind: str
    eps: float = STAB
    bias: bool = False
    alpha: float = 2.0
    beta: float = 1.0
    gamma: float = 0.25
    eta: float = 1e-6

    def label(self) -> str:
        if self.kind == "epsilon":
            return f"eps{self.eps:g}" + ("" if self.bias else "-nobias")
        if self.kind == "gamma":
            return f"gamma{self.gamma:g}"
        if self.kind == "gamma-gen":
            return f"gamma-gen{self.gamma:g}" + ("" if self.bias else "-nobias")
        if self.kind == "alphabeta":
            return f"a{self.alpha:g}b{self.beta:g}"
        if self.kind == "zplus-flat":
            return f"zplus-flat{self.eta:g}"
        return self.kind


@dataclass(frozen=True)
class Config:
    name: str
    first: LinearRule
    conv: LinearRule           # every conv that is not first or depthwise
    dw: LinearRule             # depthwise convs
    dense: LinearRule          # the classifier
    add: str = "proportional"  # proportional | abs-proportional | equal | both (autograd, Zennit without canonizer)
    note: str = ""
    gap: str = "proportional"  # proportional | uniform (the gradient: what Zennit does to a functional pooling call)


def denominators(rule: LinearRule, a: torch.Tensor, W: torch.Tensor, b: torch.Tensor, low, high):
    """[(lambda, [(input, weight, coef)], bias or None, eps)] as in clrp's LinearRuleLowering."""
    ones_a = torch.ones_like(a)
    Wp, Wn = W.clamp_min(0), W.clamp_max(0)
    ap, an = a.clamp_min(0), a.clamp_max(0)
    k = rule.kind
    if k == "epsilon":
        return [(1.0, [(a, W, 1.0)], b if rule.bias else None, rule.eps)]
    if k == "gamma":
        g = rule.gamma
        return [(1.0, [(a, W + g * Wp, 1.0)], (b + g * b.clamp_min(0)) if rule.bias else None, rule.eps)]
    if k == "zplus":
        return [(1.0, [(ap, Wp, 1.0), (an, Wn, 1.0)], None, STAB)]
    if k == "zplus-flat":
        # z+ numerators plus eta per input of the window; the denominator is their sum, so the
        # rule conserves wherever eta > 0 and equals z+ up to O(eta n / z+) elsewhere.
        # The denominator is at least eta * (inputs in the window) > 0: no stabilizer is needed,
        # and one would only leak relevance where z+ is 0 (eps / (eta n + eps) of it).
        return [(1.0, [(ap, Wp, 1.0), (an, Wn, 1.0), (ones_a, torch.ones_like(W), rule.eta)], None, 0.0)]
    if k == "alphabeta":
        return [(rule.alpha, [(ap, Wp, 1.0), (an, Wn, 1.0)], None, STAB),
                (-rule.beta, [(ap, Wn, 1.0), (an, Wp, 1.0)], None, STAB)]
    if k == "zbox":
        return [(1.0, [(a, W, 1.0), (low, Wp, -1.0), (high, Wn, -1.0)], None, STAB)]
    if k == "wsquare":
        return [(1.0, [(ones_a, W * W, 1.0)], None, STAB)]
    if k == "flat":
        return [(1.0, [(ones_a, torch.ones_like(W), 1.0)], None, STAB)]
    raise ValueError(k)


class Stats:
    """Per-image bookkeeping of where the top-1 relevance (signal 0) goes."""

    def __init__(self):
        self.zeros = {"dw": 0, "other": 0}
        self.lost_zero = 0.0
        self.absorbed = 0.0
        self.amp = 1.0
        self.per_layer: list[tuple[str, str, int, float]] = []  # name, role, zero denominators, lost / score (signal 0)
        self.score = 0.0


def linear_backward(op: Op, rule: LinearRule, a: torch.Tensor, R: torch.Tensor, bounds, st: Stats):
    """R: K x out. Returns K x in."""
    W, b = op.W, op.b
    K = R.shape[0]
    if op.kind == "conv":
        fwd = lambda x, w: F.conv2d(x, w, None, op.stride, op.padding, 1, op.groups)
        size = (K,) + tuple(a.shape[1:])
        bwd = lambda s, w: torch.nn.grad.conv2d_input(size, w, s, op.stride, op.padding, 1, op.groups)
        bshape = (1, -1, 1, 1)
    else:
        fwd = lambda x, w: F.linear(x, w)
        bwd = lambda s, w: s @ w
        bshape = (1, -1)
    low = high = None
    if rule.kind == "zbox":
        low = bounds[0].expand_as(a)
        high = bounds[1].expand_as(a)
    R_in = torch.zeros((K,) + tuple(a.shape[1:]))
    zero_mask = torch.zeros_like(R[:1], dtype=torch.bool)
    if rule.kind == "gamma-gen":
        R_in, zero_mask = generalized_gamma(rule, a, W, b, R, fwd, bwd, bshape)
    for lam, terms, bias, eps in ([] if rule.kind == "gamma-gen" else denominators(rule, a, W, b, low, high)):
        z = sum(c * fwd(x, w) for x, w, c in terms)
        if bias is not None:
            z = z + bias.view(bshape)
        zero_mask |= (z == 0)
        s = R / stab(z, eps)
        for x, w, c in terms:
            R_in = R_in + lam * c * x * bwd(s, w)
    n0 = int(zero_mask.sum())
    lost = float(R[0][zero_mask[0]].sum()) if n0 else 0.0
    key = "dw" if op.role == "dw" else "other"
    st.zeros[key] += n0
    st.lost_zero += lost
    st.absorbed += float(R[0].sum() - R_in[0].sum()) - lost
    st.per_layer.append((op.name, op.role, n0, lost / st.score if st.score else lost))
    return R_in


def generalized_gamma(rule: LinearRule, a, W, b, R, fwd, bwd, bshape):
    """Zennit 0.5.1's `Gamma` (Montavon et al. 2019, generalized to signed inputs after Andeol
    et al. 2021): a unit whose output z_j = sum_i a_i w_ij + b_j is positive distributes over
    a+ (w + g w+) + a- (w + g w-), one whose output is negative over a+ (w + g w-) + a- (w + g w+),
    each normalized by its own sum; units with z_j = 0 pass nothing. The bias (b + g b+ resp.
    b + g b-) enters the denominator when rule.bias, as in Zennit's default."""
    g = rule.gamma
    Wp, Wn = W.clamp_min(0), W.clamp_max(0)
    ap, an = a.clamp_min(0), a.clamp_max(0)
    z = fwd(a, W) + b.view(bshape)
    R_in = 0
    zero_mask = (z == 0)
    for mask, (wa, wb), bias in (((z > 0), (W + g * Wp, W + g * Wn), b + g * b.clamp_min(0)),
                                 ((z < 0), (W + g * Wn, W + g * Wp), b + g * b.clamp_max(0))):
        d = fwd(ap, wa) + fwd(an, wb)
        if rule.bias:
            d = d + bias.view(bshape)
        zero_mask |= mask & (d == 0)
        s = R * mask / stab(d, rule.eps)
        R_in = R_in + ap * bwd(s, wa) + an * bwd(s, wb)
    return R_in, zero_mask


def add_backward(rule: str, a: torch.Tensor, b: torch.Tensor, R: torch.Tensor, st: Stats):
    if rule == "proportional":
        d = stab(a + b, STAB)
        Ra, Rb = a / d * R, b / d * R
    elif rule == "abs-proportional":
        d = stab(a.abs() + b.abs(), STAB)
        Ra, Rb = a.abs() / d * R, b.abs() / d * R
    elif rule == "equal":
        Ra, Rb = R / 2, R / 2
    elif rule == "both":
        Ra, Rb = R, R
    else:
        raise ValueError(rule)
    total = float(R[0].abs().sum())
    if total > 0:
        st.amp = max(st.amp, float((Ra[0].abs() + Rb[0].abs()).sum()) / total)
    st.absorbed += float(R[0].sum() - Ra[0].sum() - Rb[0].sum())
    return Ra, Rb


def head_signals(op: Op, rule: LinearRule, a: torch.Tensor, t1: int, t2: int, st: Stats):
    """Relevance at the classifier's input for the six signals (see the module doc)."""
    W, b = op.W, op.b
    z = F.linear(a, W, b)[0]
    C = W.shape[0]
    out = []
    for t in (t1, t2):
        start = torch.zeros(1, C)
        start[0, t] = z[t]
        lrp = linear_backward(op, rule, a, start, None, Stats())
        Wd, bd = W.clone(), b.clone()
        Wd[t], bd[t] = -W[t], -b[t]
        dual2 = linear_backward(replace(op, W=Wd, b=bd), rule, a, start, None, Stats())
        s1 = torch.full((1, C), float(z[t]) / (C - 1))
        s1[0, t] = 0
        dual1 = linear_backward(op, rule, a, s1, None, Stats())
        out.append((lrp, dual2, dual1))
    (l1, d21, d11), (l2, d22, d12) = out
    # bookkeeping of the head for signal 0
    st.absorbed += float(z[t1] - l1.sum())
    return torch.cat([l1, d21, l2, d22, d11, d12]), z


def explain(T: Tape, cfg: Config, bounds, st: Stats):
    """Backward over the tape; returns K x input relevance, the logits and (t1, t2)."""
    logits = T.values[T.ops[-1].output][0]
    t1, t2 = [int(i) for i in torch.topk(logits, 2).indices]
    R: dict[int, torch.Tensor] = {}
    head = T.ops[-1]
    rule = {"first": cfg.first, "dw": cfg.dw, "dense": cfg.dense}
    st.score = float(logits[t1])
    Rh, _ = head_signals(head, cfg.dense, T.values[head.inputs[0]], t1, t2, st)
    R[head.inputs[0]] = Rh

    def give(i, r):
        R[i] = R[i] + r if i in R else r

    for op in reversed(T.ops[:-1]):
        if op.output not in R:   # a value no relevance reached (an SE gate)
            continue
        Ro = R.pop(op.output)
        x = T.values[op.inputs[0]]
        if op.kind in ("conv", "dense"):
            give(op.inputs[0], linear_backward(op, rule.get(op.role, cfg.conv), x, Ro, bounds, st))
        elif op.kind == "clamp":
            give(op.inputs[0], Ro)
        elif op.kind == "gate":
            give(op.inputs[0], Ro)            # `signal`: all to the gated signal
        elif op.kind == "add":
            Ra, Rb = add_backward(cfg.add, x, T.values[op.inputs[1]], Ro, st)
            give(op.inputs[0], Ra)
            give(op.inputs[1], Rb)
        elif op.kind == "gap" and cfg.gap == "uniform":
            n = x.shape[2] * x.shape[3]
            give(op.inputs[0], (Ro / n)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3]))
        elif op.kind == "gap":
            d = stab(x.sum(dim=(2, 3)), STAB)
            give(op.inputs[0], x * (Ro / d)[:, :, None, None])
        elif op.kind == "maxpool":
            with torch.enable_grad():   # winner-take-all = the max-pool gradient
                xx = x.expand(Ro.shape[0], -1, -1, -1).clone().requires_grad_(True)
                (g,) = torch.autograd.grad(F.max_pool2d(xx, 3, 2, 1), xx, Ro)
            give(op.inputs[0], g)
        elif op.kind == "const":
            pass
        else:
            raise ValueError(op.kind)
    return R[0], logits, (t1, t2)


# --------------------------------------------------------------------------
# Inputs and metrics
# --------------------------------------------------------------------------

def smooth_image(seed: int, size: int) -> torch.Tensor:
    """A smooth random RGB image in [0, 1]: low-resolution noise, bicubically upsampled, plus
    a few soft blobs (structure at several scales, not white noise)."""
    g = torch.Generator().manual_seed(seed)
    img = F.interpolate(torch.rand(1, 3, 7, 7, generator=g), size=(size, size), mode="bicubic", align_corners=False)
    img = img + 0.5 * F.interpolate(torch.rand(1, 3, 28, 28, generator=g) - 0.5, size=(size, size), mode="bilinear", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    for _ in range(3):
        cy, cx, r = torch.rand(3, generator=g)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.02 + 0.05 * r))
        img = img + (torch.rand(3, 1, 1, generator=g) - 0.5) * blob
    return img.clamp(0, 1)


def shapes_image(index: int, size: int) -> torch.Tensor:
    from PIL import Image
    path = SHAPES_DIR / f"{index:04d}.png"
    im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, dtype=np.float64) / 255.0).permute(2, 0, 1)[None]


def inputs(n: int, size: int) -> list[tuple[str, torch.Tensor]]:
    out = []
    for k in range(n):
        if k % 2 == 0 and SHAPES_DIR.exists():
            img, label = shapes_image(17 * k, size), f"shapes/{17 * k:04d}"
        else:
            img, label = smooth_image(1000 + k, size), f"smooth/{1000 + k}"
        out.append((label, (img - MEAN) / STD))
    return out


def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    nu, nv = float(u.norm()), float(v.norm())
    if nu == 0 or nv == 0:
        return float("nan")
    return float((u * v).sum()) / (nu * nv)


def metrics(Rin: torch.Tensor, z, t1, t2, st: Stats) -> dict:
    heat = Rin.sum(dim=1)  # K x H x W
    c2 = [(Rin[0] - Rin[1]).clamp_min(0).sum(0), (Rin[2] - Rin[3]).clamp_min(0).sum(0)]
    c1 = [(Rin[0] - Rin[4]).clamp_min(0).sum(0), (Rin[2] - Rin[5]).clamp_min(0).sum(0)]
    h0 = heat[0]
    pos = float(h0.clamp_min(0).sum()) / max(float(h0.abs().sum()), 1e-300)
    score = float(z[t1])
    return dict(
        cons=float(Rin[0].sum()) / score,
        lost0=st.lost_zero / score,
        bias=st.absorbed / score,
        zdw=st.zeros["dw"], zother=st.zeros["other"],
        amp=st.amp,
        pos=pos,
        cosLRP=cosine(heat[0], heat[2]),
        cosDual=cosine(heat[0], heat[1]),
        cosC2=cosine(c2[0], c2[1]),
        cosC1=cosine(c1[0], c1[1]),
        c2mass=float(c2[0].sum()) / max(float(h0.clamp_min(0).sum()), 1e-300),
    )


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------

ZB = LinearRule("zbox")
ZP = LinearRule("zplus")
ZPF = LinearRule("zplus-flat", eta=1e-6)
EPS0 = LinearRule("epsilon", eps=1e-6, bias=True)
EPS25 = LinearRule("epsilon", eps=0.25, bias=True)
AB = LinearRule("alphabeta", alpha=2, beta=1)
GAM = LinearRule("gamma", gamma=0.25, eps=1e-6, bias=True)
GGEN = LinearRule("gamma-gen", gamma=0.25, eps=1e-6, bias=True)
FLAT = LinearRule("flat")
WSQ = LinearRule("wsquare")


def configurations() -> list[Config]:
    return [
        Config("paper", ZB, ZP, ZP, ZP, "proportional", "Rules/paper.yaml"),
        Config("paper+absprop", ZB, ZP, ZP, ZP, "abs-proportional"),
        Config("paper+equal", ZB, ZP, ZP, ZP, "equal"),
        Config("paper dw=flat", ZB, ZP, FLAT, ZP, "proportional"),
        Config("paper dw=wsquare", ZB, ZP, WSQ, ZP, "proportional"),
        Config("paper dw=eps", ZB, ZP, EPS0, ZP, "proportional"),
        Config("paper dw=zplus-flat", ZB, ZP, ZPF, ZP, "proportional"),
        Config("zplus-flat+absprop", ZB, ZPF, ZPF, ZP, "abs-proportional", "candidate"),
        Config("zplus-flat+equal", ZB, ZPF, ZPF, ZP, "equal", "candidate"),
        Config("dw=flat+absprop", ZB, ZP, FLAT, ZP, "abs-proportional", "candidate"),
        Config("epsilon 1e-6", EPS0, EPS0, EPS0, EPS0, "proportional", "Rules/epsilon.yaml"),
        Config("epsilon 0.25", ZB, EPS25, EPS25, EPS0, "proportional"),
        Config("eps-plus-flat", FLAT, ZP, ZP, EPS0, "proportional", "Rules/epsilon-plus-flat.yaml, Zennit EpsilonPlusFlat (bias off)"),
        Config("alpha2beta1", AB, AB, AB, AB, "proportional", "Rules/alpha2beta1.yaml"),
        Config("a2b1+absprop", ZB, AB, AB, ZP, "abs-proportional"),
        Config("gamma-box", ZB, GAM, GAM, EPS0, "proportional", "clrp's gamma in an EpsilonGammaBox layout"),
        Config("gamma+absprop", ZB, GAM, GAM, ZP, "abs-proportional"),
        Config("zennit-gamma-box", ZB, GGEN, GGEN, EPS0, "proportional", "Zennit EpsilonGammaBox (its generalized gamma)"),
        Config("zennit-gamma+absprop", ZB, GGEN, GGEN, ZP, "abs-proportional"),
    ]


QUICK = ["paper", "paper+absprop", "paper dw=flat", "paper dw=zplus-flat", "zplus-flat+absprop",
         "epsilon 1e-6", "eps-plus-flat", "zennit-gamma-box"]

COLUMNS = ["cons", "lost0", "bias", "zdw", "zother", "amp", "pos", "cosLRP", "cosDual", "cosC2", "cosC1", "c2mass", "cosPaper"]


def fmt(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if abs(v) >= 1000:
        return f"{v:.3g}"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


def run_model(name: str, n_inputs: int, size: int, configs: list[Config], per_layer: bool) -> dict:
    t0 = time.time()
    m, trace = build(name, size)
    bounds = (((0 - MEAN) / STD), ((1 - MEAN) / STD))
    data = inputs(n_inputs, size)
    tapes = []
    for label, x in data:
        with torch.no_grad():
            T = trace(m, x)
            ref = m(x)[0]
        got = T.values[T.ops[-1].output][0]
        err = float((got - ref).abs().max())
        assert err <= 1e-8 * float(ref.abs().max()) + 1e-10, f"{name}: tape forward differs from torch by {err}"
        tapes.append((label, T))
    print(f"\n## {name} ({n_inputs} inputs at {size}x{size}; tape forward == torch forward; built in {time.time() - t0:.0f}s)\n")
    results = {}
    header = "| config | " + " | ".join(COLUMNS) + " |"
    print(header)
    print("|" + "---|" * (len(COLUMNS) + 1))
    has_dw = any(op.role == "dw" for op in tapes[0][1].ops)
    paper_maps: dict[int, torch.Tensor] = {}   # the top-1 LRP heatmaps of the paper config, per input
    seen = {}
    for cfg in configs:
        # Without depthwise convs, a config that differs from an earlier one only in its
        # depthwise rule computes the same maps: print it once.
        key = (cfg.first, cfg.conv, cfg.dense, cfg.add, cfg.gap) + ((cfg.dw,) if has_dw else ())
        if key in seen:
            print(f"| {cfg.name} | = {seen[key]} (no depthwise convs) |" + " |" * (len(COLUMNS) - 1))
            continue
        seen[key] = cfg.name
        rows = []
        layer_rows = None
        for k, (label, T) in enumerate(tapes):
            st = Stats()
            with torch.no_grad():
                Rin, z, (t1, t2) = explain(T, cfg, bounds, st)
            row = metrics(Rin, z, t1, t2, st)
            heat = Rin[0].sum(0)
            if cfg.name == "paper":
                paper_maps[k] = heat
            row["cosPaper"] = cosine(heat, paper_maps[k]) if k in paper_maps else float("nan")
            rows.append(row)
            if layer_rows is None:
                layer_rows = st.per_layer
        mean = {k: float(np.nanmean([r[k] for r in rows])) for k in COLUMNS}
        results[cfg.name] = (mean, rows, layer_rows)
        print(f"| {cfg.name} | " + " | ".join(fmt(mean[k]) for k in COLUMNS) + " |", flush=True)
    if per_layer and "paper" in results:
        print(f"\n{name}, paper preset, first input: linear layers with zero denominators (count, lost / score)\n")
        _, rows, layer_rows = results["paper"]
        for lname, role, n0, lost in reversed(layer_rows):
            if n0:
                print(f"  {lname:28s} {role:9s} {n0:6d}  lost {lost:+.4f} of the score")
    print(f"\n({name}: {time.time() - t0:.0f}s)")
    return results


# --------------------------------------------------------------------------
# Zennit cross-check
# --------------------------------------------------------------------------

def zennit_check(name: str, size: int) -> None:
    """EpsilonPlusFlat (biases zeroed, as clrp's z+ and flat bypass them) with Zennit's canonizers
    against the same rules in our tape. ResNet: ResNetCanonizer (BatchNorm merged, a Sum module
    for the residual with the Norm rule = proportional). MobileNetV2: Zennit has no canonizer for
    InvertedResidual, so its `x + conv(x)` stays a plain autograd add that hands R to both
    operands (our rule `both`)."""
    from zennit.composites import EpsilonPlusFlat
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer
    m, trace = build(name, size)
    # Zennit's merge leaves each BatchNorm as x / sqrt(1 + eps), not the identity: with eps 0
    # both sides compute exactly the same function.
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.eps = 0.0
    x = inputs(1, size)[0][1]
    with torch.no_grad():
        T = trace(m, x)
    canon = [ResNetCanonizer()] if name == "resnet50" else [SequentialMergeBatchNorm()]
    # MobileNetV2 pools with a functional call, which Zennit's hooks do not see: the gradient.
    add, gap = ("proportional", "proportional") if name == "resnet50" else ("both", "uniform")
    cfg = Config("eps-plus-flat (zennit)", FLAT, ZP, ZP, LinearRule("epsilon", eps=1e-6, bias=False), add, gap=gap)
    st = Stats()
    with torch.no_grad():
        Rin, z, (t1, _) = explain(T, cfg, (None, None), st)
    compare(m, x, EpsilonPlusFlat(zero_params=["bias"], canonizers=canon), "EpsilonPlusFlat", name, Rin, z, t1)

    # EpsilonGammaBox: z^B first, Zennit's generalized gamma on the convs, epsilon on the dense layer.
    from zennit.composites import EpsilonGammaBox
    low, high = ((0 - MEAN) / STD).expand_as(x), ((1 - MEAN) / STD).expand_as(x)
    nobias = LinearRule("gamma-gen", gamma=0.25, eps=1e-6, bias=False)
    cfg = Config("zennit-gamma-box", ZB, nobias, nobias, LinearRule("epsilon", eps=1e-6, bias=False), add, gap=gap)
    with torch.no_grad():
        Rin, z, (t1, _) = explain(T, cfg, (low[:, :, :1, :1], high[:, :, :1, :1]), Stats())
    comp = EpsilonGammaBox(low=low, high=high, zero_params=["bias"],
                           canonizers=[ResNetCanonizer()] if name == "resnet50" else [SequentialMergeBatchNorm()])
    compare(m, x, comp, "EpsilonGammaBox", name, Rin, z, t1)


def compare(m, x, comp, label, name, Rin, z, t1) -> None:
    xx = x.clone().requires_grad_(True)
    with comp.context(m) as mod:
        out = mod(xx)
        onehot = torch.zeros_like(out)
        onehot[0, t1] = out[0, t1].detach()
        (g,) = torch.autograd.grad(out, xx, onehot)
    ours = Rin[0:1]
    diff = float((g - ours).abs().max()) / float(ours.abs().max())
    print(f"  zennit {label} vs ours on {name}: max |diff| / max |R| = {diff:.2e}; "
          f"sum R/score zennit {float(g.sum()) / float(z[t1]):.4f}, ours {float(ours.sum()) / float(z[t1]):.4f}")


def export_for_clrp(name: str, size: int, out_dir: Path) -> None:
    """The study's calibrated model as float32 ONNX (legacy exporter, opset 13, BatchNorm kept
    for clrp to fold) and the first study input as .npy, for `clrp verify` on the same net."""
    m, _ = build(name, size)
    m = m.float().eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    x = inputs(1, size)[0][1].float()
    path = out_dir / f"{name}_study.onnx"
    torch.onnx.export(m, x, str(path), input_names=["input"], output_names=["logits"], opset_version=13,
                      do_constant_folding=False, dynamo=False)
    np.save(out_dir / f"{name}_study_input.npy", x.numpy())
    print(f"wrote {path} and {name}_study_input.npy ({size}x{size})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 inputs at 96x96, the headline configs only")
    ap.add_argument("--models", default="mobilenet_v2,resnet50,efficientnet_b0", help="comma-separated: " + ",".join(MODELS))
    ap.add_argument("--inputs", type=int, default=None)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--configs", default=None, help="comma-separated config names (default: all)")
    ap.add_argument("--no-zennit", action="store_true")
    ap.add_argument("--export-onnx", metavar="DIR", help="only write the calibrated models (--models) as ONNX + an input .npy for `clrp verify`")
    args = ap.parse_args()
    if args.export_onnx:
        for name in args.models.split(","):
            export_for_clrp(name, args.size or 128, Path(args.export_onnx))
        return
    n = args.inputs or (2 if args.quick else 4)
    size = args.size or (96 if args.quick else 128)
    configs = configurations()
    if args.quick and not args.configs:
        args.configs = ",".join(QUICK)
    if args.configs:
        wanted = args.configs.split(",")
        configs = [c for c in configs if c.name in wanted]
    print(f"# rule study: {n} inputs at {size}x{size}, float64, torch {torch.__version__}")
    print("\nconfigs (first / conv / depthwise / dense / residual add):")
    for c in configs:
        print(f"  {c.name:22s} {c.first.label()} / {c.conv.label()} / {c.dw.label()} / {c.dense.label()} / {c.add}"
              + (f"   [{c.note}]" if c.note else ""))
    for name in args.models.split(","):
        run_model(name, n, size, configs, per_layer=True)
    if not args.no_zennit:
        print("\n## Zennit cross-check (first input)\n")
        for name in args.models.split(","):
            if name in ("resnet50", "mobilenet_v2"):
                zennit_check(name, size)


if __name__ == "__main__":
    main()

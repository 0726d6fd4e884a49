#!/usr/bin/env python3
"""Small committed fixtures of the zoo's distinctive blocks, with onnxruntime logits and float64
relevance references (issue 9).

Each fixture is a tiny classifier: input [1, 3, 16, 16] -> stem conv -> the block -> global average
pool -> Linear -> 5 classes, built from torchvision's own block classes, seeded, and made
numerically healthy by `calibrate()` from export_torchvision.py (imported). Blocks:

  se_block            stem Conv+BN+ReLU, Conv 3x3 + ReLU, torchvision SqueezeExcitation (ReLU, Sigmoid gate)
  mbv3_block          stem Conv+BN+Hardswish, MobileNetV3 InvertedResidual (expand 1x1, depthwise 3x3,
                      Hardswish, SE with Hardsigmoid gate, linear projection, residual Add)
  mbconv_block        stem Conv+BN+SiLU, EfficientNet MBConv (SiLU, SE with SiLU/Sigmoid, residual Add)
  dense_block         stem Conv+BN+ReLU, DenseNet _DenseBlock of 2 layers (BN-ReLU-Conv1x1-BN-ReLU-Conv3x3,
                      concat), final BN+ReLU as densenet's norm5
  fire_block          stem Conv+ReLU, MaxPool 3/2 ceil_mode (16x16 -> 8x8, floor would give 7x7),
                      SqueezeNet Fire (squeeze 1x1, expand 1x1 and 3x3, concat)
  convnext_block      stem Conv 2x2/2, ConvNeXt CNBlock (depthwise 7x7, permute to NHWC, LayerNorm over
                      channels, Linear on the last axis, GELU, Linear, permute back, layer scale, residual)
  bottleneck_block    stem Conv+BN+ReLU, ResNet Bottleneck, stride 2, with a downsample Conv1x1+BN
  shuffle_block       stem Conv+BN+ReLU, two ShuffleNetV2 InvertedResidual units: stride 2 (both branches,
                      concat, channel shuffle) then stride 1 (chunk into two halves, one through the branch,
                      concat, channel shuffle). Legacy writes chunk as Slice with ends computed from
                      Shape; dynamo as Split (num_outputs 2); the shuffle as Reshape to 5-D, Transpose,
                      Reshape back

Each block is exported by the legacy TorchScript exporter (`dynamo=False`, constant folding on, so
BatchNorm after a conv is folded; opset 13, 14 for HardSwish, 17 for LayerNormalization) and by the
dynamo exporter (`dynamo=True`, opset 18), dynamic batch, into Tests/Fixtures/zoo/<block>/:

  legacy.onnx, dynamo.onnx       the two exports (same weights)
  input.npy                      float32 [1,3,16,16]: pixels U[0,1) normalized with ImageNet mean/std
  logits.legacy.npy, logits.dynamo.npy   onnxruntime (CPU, graph optimizations off)
  lrp.epsilon.npy, lrp.zplus.npy, lrp.paper.npy   float64 relevance at the input (stored float32)
  gradient.npy                   float64 gradient of the target logit at the input
and Tests/Fixtures/zoo/manifest.json (target class, score, which reference made each map, checks).

Relevance references: what clrp's presets are documented to compute
-------------------------------------------------------------------
Target c = argmax of the logits; the LRP maps start from R = onehot(c) * logit_c, the gradient from
onehot(c). Rules of the presets (Rules/epsilon.yaml, zplus.yaml, paper.yaml), stab(z) = z + 1e-6 sign(z),
sign(0) = +1:
  Conv / Linear  epsilon: R_i = a_i sum_j w_ij R_j / stab(z_j + b_j)                 (biases included)
                 zplus:   R_i = sum_j (a_i+ w_ij+ + a_i- w_ij-) / stab(sum (..)) R_j   (biases bypassed)
                 paper:   z^B on the first conv (low/high = ImageNet bounds of the pixel range [0, 1]),
                          zplus on every other conv and linear layer
                 BatchNorm right after a conv is merged into it first (the exporter folds it too).
  MaxPool        winner-take-all (the gradient's routing)
  AveragePool / GlobalAveragePool / ReduceMean   proportional: R_i = a_i sum_j (1/k) R_j / stab(z_j)
  residual Add   proportional: R_a = a R / stab(a + b), R_b = b R / stab(a + b)
  Concat, Flatten, Reshape, Transpose, chunk (Slice/Split)     relevance moves with the values
  activations    pass (R_in = R_out): ReLU, Hardswish, SiLU (exported as x * Sigmoid(x), whose gate
                 rule gives the same), GELU, Sigmoid, Hardsigmoid
  gate Mul       signal: the squeeze-and-excitation product scale * x gives all relevance to the
                 gated signal x and none to the gate (Arras et al. 2017), as issue 9 specifies
  BatchNorm not after a conv (DenseNet's BN-ReLU-Conv)   an affine node: pass
  layer scale    a constant per-channel Mul: pass (with a positive scale, as here, folding it into the
                 Linear before it gives the same epsilon and zplus relevance)
  LayerNorm      ASSUMED (clrp has no LayerNorm yet): Ali et al. 2022's LN-rule. The standard deviation
                 is treated as a constant, so u = (x - mean(x)) / sigma is linear in x, and relevance
                 goes through it with the epsilon rule: R_x = x * C^T(R_u / stab(u)) / sigma, C the
                 centering matrix (conserving); the affine gamma*u + beta after it passes relevance.
                 The same for all three presets (it is not a conv/linear layer).
The reference "torch-rules" computes all of this with one torch.autograd.Function per op whose
backward returns the relevance of its inputs (float64; the network's forward is re-written from
the module's parameters and checked against the module to 1e-10).

A second implementation checks torch-rules where Zennit cannot (se, mbv3, mbconv, convnext, and
also fire, bottleneck and shuffle): `gradient_times_input_map`, the "gradient x input" trick on a copy of the
torch module whose pass-through ops pass relevance in the backward pass only (y = x * (f(x)/x).detach(),
the SE gate detached, LayerNorm's sigma detached). Gradient x input equals LRP-epsilon in the limit
epsilon -> 0, so it is compared with torch-rules run at epsilon = 1e-13: they agree to 1e-9 of max|R|
(asserted; measured 1e-12 to 1.5e-10). Not on dense_block: a BatchNorm after a ReLU shifts zero
activations away from 0 and `pass` gives them relevance, which gradient x input cannot represent.

Zennit (0.5.1, float64) is run as a second, independent implementation where its semantics equal
clrp's: shuffle_block (BN merged; chunk, cat and the shuffle are tensor functions whose gradient moves
relevance with the values), bottleneck_block (ResNetCanonizer: BN merged, the residual Add as a Sum module with the
Norm rule = proportional), fire_block and dense_block (BN merged only where it follows a conv, by
name; the other BNs get Pass), with Epsilon(1e-6) / ZPlus(zero_params=['bias']) / ZBox(zero_params=
['bias']), Pass on the activations, Norm on average pooling, the gradient on max pooling, cat and
flatten. Its maps must match torch-rules to 1e-6 of max|R| (asserted); the manifest then names
"zennit" as the reference. Where Zennit's semantics differ it is not used:
  * the SE gate Mul (se/mbv3/mbconv): `scale * input` is a function call, not a module, so Zennit
    applies no rule and back-propagates the relevance as a gradient: R_x = scale * R and
    R_scale = x * R, which then flows into the SE convs' rules. That is neither clrp's `signal`
    (R_x = R, R_scale = 0) nor conserving;
  * SiLU in MBConv is `nn.SiLU`: Zennit's default (no rule) would be its derivative, Pass equals clrp;
  * LayerNorm: Zennit has no LayerNorm rule (gradient by default), and the layer scale Mul and the
    residual `+=` of CNBlock are not modules.
The gradient maps are plain float64 torch autograd of the module (reference "torch-autograd").

Run: python3 Graphs/zoo_blocks.py   (about 20 s; needs torch, torchvision, onnx, onnxruntime,
onnxscript, zennit==0.5.1)
"""
from __future__ import annotations

import collections
import copy
import json
import shutil
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import convnext, densenet, efficientnet, mobilenetv3, resnet, shufflenetv2, squeezenet
from torchvision.ops import SqueezeExcitation
from torchvision.ops.misc import Permute
from torchvision.ops.stochastic_depth import StochasticDepth

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from export_torchvision import CALIB_BATCH, calibrate  # noqa: E402
from export_zoo import export_dynamo  # noqa: E402

from zennit.attribution import Gradient  # noqa: E402
from zennit.canonizers import MergeBatchNorm, NamedMergeBatchNorm  # noqa: E402
from zennit.composites import NameMapComposite  # noqa: E402
from zennit.layer import Sum  # noqa: E402
from zennit.rules import Epsilon, Norm, Pass, ZBox, ZPlus  # noqa: E402
from zennit.torchvision import ResNetBottleneckCanonizer  # noqa: E402

ROOT = HERE.parent
OUT = ROOT / "Tests" / "Fixtures" / "zoo"
SIDE = 16
CLASSES = 5
EPS = 1e-6
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DYNAMO_OPSET = 18

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# The fixtures
# --------------------------------------------------------------------------------------------

class BlockClassifier(nn.Module):
    """stem -> block -> global average pool -> flatten -> Linear(classes)."""

    def __init__(self, stem: nn.Module, block: nn.Module, channels: int):
        super().__init__()
        self.stem = stem
        self.block = block
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, CLASSES)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))


def conv_bn_act(cin, cout, act, kernel=3, stride=1):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


def se_block():
    block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(), SqueezeExcitation(8, 4))
    return BlockClassifier(conv_bn_act(3, 8, nn.ReLU), block, 8)


def mbv3_block():
    config = mobilenetv3.InvertedResidualConfig(16, 3, 48, 16, True, "HS", 1, 1, 1.0)
    block = mobilenetv3.InvertedResidual(config, norm_layer=nn.BatchNorm2d)
    return BlockClassifier(conv_bn_act(3, 16, nn.Hardswish), block, 16)


def mbconv_block():
    config = efficientnet.MBConvConfig(4, 3, 1, 16, 16, 1)
    block = efficientnet.MBConv(config, stochastic_depth_prob=0.0, norm_layer=nn.BatchNorm2d)
    return BlockClassifier(conv_bn_act(3, 16, nn.SiLU), block, 16)


def dense_block():
    block = nn.Sequential(densenet._DenseBlock(2, 8, bn_size=2, growth_rate=4, drop_rate=0.0),
                          nn.BatchNorm2d(16), nn.ReLU())
    return BlockClassifier(conv_bn_act(3, 8, nn.ReLU), block, 16)


def fire_block():
    stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True))
    return BlockClassifier(stem, squeezenet.Fire(16, 4, 8, 8), 16)


def convnext_block():
    block = convnext.CNBlock(16, layer_scale=1.0, stochastic_depth_prob=0.0)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():  # a trained-looking LayerNorm and layer scale (torch's are 1, 0 and 1e-6)
        ln = block.block[2]
        ln.weight.copy_(torch.empty(16).uniform_(0.5, 1.5, generator=gen))
        ln.bias.copy_(0.2 * torch.randn(16, generator=gen))
        block.layer_scale.copy_(torch.empty(16, 1, 1).uniform_(0.1, 0.5, generator=gen))
    return BlockClassifier(nn.Sequential(nn.Conv2d(3, 16, 2, 2)), block, 16)


def bottleneck_block():
    downsample = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
    return BlockClassifier(conv_bn_act(3, 8, nn.ReLU), resnet.Bottleneck(8, 4, 2, downsample), 16)


def shuffle_block():
    block = nn.Sequential(shufflenetv2.InvertedResidual(16, 32, 2), shufflenetv2.InvertedResidual(32, 32, 1))
    return BlockClassifier(conv_bn_act(3, 16, nn.ReLU), block, 32)


# name -> (builder, seed, legacy opset)
BLOCKS = {
    "se_block": (se_block, 9101, 13),
    "mbv3_block": (mbv3_block, 9102, 14),
    "mbconv_block": (mbconv_block, 9103, 13),
    "dense_block": (dense_block, 9104, 13),
    "fire_block": (fire_block, 9105, 13),
    "convnext_block": (convnext_block, 9106, 17),
    "bottleneck_block": (bottleneck_block, 9107, 13),
    "shuffle_block": (shuffle_block, 9108, 13),
}


# --------------------------------------------------------------------------------------------
# torch-rules: clrp's documented relevance semantics, one autograd.Function per op
# --------------------------------------------------------------------------------------------

def stab(z):
    return z + EPS * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def transpose_apply(fn, like, weight, s):
    """W^T s for the linear map x -> fn(x, weight, None), as a vector-Jacobian product."""
    with torch.enable_grad():
        probe = torch.zeros_like(like, requires_grad=True)
        (grad,) = torch.autograd.grad(fn(probe, weight, None), probe, s)
    return grad


class RelevanceOp(torch.autograd.Function):
    """forward: rule.value(*inputs); backward: rule.relevance(*inputs, R) (relevance, not gradient)."""

    @staticmethod
    def forward(ctx, rule, *inputs):
        ctx.rule = rule
        ctx.save_for_backward(*inputs)
        return rule.value(*inputs)

    @staticmethod
    def backward(ctx, relevance):
        return (None, *ctx.rule.relevance(*ctx.saved_tensors, relevance))


class LinearLayer:
    """Conv or Linear (fn(x, W, b)) with the epsilon, zplus or zbox rule."""

    def __init__(self, fn, weight, bias, kind, low=None, high=None):
        self.fn, self.weight, self.bias, self.kind, self.low, self.high = fn, weight, bias, kind, low, high

    def value(self, x):
        return self.fn(x, self.weight, self.bias)

    def relevance(self, x, r):
        fn, w = self.fn, self.weight
        if self.kind == "epsilon":
            s = r / stab(fn(x, w, self.bias))
            return (x * transpose_apply(fn, x, w, s),)
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        if self.kind == "zplus":
            xp, xn = x.clamp(min=0), x.clamp(max=0)
            s = r / stab(fn(xp, wp, None) + fn(xn, wn, None))
            return (xp * transpose_apply(fn, x, wp, s) + xn * transpose_apply(fn, x, wn, s),)
        assert self.kind == "zbox"
        low, high = self.low, self.high
        s = r / stab(fn(x, w, None) - fn(low, wp, None) - fn(high, wn, None))
        return (x * transpose_apply(fn, x, w, s) - low * transpose_apply(fn, x, wp, s)
                - high * transpose_apply(fn, x, wn, s),)


class PassThrough:
    """An elementwise op whose relevance passes unchanged (activations, standalone affine)."""

    def __init__(self, fn):
        self.fn = fn

    def value(self, x):
        return self.fn(x)

    def relevance(self, x, r):
        return (r,)


class GateSignal:
    """gate * signal: all relevance to the signal, none to the gate."""

    def value(self, gate, signal):
        return gate * signal

    def relevance(self, gate, signal, r):
        return torch.zeros_like(gate), r


class ProportionalAdd:
    def value(self, a, b):
        return a + b

    def relevance(self, a, b, r):
        s = r / stab(a + b)
        return a * s, b * s


class ProportionalMean:
    """Global average pooling with the proportional rule."""

    def value(self, x):
        return x.mean(dim=(2, 3), keepdim=True)

    def relevance(self, x, r):
        s = r / stab(self.value(x))
        return (x * s / (x.shape[2] * x.shape[3]),)


class LayerNormAli:
    """Ali et al. 2022 LN-rule: sigma constant, epsilon rule through the centering, affine passes."""

    def __init__(self, ln: nn.LayerNorm):
        self.ln = ln

    def sigma(self, x):
        return torch.sqrt(x.var(dim=-1, unbiased=False, keepdim=True) + self.ln.eps)

    def value(self, x):
        return F.layer_norm(x, self.ln.normalized_shape, self.ln.weight, self.ln.bias, self.ln.eps)

    def relevance(self, x, r):
        sigma = self.sigma(x)
        centre = lambda v, _w, _b: (v - v.mean(dim=-1, keepdim=True)) / sigma  # noqa: E731
        s = r / stab(centre(x, None, None))
        return (x * transpose_apply(centre, x, None, s),)


def merged(conv: nn.Conv2d, bn: nn.BatchNorm2d | None):
    """Conv weights and bias with a following BatchNorm folded in (float64)."""
    w = conv.weight.detach()
    b = conv.bias.detach() if conv.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
    if bn is None:
        return w, b
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return w * scale.view(-1, 1, 1, 1), (b - bn.running_mean) * scale + bn.bias


class Rules:
    """The network re-written op by op with the rules of one preset."""

    def __init__(self, preset: str, low, high):
        self.preset, self.low, self.high, self.seen_linear = preset, low, high, False

    def _kind(self):
        first = not self.seen_linear
        self.seen_linear = True
        if self.preset == "paper":
            return "zbox" if first else "zplus"
        return self.preset

    def conv(self, x, conv: nn.Conv2d, bn=None):
        w, b = merged(conv, bn)
        fn = partial(F.conv2d, stride=conv.stride, padding=conv.padding, groups=conv.groups)
        kind = self._kind()
        layer = LinearLayer(lambda v, ww, bb: fn(v, ww, bb), w, b, kind, self.low, self.high)
        return RelevanceOp.apply(layer, x)

    def linear(self, x, lin: nn.Linear):
        layer = LinearLayer(F.linear, lin.weight.detach(), lin.bias.detach(), self._kind())
        return RelevanceOp.apply(layer, x)

    def act(self, x, fn):
        return RelevanceOp.apply(PassThrough(fn), x)

    def gate(self, gate, signal):
        return RelevanceOp.apply(GateSignal(), gate, signal)

    def add(self, a, b):
        return RelevanceOp.apply(ProportionalAdd(), a, b)

    def mean(self, x):
        return RelevanceOp.apply(ProportionalMean(), x)

    def layer_norm(self, x, ln):
        return RelevanceOp.apply(LayerNormAli(ln), x)

    def module(self, m, x):
        """Dispatch on torchvision's module types (the blocks above use only these)."""
        if isinstance(m, nn.Sequential):
            children = list(m)
            i = 0
            while i < len(children):
                c = children[i]
                if isinstance(c, nn.Conv2d) and i + 1 < len(children) and isinstance(children[i + 1], nn.BatchNorm2d):
                    x = self.conv(x, c, children[i + 1])
                    i += 2
                    continue
                x = self.module(c, x)
                i += 1
            return x
        if isinstance(m, nn.Conv2d):
            return self.conv(x, m)
        if isinstance(m, nn.Linear):
            return self.linear(x, m)
        if isinstance(m, nn.BatchNorm2d):  # not after a conv: an affine node
            return self.act(x, lambda v: F.batch_norm(v, m.running_mean, m.running_var, m.weight, m.bias,
                                                     False, 0.0, m.eps))
        if isinstance(m, (nn.ReLU, nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Hardsigmoid)):
            return self.act(x, m)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            assert m.output_size in (1, (1, 1))
            return self.mean(x)
        if isinstance(m, nn.MaxPool2d):
            return m(x)  # its gradient routes relevance to the winner
        if isinstance(m, (StochasticDepth, nn.Dropout, nn.Identity)):
            return x
        if isinstance(m, Permute):
            return x.permute(*m.dims)
        if isinstance(m, nn.LayerNorm):
            return self.layer_norm(x, m)
        if isinstance(m, SqueezeExcitation):
            scale = self.module(m.scale_activation, self.module(m.fc2, self.module(
                m.activation, self.module(m.fc1, self.mean(x)))))
            return self.gate(scale, x)
        if isinstance(m, (mobilenetv3.InvertedResidual, efficientnet.MBConv)):
            out = self.module(m.block, x)
            return self.add(out, x) if m.use_res_connect else out
        if isinstance(m, convnext.CNBlock):
            out = self.module(m.block, x)
            scale = m.layer_scale.detach()
            out = self.act(out, lambda v: scale * v)
            return self.add(out, x)
        if isinstance(m, squeezenet.Fire):
            s = self.act(self.conv(x, m.squeeze), m.squeeze_activation)
            return torch.cat([self.act(self.conv(s, m.expand1x1), m.expand1x1_activation),
                              self.act(self.conv(s, m.expand3x3), m.expand3x3_activation)], 1)
        if isinstance(m, densenet._DenseBlock):
            features = [x]
            for layer in m.values():
                h = self.module(layer.norm1, torch.cat(features, 1))
                h = self.act(h, layer.relu1)
                h = self.act(self.conv(h, layer.conv1, layer.norm2), layer.relu2)
                features.append(self.conv(h, layer.conv2))
            return torch.cat(features, 1)
        if isinstance(m, resnet.Bottleneck):
            out = self.act(self.conv(x, m.conv1, m.bn1), m.relu)
            out = self.act(self.conv(out, m.conv2, m.bn2), m.relu)
            out = self.conv(out, m.conv3, m.bn3)
            identity = self.module(m.downsample, x) if m.downsample is not None else x
            return self.act(self.add(out, identity), m.relu)
        if isinstance(m, shufflenetv2.InvertedResidual):
            # chunk, cat and the shuffle's view/transpose move relevance with the values (autograd)
            if m.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.module(m.branch2, x2)), dim=1)
            else:
                out = torch.cat((self.module(m.branch1, x), self.module(m.branch2, x)), dim=1)
            return shufflenetv2.channel_shuffle(out, 2)
        if isinstance(m, BlockClassifier):
            h = self.module(m.pool, self.module(m.block, self.module(m.stem, x)))
            return self.linear(torch.flatten(h, 1), m.fc)
        raise TypeError(f"no rule for {type(m).__name__}")


def torch_rules_map(model, x, preset, target, low, high, epsilon=EPS):
    global EPS
    saved, EPS = EPS, epsilon
    try:
        return _torch_rules_map(model, x, preset, target, low, high)
    finally:
        EPS = saved


def _torch_rules_map(model, x, preset, target, low, high):
    x = x.clone().requires_grad_(True)
    out = Rules(preset, low, high).module(model, x)
    with torch.no_grad():
        assert torch.allclose(out, model(x), rtol=0, atol=1e-10), "re-written forward differs"
    start = torch.zeros_like(out)
    start[0, target] = out[0, target]
    (relevance,) = torch.autograd.grad(out, x, start)
    return relevance.detach()


def gradient_times_input_map(model, x, target):
    """A second, independent route to the epsilon map (in the limit epsilon -> 0, i.e. LRP-0 with
    biases): gradient x input of a copy of the network in which every op clrp passes relevance
    through is made to pass it in the backward pass alone. The forward values stay the same:
      * activations and affine maps that pass relevance (ReLU, Hardswish, SiLU, GELU, Sigmoid,
        Hardsigmoid, BatchNorm not after a conv): y = x * (f(x) / x).detach(), so the gradient
        carries R_y / y to x and R_x = x * that = R_y;
      * the SE gate: scale.detach() * x (all relevance to the signal, none to the gate);
      * LayerNorm: sigma detached (Ali et al. 2022), its affine gamma*u + beta passing relevance
        like the activations.
    Conv, Linear, merged BatchNorm, pooling, residual Add and the layer scale are left to the plain
    gradient, which for gradient x input is exactly LRP-0 / proportional / winner-take-all."""
    model = copy.deepcopy(model)
    handles = []

    def pass_hook(_module, args, out):
        inp = args[0]
        ratio = torch.where(inp == 0, torch.zeros_like(out), out / torch.where(inp == 0, torch.ones_like(inp), inp))
        return inp * ratio.detach()

    def layer_norm_hook(module, args, out):
        inp = args[0]
        sigma = torch.sqrt(inp.var(dim=-1, unbiased=False, keepdim=True) + module.eps).detach()
        u = (inp - inp.mean(dim=-1, keepdim=True)) / sigma
        affine = u * module.weight + module.bias
        return u * (affine / u).detach()

    merged_bns = set()
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            kids = list(m)
            merged_bns |= {id(b) for a, b in zip(kids, kids[1:]) if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)}
        if isinstance(m, densenet._DenseLayer):
            merged_bns.add(id(m.norm2))
        if isinstance(m, resnet.Bottleneck):
            merged_bns |= {id(m.bn1), id(m.bn2), id(m.bn3)}
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Hardsigmoid)) or (
                isinstance(m, nn.BatchNorm2d) and id(m) not in merged_bns):
            handles.append(m.register_forward_hook(pass_hook))
        elif isinstance(m, nn.LayerNorm):
            handles.append(m.register_forward_hook(layer_norm_hook))
        elif isinstance(m, SqueezeExcitation):
            m.forward = (lambda se: lambda inp: se._scale(inp).detach() * inp)(m)
    for m in model.modules():  # an in-place activation would overwrite the input the hook divides by
        if getattr(m, "inplace", False):
            m.inplace = False
    x = x.clone().requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad(out[0, target], x)
    return (x * grad).detach()


# --------------------------------------------------------------------------------------------
# Zennit, where its semantics are clrp's
# --------------------------------------------------------------------------------------------

class ExactMerge:
    """After merging, Zennit 0.5.1 leaves the BN with running_var = 1, i.e. x / sqrt(1 + eps);
    running_var = 1 - eps makes it an exact identity (see Graphs/zennit_reference.py)."""

    @staticmethod
    def merge_batch_norm(modules, batch_norm):
        MergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1.0 - batch_norm.eps)


class ExactNamedMergeBatchNorm(ExactMerge, NamedMergeBatchNorm):
    pass


def conv_bn_pairs(model):
    """(conv name, bn name) for every BatchNorm2d that directly follows a conv in the data flow."""
    names = {m: n for n, m in model.named_modules()}
    pairs = []
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            kids = list(m)
            pairs += [(names[a], names[b]) for a, b in zip(kids, kids[1:])
                      if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)]
        if isinstance(m, densenet._DenseLayer):
            pairs.append((names[m.conv1], names[m.norm2]))
        if isinstance(m, resnet.Bottleneck):
            pairs += [(names[m.conv1], names[m.bn1]), (names[m.conv2], names[m.bn2]), (names[m.conv3], names[m.bn3])]
    return pairs


# --------------------------------------------------------------------------------------------
# Export and write
# --------------------------------------------------------------------------------------------

def onnxruntime_logits(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def export(model, x: torch.Tensor, path: Path, exporter: str, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        else:
            export_dynamo(model, x, path)
    onnx.checker.check_model(str(path), full_check=True)


def bounds(dtype=torch.float64):
    mean = torch.tensor(MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=dtype).view(1, 3, 1, 1)
    shape = (1, 3, SIDE, SIDE)
    return ((0 - mean) / std).expand(shape).contiguous(), ((1 - mean) / std).expand(shape).contiguous()


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


ZENNIT_BLOCKS = ("bottleneck_block", "fire_block", "dense_block", "shuffle_block")


def make_block(name: str) -> dict:
    builder, seed, opset = BLOCKS[name]
    torch.manual_seed(seed)
    model = builder().eval()
    calibrate(model, (CALIB_BATCH, 3, SIDE, SIDE), seed + 1)
    directory = OUT / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    pixels = torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed + 2))
    x32 = ((pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)).float()
    np.save(directory / "input.npy", x32.numpy())
    entry = dict(input=f"zoo/{name}/input.npy", exports={}, maps={})
    for exporter in ("legacy", "dynamo"):
        path = directory / f"{exporter}.onnx"
        export(model, x32, path, exporter, opset if exporter == "legacy" else DYNAMO_OPSET)
        logits = onnxruntime_logits(path, x32.numpy())
        with torch.no_grad():
            diff = float(np.abs(model(x32).numpy() - logits).max())
        assert diff <= 1e-4 * max(1.0, float(np.abs(logits).max())), f"{path}: onnxruntime != torch ({diff})"
        np.save(directory / f"logits.{exporter}.npy", logits.astype(np.float32))
        ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
        entry["exports"][exporter] = dict(onnx=f"zoo/{name}/{exporter}.onnx", logits=f"zoo/{name}/logits.{exporter}.npy",
                                          opset=opset if exporter == "legacy" else DYNAMO_OPSET,
                                          ops=dict(sorted(ops.items())), bytes=path.stat().st_size,
                                          ort_vs_torch=diff)
    model64 = model.double()
    for p in model64.parameters():
        p.requires_grad_(False)
    x = x32.double()
    with torch.no_grad():
        logits64 = model64(x)
    target = int(logits64.argmax())
    entry.update(target_class=int(target), score=float(logits64[0, target]),
                 logits_float64=[float(v) for v in logits64[0]])
    low, high = bounds()
    for preset in ("epsilon", "zplus", "paper"):
        reference = torch_rules_map(model64, x, preset, target, low, high)
        info = dict(file=f"zoo/{name}/lrp.{preset}.npy", method="lrp", rules=preset, reference="torch-rules",
                    sum=float(reference.sum()), max_abs=float(reference.abs().max()))
        if name in ZENNIT_BLOCKS:
            z = zennit_relevance(copy.deepcopy(model64), x, preset, target, low, high)
            info["zennit_vs_torch_rules"] = relative(z, reference)
            assert info["zennit_vs_torch_rules"] <= 1e-6, f"{name} {preset}: Zennit != torch-rules {info}"
            info["reference"] = "zennit"
            reference = z
        if preset == "epsilon" and name != "dense_block":
            # R = logit at the output is logit x (d logit / d logit): LRP-0 is gradient x input,
            # compared with torch-rules at epsilon 1e-13 (at 1e-6 they differ by up to 4e-4 of
            # max|R|, at 1e-13 by 5e-11). Not for dense_block: its BatchNorm after a ReLU passes
            # relevance to units whose value is 0 (BN shifts them), which gradient x input cannot.
            trick = gradient_times_input_map(model64, x, target)
            info["gradient_x_input_trick_vs_torch_rules_eps0"] = relative(
                trick, torch_rules_map(model64, x, preset, target, low, high, epsilon=1e-13))
            assert info["gradient_x_input_trick_vs_torch_rules_eps0"] <= 1e-9, f"{name}: trick != torch-rules {info}"
        np.save(directory / f"lrp.{preset}.npy", reference.float().numpy())
        entry["maps"][preset] = info
    xg = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model64(xg)[0, target], xg)
    np.save(directory / "gradient.npy", gradient.float().numpy())
    entry["maps"]["gradient"] = dict(file=f"zoo/{name}/gradient.npy", method="gradient", rules="gradient",
                                     reference="torch-autograd", max_abs=float(gradient.abs().max()))
    print(f"{name}: target {target}, score {entry['score']:.4f}, "
          + ", ".join(f"{k} {e['exports'][k]['bytes'] / 1e3:.1f} kB {e['exports'][k]['ops']}"
                      for e in [entry] for k in e["exports"]), flush=True)
    for preset, info in entry["maps"].items():
        print(f"    {preset}: {info['reference']}, sum {info.get('sum', float('nan')):.4f} "
              f"(score {entry['score']:.4f}), zennit vs torch-rules {info.get('zennit_vs_torch_rules', '-')}, "
              f"gradient x input trick vs torch-rules(eps 1e-13) {info.get('gradient_x_input_trick_vs_torch_rules_eps0', '-')}")
    return entry


def zennit_relevance(model, x, preset, target, low, high):
    pairs = conv_bn_pairs(model)
    merged_bns = {bn for _, bn in pairs}
    canonizers = [ExactNamedMergeBatchNorm([([conv], bn) for conv, bn in pairs]), ResNetBottleneckCanonizer()]
    linear_names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    name_map = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if preset == "epsilon":
                rule = Epsilon(epsilon=EPS)
            elif preset == "paper" and name == linear_names[0]:
                rule = ZBox(low=low, high=high, zero_params=["bias"])
            else:
                rule = ZPlus(zero_params=["bias"])
            name_map.append(((name,), rule))
        elif isinstance(m, nn.ReLU) or (isinstance(m, nn.BatchNorm2d) and name not in merged_bns):
            name_map.append(((name,), Pass()))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            name_map.append(((name,), Norm()))
    # ResNetBottleneckCanonizer adds `block.canonizer_sum` (a Sum over a stacked last axis): Norm = proportional
    name_map.append((("block.canonizer_sum",), Norm()))
    composite = NameMapComposite(name_map=name_map, canonizers=canonizers)
    with Gradient(model=model, composite=composite) as attributor:
        out, relevance = attributor(x, lambda o: torch.eye(CLASSES, dtype=o.dtype)[[target]] * o[0, target])
    return relevance.detach()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = dict(
        about="Graphs/zoo_blocks.py: block fixtures, onnxruntime logits, float64 relevance references; "
              "paths relative to Tests/Fixtures. reference: zennit = Zennit 0.5.1 with canonizers (matched "
              "torch-rules to 1e-6); torch-rules = clrp's documented rule semantics as torch autograd "
              "Functions; torch-autograd = the plain gradient. LayerNorm (convnext_block) uses the ASSUMED "
              "Ali et al. 2022 LN-rule, see the script.",
        preprocessing="imagenet", blocks={})
    for name in BLOCKS:
        manifest["blocks"][name] = make_block(name)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{OUT.relative_to(ROOT)}: {total / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Export torchvision CNNs (random, seeded weights) to ONNX for clrp.

Two sets of models are written:

* FULL SIZE (``Graphs/build/``, git-ignored, hundreds of MB):
  alexnet, vgg16, googlenet, vgg16_bn, googlenet_bn  -- input 1x3x224x224.
* SMALL versions of the SAME topologies (``Tests/Fixtures/models/``, committed):
  alexnet_small, vgg16_small, googlenet_small, vgg16_bn_small, googlenet_bn_small
  -- same layer structure / op types, channel widths divided by 8, smaller
  input resolution, 10 classes.

Export settings (all models): legacy TorchScript exporter (``dynamo=False``),
opset 13, ``model.eval()``, input name ``input``, output name ``logits``,
dynamic batch axis 0 on input and output.

``*_bn`` models are exported with ``do_constant_folding=False`` so that the
BatchNormalization nodes stay in the graph (the legacy exporter only folds
Conv+BN in its "eval peephole" pass, which runs together with constant
folding).  The non-``_bn`` GoogLeNet is the *same network with the same
weights* as googlenet_bn, exported with default folding, i.e. BN already
folded into the Conv weights by PyTorch -- so both files compute the same
function and a BN-folding importer can be checked against the exporter.

No pretrained weights are ever downloaded (``weights=None``); every model is
built after ``torch.manual_seed(<fixed seed>)`` with torchvision's own random
init, then ``calibrate()`` rescales the layers on a seeded random batch
(LSUV-style unit variance, small random biases, class-balanced classifier) and
sets BatchNorm parameters to seeded random, non-trivial values
(running_var in [0.5, 2], ~10 % negative gammas, non-zero means/betas).
Without this the logits are degenerate: ~1e-10 for GoogLeNet (trunc_normal
std=0.01 init) and nearly input-independent for VGG/AlexNet.

Usage:
    python3 Graphs/export_torchvision.py            # small fixtures + full models
    python3 Graphs/export_torchvision.py --small    # only Tests/Fixtures/models/*_small.onnx
    python3 Graphs/export_torchvision.py --full     # only Graphs/build/*.onnx
"""

from __future__ import annotations

import argparse
import collections
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torchvision
from torchvision.models.googlenet import BasicConv2d, Inception
from torchvision.models.vgg import VGG, cfgs, make_layers

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "Graphs" / "build"
FIXTURE_DIR = ROOT / "Tests" / "Fixtures" / "models"

OPSET = 13
WIDTH_DIV = 8          # channel divisor for the small models
SMALL_CLASSES = 10
SMALL_MAX_BYTES = 2_200_000   # "at most ~2 MB" per small model
CALIB_BATCH = 8               # seeded random images used by calibrate()

# Deterministic CPU math: single thread => identical BN calibration numbers
# (and therefore byte-identical .onnx files) on every machine.
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# Model builders
# --------------------------------------------------------------------------

def _kaiming_vgg_init(modules) -> None:
    """torchvision's VGG._initialize_weights, for layers we replaced."""
    for m in modules:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


def alexnet_full() -> nn.Module:
    return torchvision.models.alexnet(weights=None)


def vgg16_full(batch_norm: bool) -> nn.Module:
    fn = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
    return fn(weights=None)


def googlenet_full() -> nn.Module:
    return torchvision.models.googlenet(
        weights=None, aux_logits=False, init_weights=True, transform_input=False)


def alexnet_small(div: int = WIDTH_DIV, classes: int = SMALL_CLASSES) -> nn.Module:
    """torchvision.models.AlexNet with every width divided by `div`.

    Kernels/strides/paddings are unchanged.  With a 112x112 input the feature
    map before the adaptive pool is 2x2 (224 -> 6x6 in the full model), so the
    adaptive pool targets (2, 2); like the full model's 6x6 -> (6, 6) it then
    exports as an AveragePool with kernel 1 / stride 1.  (At 64x64 the feature
    map would be 1x1.)  Hidden FC width 4096/16 = 256 keeps the file < 2 MB.
    """
    c1, c2, c3, c4, c5 = (64 // div, 192 // div, 384 // div, 256 // div, 256 // div)
    hidden = 4096 // 16
    model = torchvision.models.AlexNet(num_classes=classes)  # keeps torchvision's forward()
    model.features = nn.Sequential(
        nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c1, c2, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c2, c3, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c3, c4, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c4, c5, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    model.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    model.classifier = nn.Sequential(
        nn.Dropout(p=0.5),
        nn.Linear(c5 * 2 * 2, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, classes),
    )
    return model


def vgg16_small(batch_norm: bool, div: int = WIDTH_DIV, classes: int = SMALL_CLASSES) -> nn.Module:
    """torchvision.models.vgg.VGG with cfg 'D' (VGG16) divided by `div`.

    64x64 input -> 2x2 feature map, adaptive pool (2, 2) (exports as
    AveragePool k=1 like the full model's 7x7 -> (7, 7)); classifier hidden
    width 4096/16 = 256.
    """
    cfg = [v if v == "M" else v // div for v in cfgs["D"]]
    hidden = 4096 // 16
    model = VGG(make_layers(cfg, batch_norm=batch_norm), num_classes=classes, init_weights=True)
    last = cfg[-2]
    model.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    model.classifier = nn.Sequential(
        nn.Linear(last * 2 * 2, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, classes),
    )
    _kaiming_vgg_init(model.classifier.modules())
    return model


class GoogLeNetSmall(nn.Module):
    """torchvision GoogLeNet (aux_logits=False, transform_input=False) with all
    channel counts divided by `div`, built from torchvision's own BasicConv2d
    (Conv(bias=False)+BN(eps=1e-3)+ReLU) and Inception blocks.  forward() is a
    copy of torchvision's GoogLeNet._forward without the aux heads."""

    def __init__(self, div: int = WIDTH_DIV, classes: int = SMALL_CLASSES) -> None:
        super().__init__()
        s = lambda *cs: [c // div for c in cs]  # noqa: E731
        self.conv1 = BasicConv2d(3, 64 // div, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64 // div, 64 // div, kernel_size=1)
        self.conv3 = BasicConv2d(64 // div, 192 // div, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(*s(192, 64, 96, 128, 16, 32, 32))
        self.inception3b = Inception(*s(256, 128, 128, 192, 32, 96, 64))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(*s(480, 192, 96, 208, 16, 48, 64))
        self.inception4b = Inception(*s(512, 160, 112, 224, 24, 64, 64))
        self.inception4c = Inception(*s(512, 128, 128, 256, 24, 64, 64))
        self.inception4d = Inception(*s(512, 112, 144, 288, 32, 64, 64))
        self.inception4e = Inception(*s(528, 256, 160, 320, 32, 128, 128))
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(*s(832, 256, 160, 320, 32, 128, 128))
        self.inception5b = Inception(*s(832, 384, 192, 384, 48, 128, 128))

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2)
        self.fc = nn.Linear(1024 // div, classes)

        # Same init as torchvision GoogLeNet(init_weights=True).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                torch.nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)
        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5a(x)
        x = self.inception5b(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        return self.fc(x)


# --------------------------------------------------------------------------
# Calibration: non-degenerate logits + random, non-trivial BatchNorm
# --------------------------------------------------------------------------

@torch.no_grad()
def calibrate(model: nn.Module, input_shape, seed: int, bias_frac: float = 0.1) -> int:
    """Make a randomly initialised network numerically "healthy" and give every
    BatchNorm2d seeded random, non-trivial parameters.

    Why: with torchvision's random inits the logits of these deep nets are
    either tiny (GoogLeNet: trunc_normal std=0.01 shrinks the signal ~5x per
    layer -> logits ~1e-10) or almost input independent (VGG/AlexNet on noise
    inputs: the logits are dominated by W.mean(h) + bias, std over inputs
    ~1e-4).  That would make the fixtures useless for relevance tests.

    How (one eval-mode forward pass over a seeded N(0,1) batch; hooks fire in
    execution order, so every layer sees already-calibrated inputs):

    * Conv2d / Linear ("LSUV"-style): keep torchvision's random weight
      *directions*, divide the weight by the std of the layer's output so the
      pre-activations have unit variance; bias := bias_frac * N(0,1)
      (torchvision's VGG init would leave all biases at exactly 0).
    * the LAST Linear (classifier): weight scaled so the logits vary with
      std ~1 across inputs, bias := -(mean logit over the batch) +
      bias_frac * N(0,1), i.e. roughly class-balanced like a trained net, so
      the argmax depends on the input.
    * BatchNorm2d (pre-hook, from the statistics of the tensor it receives):
        running_mean = channel mean + 0.25 * channel std * N(0,1)
        running_var  = U[0.5, 2]
        weight       = +-U[0.5, 1.5] * sqrt(var+eps) / channel std  (~10 % negative)
        bias         = 0.2 * N(0,1)
      so BN is far from identity and folding it is really exercised.

    Returns the number of BatchNorm2d layers.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*input_shape, generator=gen)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    last_linear = linears[-1]

    def bias_shape(layer, out):
        # Conv: channels on axis 1; Linear: features on the last axis (ConvNeXt applies its
        # Linear layers to [N, H, W, C] tensors).
        if isinstance(layer, nn.Linear):
            return (1,) * (out.dim() - 1) + (-1,)
        return (1, -1) + (1,) * (out.dim() - 2)

    def weight_hook(layer, args, out):
        b_old = layer.bias.view(bias_shape(layer, out)) if layer.bias is not None else 0.0
        z = out - b_old                                   # W * x without bias
        if layer is last_linear:
            mu = z.mean(dim=0, keepdim=True)              # per-class mean logit
            s = float((z - mu).std()) + 1e-12
            layer.weight.div_(s)
            layer.bias.copy_(-mu.flatten() / s + bias_frac * torch.randn(z.shape[1], generator=gen))
        else:
            s = float(z.std()) + 1e-12
            layer.weight.div_(s)
            if layer.bias is not None:
                layer.bias.copy_(bias_frac * torch.randn(layer.bias.shape[0], generator=gen))
        b_new = layer.bias.view(bias_shape(layer, out)) if layer.bias is not None else 0.0
        return z / s + b_new

    def bn_pre_hook(bn: nn.BatchNorm2d, args):
        inp = args[0]
        c = inp.shape[1]
        mu = inp.mean(dim=(0, 2, 3))
        sd = inp.std(dim=(0, 2, 3))
        sd = sd.clamp_min(1e-2 * float(sd.median()) + 1e-12)  # guard against dead channels
        var = torch.empty(c).uniform_(0.5, 2.0, generator=gen)
        spread = torch.empty(c).uniform_(0.5, 1.5, generator=gen)
        sign = torch.where(torch.rand(c, generator=gen) < 0.1, -1.0, 1.0)
        bn.running_mean.copy_(mu + 0.25 * sd * torch.randn(c, generator=gen))
        bn.running_var.copy_(var)
        bn.weight.copy_(sign * spread * torch.sqrt(var + bn.eps) / sd)
        bn.bias.copy_(0.2 * torch.randn(c, generator=gen))

    handles = []
    bns = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(weight_hook))
        elif isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_pre_hook(bn_pre_hook))
            bns += 1
    model.eval()
    model(x)
    for h in handles:
        h.remove()
    return bns


# --------------------------------------------------------------------------
# Export + verification
# --------------------------------------------------------------------------

def onnx_export(model: nn.Module, input_shape, path: Path, fold: bool) -> None:
    """Legacy TorchScript exporter, opset 13, dynamic batch."""
    model.eval()
    dummy = torch.randn(*input_shape, generator=torch.Generator().manual_seed(1234))
    kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        opset_version=OPSET,
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=fold,
        export_params=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False   # force the legacy TorchScript exporter
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation chatter
        torch.onnx.export(model, (dummy,), str(path), **kwargs)


def op_counts(model: onnx.ModelProto) -> dict:
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


@torch.no_grad()
def verify(model: nn.Module, input_shape, path: Path) -> dict:
    """check_model, compare onnxruntime vs torch, report logit statistics."""
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path), load_external_data=False)
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(99))
    ref = model(x).numpy()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    out = sess.run(["logits"], {"input": x.numpy()})[0]
    # dynamic batch really works?
    x2 = torch.randn(2, *input_shape[1:], generator=torch.Generator().manual_seed(7)).numpy()
    assert sess.run(["logits"], {"input": x2})[0].shape[0] == 2
    info = dict(
        size=path.stat().st_size,
        ops=op_counts(proto),
        max_abs_diff=float(np.abs(out - ref).max()),
        logit_std=float(out.std()),
        logit_absmax=float(np.abs(out).max()),
        argmax=[int(a) for a in out.argmax(axis=1)],
    )
    scale = max(1.0, info["logit_absmax"])
    assert info["max_abs_diff"] <= 1e-3 * scale, f"{path.name}: ORT != torch ({info['max_abs_diff']})"
    assert info["logit_std"] > 1e-2, f"{path.name}: degenerate logits (std {info['logit_std']})"
    return info


def export_one(name: str, build, input_shape, out_dir: Path, fold: bool, seed: int,
               max_bytes: int | None = None) -> dict:
    torch.manual_seed(seed)
    model = build().eval()
    nbn = calibrate(model, (CALIB_BATCH, *input_shape[1:]), seed + 1)
    path = out_dir / f"{name}.onnx"
    onnx_export(model, input_shape, path, fold=fold)
    info = verify(model, input_shape, path)
    bn_nodes = info["ops"].get("BatchNormalization", 0)
    print(f"{path.relative_to(ROOT)}: {info['size'] / 1e6:.2f} MB, input {list(input_shape)}, "
          f"BatchNorm2d modules={nbn}, BatchNormalization nodes={bn_nodes}, "
          f"ORT-vs-torch max|diff|={info['max_abs_diff']:.2e}, "
          f"logit std={info['logit_std']:.4f}, argmax={info['argmax']}")
    print(f"    ops: {info['ops']}")
    if not fold:
        assert bn_nodes == nbn, f"{name}: expected {nbn} BatchNormalization nodes, got {bn_nodes}"
    if max_bytes is not None:
        assert info["size"] <= max_bytes, f"{name}: {info['size']} bytes > {max_bytes}"
    return info


# name -> (builder, input shape, do_constant_folding, seed)
FULL = {
    "alexnet":      (alexnet_full,                    (1, 3, 224, 224), True,  1001),
    "vgg16":        (lambda: vgg16_full(False),       (1, 3, 224, 224), True,  1002),
    "googlenet":    (googlenet_full,                  (1, 3, 224, 224), True,  1003),
    "vgg16_bn":     (lambda: vgg16_full(True),        (1, 3, 224, 224), False, 1004),
    # same seed as "googlenet" => identical weights, only BN folding differs
    "googlenet_bn": (googlenet_full,                  (1, 3, 224, 224), False, 1003),
}
SMALL = {
    "alexnet_small":      (alexnet_small,                (1, 3, 112, 112), True,  2001),
    "vgg16_small":        (lambda: vgg16_small(False),   (1, 3, 64, 64),   True,  2002),
    "googlenet_small":    (GoogLeNetSmall,               (1, 3, 96, 96),   True,  2003),
    "vgg16_bn_small":     (lambda: vgg16_small(True),    (1, 3, 64, 64),   False, 2004),
    "googlenet_bn_small": (GoogLeNetSmall,               (1, 3, 96, 96),   False, 2003),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="only the small fixtures")
    ap.add_argument("--full", action="store_true", help="only the full-size models")
    ap.add_argument("--only", nargs="*", default=None, help="restrict to these model names")
    args = ap.parse_args()
    do_small = args.small or not args.full
    do_full = args.full or not args.small

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    jobs = []
    if do_small:
        jobs += [(n, *v, FIXTURE_DIR, SMALL_MAX_BYTES) for n, v in SMALL.items()]
    if do_full:
        jobs += [(n, *v, BUILD_DIR, None) for n, v in FULL.items()]
    for name, build, shape, fold, seed, out_dir, max_bytes in jobs:
        if args.only and name not in args.only:
            continue
        export_one(name, build, shape, out_dir, fold, seed, max_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Times Zennit with the same rule choices as a clrp preset, for `clrp bench --rules`.

Prints one JSON object: {"median_seconds", "min_seconds", "runs", "peak_rss_bytes", "signals"}.
The model is the torchvision architecture named by --arch with seeded random weights (timing
does not depend on the weights). K signals are explained the way Zennit users do it: the
image repeated K times as a batch, one output one-hot (times the logit) per row.
Presets: paper (ZBox first conv, ZPlus elsewhere without bias, gradient max pooling, Norm
average pooling, Pass ReLU) and epsilon (Epsilon 1e-6 everywhere, bias included).
Needs `pip install torch torchvision zennit`; clrp itself never needs it.

Architectures: vgg16, alexnet, googlenet (as before, no canonizer), and the zoo nets of issue 9,
with the canonizers zennit 0.5.1 has for them (zennit.canonizers / zennit.torchvision):
  resnet50            ResNetCanonizer (BatchNorm merged into the convs, the residual add made a
                      zennit Sum module, which gets Norm: the proportional split x_i / sum x,
                      as clrp's default residual rule, and as zennit's own composites do).
  mobilenet_v3_large  SequentialMergeBatchNorm (Conv-BN-activation blocks are nn.Sequential).
  efficientnet_b0     SequentialMergeBatchNorm.
What differs from clrp's `paper` preset on these (timing-wise it is the same work: one forward
and one modified backward): Zennit has no rule for the squeeze-and-excitation gate, a
functional `scale * x` in torchvision; autograd sends gradient x R to the gate branch as well
as scale R to the signal, where clrp's default Mul rule (`signal`, Arras et al. 2017) sends all
relevance to the signal and none through the gate. Hardswish, Hardsigmoid, SiLU and Sigmoid are
zennit Activation modules and get Pass (identity backward), as clrp passes relevance through
elementwise activations. Dropout and StochasticDepth are identities in eval mode.
--threads N sets torch's intra-op threads (as `clrp bench --threads N` does for clrp);
the JSON then also has "median_cpu_seconds" (process CPU time per run, all threads).

--method lrp|clrp1|clrp2|sglrp with --targets K times how a Zennit user computes the maps of
the K top classes with that method (definitions as in Graphs/method_reference.py, z = logits,
t = target, C = classes); the JSON line then also has "method" and "targets" ("signals" = K):
  lrp    batch of K rows (the image repeated), row k starts from e_t z_t. Same as --signals K.
  clrp1  batch of 2K rows: K target rows (e_t z_t) and K dual rows (z_t / (C-1) on every class
         but t), one forward + one backward; map = max(0, R_target - R_dual).
  clrp2  the K target maps from the model (batch K), then the dual maps from ONE second model
         copy (made once, before timing, as a user would keep it): for each target in a loop,
         negate row t of the copy's last Linear (weight and bias), run a batch-1 attribution
         from e_t z_t (z_t of the original model), restore the row. K copies would avoid the
         loop but cost K times the weights (VGG16: 0.5 GB each); batching the dual maps is not
         possible because every target needs different weights. map = max(0, R - R*).
  sglrp  batch of K rows, row k starts from s_j = y_t (delta_tj - y_j), y = softmax(z).
Without --method the script does exactly what it did before (--signals, old JSON keys).
Timing protocol in every case: one warm-up run, then the median (and min) of --runs runs,
each covering forward, start vectors, backward and the max(0, .) combination.
"""
import argparse, copy, json, resource, statistics, time

import torch
import torchvision
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite
from zennit.rules import Epsilon, Norm, Pass, ZBox, ZPlus
from zennit.layer import Sum
from zennit.torchvision import ResNetCanonizer
from zennit.types import Activation, AvgPool, Convolution, Linear

parser = argparse.ArgumentParser()
parser.add_argument("--arch", required=True, choices=["vgg16", "alexnet", "googlenet", "resnet50", "mobilenet_v3_large", "efficientnet_b0"])
parser.add_argument("--rules", default="paper", choices=["paper", "epsilon"])
parser.add_argument("--signals", type=int, default=1)
parser.add_argument("--method", default=None, choices=["lrp", "clrp1", "clrp2", "sglrp"])
parser.add_argument("--targets", type=int, default=None, help="K top classes (with --method; default 1)")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--size", type=int, default=224)
parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default, the cores)")
args = parser.parse_args()
if args.targets is not None and args.method is None:
    parser.error("--targets needs --method")
K = (args.targets or 1) if args.method else args.signals

torch.manual_seed(0)
torch.set_num_threads(args.threads if args.threads > 0 else torch.get_num_threads())
kwargs = {"aux_logits": False, "init_weights": True} if args.arch == "googlenet" else {}
model = getattr(torchvision.models, args.arch)(weights=None, **kwargs).eval()
for p in model.parameters():
    p.requires_grad_(False)
if args.arch == "resnet50":
    canonizers = [ResNetCanonizer()]
elif args.arch in ("mobilenet_v3_large", "efficientnet_b0"):
    canonizers = [SequentialMergeBatchNorm()]
else:
    canonizers = None   # vgg16, alexnet, googlenet: as before (torchvision's vgg16 has no BatchNorm)

mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def make_composite(batch):
    """The preset's composite; ZBox's bounds have the batch's shape."""
    shape = (batch, 3, args.size, args.size)
    low, high = ((0 - mean) / std).expand(shape), ((1 - mean) / std).expand(shape)
    if args.rules == "paper":
        return SpecialFirstLayerMapComposite(
            layer_map=[(Activation, Pass()), (AvgPool, Norm()), (Sum, Norm()), (Convolution, ZPlus(zero_params="bias")),
                       (Linear, ZPlus(zero_params="bias"))],
            first_map=[(Convolution, ZBox(low, high, zero_params="bias"))], canonizers=canonizers)
    return LayerMapComposite(layer_map=[(Activation, Pass()), (AvgPool, Norm()), (Sum, Norm()),
                                        (Convolution, Epsilon(1e-6)), (Linear, Epsilon(1e-6))],
                             canonizers=canonizers)


def explain_lrp(modified, start_rows):
    """K maps in one batch: row k starts from start_rows(logits of the image)[k]."""
    x = image.repeat(K, 1, 1, 1).requires_grad_(True)
    out = modified(x)
    grad = start_rows(out[0])
    (relevance,) = torch.autograd.grad(out, x, grad)
    return relevance


def onehot_logit(z):
    top = z.topk(K).indices
    grad = z.new_zeros(K, z.shape[0])
    grad[torch.arange(K), top] = z[top]
    return grad


def sglrp_rows(z):
    top = z.topk(K).indices
    y = torch.softmax(z, 0)
    grad = -y[top, None] * y[None, :]                              # -y_t y_j
    grad[torch.arange(K), top] = y[top] * (1 - y[top])            # y_t (1 - y_t)
    return grad


def explain_clrp1(modified):
    x = image.repeat(2 * K, 1, 1, 1).requires_grad_(True)
    out = modified(x)
    z = out[0]
    top = z.topk(K).indices
    grad = torch.zeros_like(out)
    grad[torch.arange(K), top] = z[top]                                         # target rows
    grad[K:] = (z[top] / (z.shape[0] - 1))[:, None]                             # dual rows
    grad[K + torch.arange(K), top] = 0
    (relevance,) = torch.autograd.grad(out, x, grad)
    return (relevance[:K] - relevance[K:]).clamp(min=0)


def explain_clrp2(modified, modified_dual, dual_last):
    x = image.repeat(K, 1, 1, 1).requires_grad_(True)
    out = modified(x)
    z = out[0]
    top = z.topk(K).indices
    grad = torch.zeros_like(out)
    grad[torch.arange(K), top] = z[top]
    (relevance,) = torch.autograd.grad(out, x, grad)
    maps = []
    for k, t in enumerate(top.tolist()):
        dual_last.weight.data[t].neg_()
        dual_last.bias.data[t].neg_()
        x1 = image.clone().requires_grad_(True)
        out1 = modified_dual(x1)
        g1 = torch.zeros_like(out1)
        g1[0, t] = z[t]
        (r1,) = torch.autograd.grad(out1, x1, g1)
        dual_last.weight.data[t].neg_()
        dual_last.bias.data[t].neg_()
        maps.append((relevance[k] - r1[0]).clamp(min=0))
    return torch.stack(maps)


image = (torch.rand(1, 3, args.size, args.size) - mean) / std
times, cpu_times = [], []
if args.method is None:
    # unchanged behaviour of the original script
    composite = make_composite(args.signals)
    with composite.context(model) as modified:
        for run in range(args.runs + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            x = image.repeat(args.signals, 1, 1, 1).requires_grad_(True)
            out = modified(x)
            top = out[0].topk(args.signals).indices
            grad = torch.zeros_like(out)
            grad[torch.arange(args.signals), top] = out[torch.arange(args.signals), top]
            (relevance,) = torch.autograd.grad(out, x, grad)
            if run > 0:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
    print(json.dumps({"median_seconds": statistics.median(times), "min_seconds": min(times), "runs": args.runs,
                      "median_cpu_seconds": statistics.median(cpu_times),
                      "signals": args.signals,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    raise SystemExit(0)

if args.method == "clrp2":
    dual = copy.deepcopy(model)          # one-time setup, outside the timed runs
    dual_last = [m for m in dual.modules() if isinstance(m, torch.nn.Linear)][-1]
    with make_composite(K).context(model) as modified, make_composite(1).context(dual) as modified_dual:
        for run in range(args.runs + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            maps = explain_clrp2(modified, modified_dual, dual_last)
            if run > 0:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
else:
    batch = 2 * K if args.method == "clrp1" else K
    with make_composite(batch).context(model) as modified:
        for run in range(args.runs + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            if args.method == "clrp1":
                maps = explain_clrp1(modified)
            else:
                maps = explain_lrp(modified, onehot_logit if args.method == "lrp" else sglrp_rows)
            if run > 0:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
assert maps.shape == (K, 3, args.size, args.size)
print(json.dumps({"median_seconds": statistics.median(times), "min_seconds": min(times), "runs": args.runs,
                      "median_cpu_seconds": statistics.median(cpu_times),
                  "signals": K, "method": args.method, "targets": K,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))

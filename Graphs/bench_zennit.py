#!/usr/bin/env python3
"""Times Zennit with the same rule choices as a clrp preset, for `clrp bench --rules`.

Prints one JSON object: {"median_seconds", "min_seconds", "runs", "peak_rss_bytes", "signals"}.
The model is the torchvision architecture named by --arch with seeded random weights (timing
does not depend on the weights). K signals are explained the way Zennit users do it: the
image repeated K times as a batch, one output one-hot (times the logit) per row.
Presets: paper (ZBox first conv, ZPlus elsewhere without bias, gradient max pooling, Norm
average pooling, Pass ReLU) and epsilon (Epsilon 1e-6 everywhere, bias included).
Needs `pip install torch torchvision zennit`; clrp itself never needs it.
"""
import argparse, json, resource, statistics, time

import torch
import torchvision
from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite
from zennit.rules import Epsilon, Norm, Pass, ZBox, ZPlus
from zennit.types import Activation, AvgPool, Convolution, Linear

parser = argparse.ArgumentParser()
parser.add_argument("--arch", required=True, choices=["vgg16", "alexnet", "googlenet"])
parser.add_argument("--rules", default="paper", choices=["paper", "epsilon"])
parser.add_argument("--signals", type=int, default=1)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--size", type=int, default=224)
args = parser.parse_args()

torch.manual_seed(0)
torch.set_num_threads(torch.get_num_threads())
kwargs = {"aux_logits": False, "init_weights": True} if args.arch == "googlenet" else {}
model = getattr(torchvision.models, args.arch)(weights=None, **kwargs).eval()
for p in model.parameters():
    p.requires_grad_(False)

mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
shape = (args.signals, 3, args.size, args.size)
low, high = ((0 - mean) / std).expand(shape), ((1 - mean) / std).expand(shape)
if args.rules == "paper":
    composite = SpecialFirstLayerMapComposite(
        layer_map=[(Activation, Pass()), (AvgPool, Norm()), (Convolution, ZPlus(zero_params="bias")),
                   (Linear, ZPlus(zero_params="bias"))],
        first_map=[(Convolution, ZBox(low, high, zero_params="bias"))])
else:
    composite = LayerMapComposite(layer_map=[(Activation, Pass()), (AvgPool, Norm()),
                                             (Convolution, Epsilon(1e-6)), (Linear, Epsilon(1e-6))])

image = (torch.rand(1, 3, args.size, args.size) - mean) / std
times = []
with composite.context(model) as modified:
    for run in range(args.runs + 1):
        start = time.perf_counter()
        x = image.repeat(args.signals, 1, 1, 1).requires_grad_(True)
        out = modified(x)
        top = out[0].topk(args.signals).indices
        grad = torch.zeros_like(out)
        grad[torch.arange(args.signals), top] = out[torch.arange(args.signals), top]
        (relevance,) = torch.autograd.grad(out, x, grad)
        if run > 0:
            times.append(time.perf_counter() - start)
print(json.dumps({"median_seconds": statistics.median(times), "min_seconds": min(times), "runs": args.runs,
                  "signals": args.signals, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))

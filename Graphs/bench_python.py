#!/usr/bin/env python3
"""Times the Python package against the command line (Docs/PERFORMANCE.md, "Python package").

    python3 Graphs/bench_python.py --binary .build/release/clrp --model Tests/Fixtures/models/shapes-vgg.onnx \
        --images Tests/Fixtures/shapes/test --count 100 --runs 3

Prints one JSON object. Every figure is the median over --runs runs (after one warm-up):
- classify_call_seconds: one `Explainer.classify(array)` call on a running explainer;
- ping_call_seconds: one `version` request, the protocol's round trip alone;
- classify_cli_seconds: one `clrp classify MODEL x.npy` process (start-up, model load, forward);
- explain_package_images_per_second: --count images, clrp2 of the top class, through one
  Explainer (started once, before timing, as a user keeps one; its start-up is reported apart);
- explain_cli_per_image_images_per_second: the same images, one `clrp explain IMAGE --method clrp2
  --top 1 --output map.npy` process each;
- explain_cli_batch_images_per_second: one `clrp explain IMAGE... --method clrp2 --top 1
  --output-dir D` process for all images (it also writes a PNG heatmap and a grid per image).
Development tool only: needs numpy and the package from python/.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import clrp  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--binary", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--images", required=True, help="a folder of PNG/JPEG images")
parser.add_argument("--count", type=int, default=100)
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--calls", type=int, default=20, help="classify calls / processes timed")
parser.add_argument("--skip", default="", help="comma-separated parts to leave out: cli-per-image, cli-batch")
args = parser.parse_args()
os.environ["CLRP_BINARY"] = str(Path(args.binary).resolve())
images = sorted(str(p) for p in Path(args.images).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:args.count]
if len(images) < args.count:
    sys.exit(f"{args.images} has {len(images)} images, --count asks for {args.count}")
skip = set(filter(None, args.skip.split(",")))


def median_time(body, runs):
    body()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def run(*command):
    subprocess.run([args.binary, *map(str, command)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


result = {"model": args.model, "images": len(images), "runs": args.runs}
start = time.perf_counter()
explainer = clrp.Explainer(args.model)
explainer.classify(images[0])
result["explainer_start_seconds"] = time.perf_counter() - start

with tempfile.TemporaryDirectory() as work:
    work = Path(work)
    # The same float32 input for both: an array for the package, its .npy file for the command line.
    array = np.full(explainer.input_shape[1:], 0.1, np.float32)
    tensor = work / "x.npy"
    np.save(tensor, array)
    calls = []
    for _ in range(args.calls):
        t = time.perf_counter()
        explainer.classify(array)
        calls.append(time.perf_counter() - t)
    result["classify_call_seconds"] = statistics.median(calls)
    pings = []
    for _ in range(args.calls):
        t = time.perf_counter()
        explainer._server.request({"op": "version"})
        pings.append(time.perf_counter() - t)
    result["ping_call_seconds"] = statistics.median(pings)
    processes = []
    for _ in range(args.calls):
        t = time.perf_counter()
        run("classify", args.model, tensor, "--top", 1)
        processes.append(time.perf_counter() - t)
    result["classify_cli_seconds"] = statistics.median(processes)

    package, times = median_time(lambda: [explainer.explain(image, method="clrp2") for image in images], args.runs)
    result["explain_package_images_per_second"] = len(images) / package
    result["explain_package_runs_seconds"] = times
    if "cli-per-image" not in skip:
        per_image, times = median_time(lambda: [run("explain", args.model, image, "--method", "clrp2", "--top", 1,
                                                    "--output", work / "map.npy") for image in images], args.runs)
        result["explain_cli_per_image_images_per_second"] = len(images) / per_image
        result["explain_cli_per_image_runs_seconds"] = times
    if "cli-batch" not in skip:
        batch, times = median_time(lambda: run("explain", args.model, *images, "--method", "clrp2", "--top", 1,
                                               "--output-dir", work / "maps"), args.runs)
        result["explain_cli_batch_images_per_second"] = len(images) / batch
        result["explain_cli_batch_runs_seconds"] = times
explainer.close()
print(json.dumps(result, indent=2))

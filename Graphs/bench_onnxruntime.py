#!/usr/bin/env python3
"""Times onnxruntime's forward pass for `clrp bench` (same model, input shape and run count).

Prints one JSON object: {"median_seconds": ..., "min_seconds": ..., "median_cpu_seconds": ..., "runs": ...}
(CPU time of the process, all threads, per run).
CPU execution provider, all graph optimizations on (onnxruntime's default), threads = cores
unless --threads is given (then that many intra-op threads and one inter-op thread).
Needs `pip install onnxruntime numpy`; clrp itself never needs it.
"""
import argparse, json, statistics, time

import numpy as np
import onnxruntime as ort

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--shape", required=True, help="comma separated input shape")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default, the cores)")
args = parser.parse_args()

options = ort.SessionOptions()
if args.threads > 0:
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
x = np.random.default_rng(42).uniform(-1, 1, [int(d) for d in args.shape.split(",")]).astype(np.float32)
session.run(None, {name: x})
times, cpu_times = [], []
for _ in range(args.runs):
    start, cpu_start = time.perf_counter(), time.process_time()
    session.run(None, {name: x})
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
print(json.dumps({"median_seconds": statistics.median(times), "min_seconds": min(times),
                  "median_cpu_seconds": statistics.median(cpu_times), "runs": args.runs}))

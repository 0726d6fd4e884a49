#!/usr/bin/env python3
"""Rounds of `clrp bench` on the issue 9 models, for the tables of Docs/PERFORMANCE.md
("Where the figures stand").

Each round runs `clrp bench Graphs/build/zoo/<model>_legacy.onnx --json --threads T` once per
model (a fresh process each time: this VM's speed is bimodal per process), either
`--forward --runs 10` (against onnxruntime) or `--rules paper --signals 1 --runs 5` (one LRP
map, against Zennit with the same rules). It prints each process's figures, then one Markdown
row per model: medians over the rounds of clrp's median wall time, minimum and CPU time and of
the reference's median, and the median (range) of the per-process wall and CPU-time ratios,
with the load average seen.

Run from the repository root after `swift build -c release` and `python3 Graphs/export_zoo.py`:
    python3 Graphs/bench_campaign.py forward 1 7
    python3 Graphs/bench_campaign.py forward 2 5
    python3 Graphs/bench_campaign.py lrp 1 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess

MODELS = ["resnet50", "mobilenet_v3_large", "efficientnet_b0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", choices=["forward", "lrp"])
    parser.add_argument("threads", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("--clrp", default=".build/release/clrp")
    args = parser.parse_args()
    reference = "onnxruntime" if args.work == "forward" else "zennit"
    work = ["--forward", "--runs", "10"] if args.work == "forward" else ["--rules", "paper", "--signals", "1", "--runs", "5"]
    rows: dict[str, list[dict]] = {m: [] for m in MODELS}
    for _ in range(args.rounds):
        for model in MODELS:
            load = os.getloadavg()[0]
            run = subprocess.run([args.clrp, "bench", f"Graphs/build/zoo/{model}_legacy.onnx", "--threads", str(args.threads),
                                  "--json"] + work, capture_output=True, text=True)
            try:
                figures = json.loads(run.stdout)
            except json.JSONDecodeError:
                print("FAILED", model, run.stderr[-300:])
                continue
            figures["load"] = load
            rows[model].append(figures)
            print(model, {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}, flush=True)

    print(f"\n{args.work}, {args.threads} thread(s), {args.rounds} rounds")
    print(f"| model | clrp wall (ms) | clrp min (ms) | clrp CPU (ms) | {reference} (ms) | ratio (wall) | ratio (CPU time) | load |")
    for model, runs in rows.items():
        if not runs:
            continue
        def ms(key: str) -> float:
            return statistics.median(r[key] for r in runs) * 1e3
        wall = sorted(r[f"ratio_vs_{reference}"] for r in runs)
        cpu = sorted(r[f"cpu_ratio_vs_{reference}"] for r in runs)
        print(f"| {model} | {ms('median_seconds'):.1f} | {ms('min_seconds'):.1f} | {ms('median_cpu_seconds'):.1f} "
              f"| {ms(reference + '_median_seconds'):.1f} | {statistics.median(wall):.2f} ({wall[0]:.2f}–{wall[-1]:.2f}) "
              f"| {statistics.median(cpu):.2f} ({cpu[0]:.2f}–{cpu[-1]:.2f}) "
              f"| {min(r['load'] for r in runs):.1f}–{max(r['load'] for r in runs):.1f} |")


if __name__ == "__main__":
    main()

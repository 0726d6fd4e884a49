#!/usr/bin/env python3
"""Same-minute A/B of clrp builds: `clrp bench --forward --no-reference --json` for each model,
the binaries taking turns process by process (this VM's speed changes from hour to hour and
from process to process), optionally beside busy processes. Prints each process's median and,
per model and binary, the median over the rounds. The tables of Docs/PERFORMANCE.md, "Two
threads: one thread pool" (session 14), came from runs like:

    python3 Graphs/bench_ab.py old/.build/release/clrp .build/release/clrp --rounds 5
    python3 Graphs/bench_ab.py old/.build/release/clrp .build/release/clrp --busy 2 --rounds 3 \\
        --models resnet50 mobilenet_v3_large

where `old` is a `git worktree` of the earlier commit, built with `swift build -c release`.
A constant such as the pool's SPIN_ROUNDS is compared by building one worktree per value.
Run from the repository root after `python3 Graphs/export_zoo.py`.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import time

MODELS = ["resnet50", "mobilenet_v3_large", "efficientnet_b0"]


def busy(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", help="clrp executables to compare")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per process")
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes running meanwhile")
    args = parser.parse_args()
    burners = [multiprocessing.Process(target=busy, args=(86400,), daemon=True) for _ in range(args.busy)]
    for burner in burners:
        burner.start()
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for model in args.models:
                for binary in args.binaries:
                    run = subprocess.run([binary, "bench", f"Graphs/build/zoo/{model}_legacy.onnx", "--forward",
                                          "--threads", str(args.threads), "--runs", str(args.runs),
                                          "--no-reference", "--json"], capture_output=True, text=True, check=True)
                    ms = json.loads(run.stdout)["median_seconds"] * 1e3
                    times.setdefault((model, binary), []).append(ms)
                    print(f"{model} {binary} {ms:.2f} ms", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
    print(f"\n{args.threads} thread(s), {args.rounds} rounds, {args.busy} busy processes; median ms per process, then their median")
    for (model, binary), values in times.items():
        print(f"| {model} | {binary} | {statistics.median(values):.1f} | {' / '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()

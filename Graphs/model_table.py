#!/usr/bin/env python3
"""Generate the model tables of Graphs/README.md from the ONNX files themselves.

Rewrites the text between
    <!-- BEGIN GENERATED: fixtures -->  ...  <!-- END GENERATED: fixtures -->
    <!-- BEGIN GENERATED: full -->      ...  <!-- END GENERATED: full -->
in Graphs/README.md.  The "full" table is only rewritten when Graphs/build/
contains models (it is git-ignored, so a fresh checkout keeps the last table).

Usage:  python3 Graphs/model_table.py          # update README.md in place
        python3 Graphs/model_table.py --print  # just print the tables
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "Graphs" / "README.md"
FIXTURE_DIR = ROOT / "Tests" / "Fixtures" / "models"
REF_DIR = ROOT / "Tests" / "Fixtures" / "reference"
BUILD_DIR = ROOT / "Graphs" / "build"


def describe(path: Path) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    ext = sorted({e.value for t in m.graph.initializer for e in t.external_data if e.key == "location"})
    size = path.stat().st_size + sum((path.parent / f).stat().st_size for f in ext)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    return dict(
        file=path, size=size, ext=ext, ops=ops, nodes=len(m.graph.node), opset=opset,
        ir=m.ir_version, producer=f"{m.producer_name} {m.producer_version}".strip(),
        input=f"`{inp.name}` [{', '.join(map(str, dims))}]",
    )


def fmt_size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def fixtures_table() -> str:
    rows = [describe(p) for p in sorted(FIXTURE_DIR.rglob("*.onnx"))]
    lines = [
        "| model | size | input | opset / IR | producer | nodes | op types (count) |",
        "|---|---:|---|---|---|---:|---|",
    ]
    for r in rows:
        name = r["file"].relative_to(FIXTURE_DIR).as_posix()
        if r["ext"]:
            name += " (+ " + ", ".join(r["ext"]) + ")"
        ops = ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items()))
        lines.append(f"| {name} | {fmt_size(r['size'])} | {r['input']} | {r['opset']} / {r['ir']} | "
                     f"{r['producer']} | {r['nodes']} | {ops} |")
    total_models = sum(r["size"] for r in rows)
    total_ref = sum(p.stat().st_size for p in REF_DIR.glob("*") if p.is_file()) if REF_DIR.exists() else 0
    lines += ["", f"Committed fixtures: models {fmt_size(total_models)}, "
                  f"reference outputs {fmt_size(total_ref)}, total {fmt_size(total_models + total_ref)}."]
    return "\n".join(lines)


def full_table() -> str | None:
    paths = sorted(BUILD_DIR.glob("*.onnx"))
    if not paths:
        return None
    lines = [
        "| model | size | input | opset / IR | nodes | op types (count) |",
        "|---|---:|---|---|---:|---|",
    ]
    for r in map(describe, paths):
        ops = ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items()))
        lines.append(f"| {r['file'].name} | {fmt_size(r['size'])} | {r['input']} | "
                     f"{r['opset']} / {r['ir']} | {r['nodes']} | {ops} |")
    return "\n".join(lines)


def replace_block(text: str, tag: str, body: str) -> str:
    pat = re.compile(rf"(<!-- BEGIN GENERATED: {tag} -->).*?(<!-- END GENERATED: {tag} -->)", re.S)
    assert pat.search(text), f"marker for {tag!r} missing in README"
    return pat.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(2), text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--print", action="store_true", help="print instead of editing README.md")
    args = ap.parse_args()
    fixtures, full = fixtures_table(), full_table()
    if args.print:
        print(fixtures, "", full or "(Graphs/build is empty)", sep="\n")
        return 0
    text = README.read_text()
    text = replace_block(text, "fixtures", fixtures)
    if full is not None:
        text = replace_block(text, "full", full)
    README.write_text(text)
    print(f"updated {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the clrp wheel (a zip, PEP 427) with the standard library only: no network, no build tools.

    python3 python/build_wheel.py --binary dist/clrp --output dist

The wheel holds the package python/clrp, the binary as clrp/_bin/clrp (executable), and
clrp-<version>.dist-info with METADATA (numpy the only dependency), WHEEL (tag
py3-none-linux_x86_64: any Python 3, the binary is Linux x86-64) and RECORD (sha256 of each
file). The version is python/clrp/__init__.py's __version__.
"""

import argparse
import base64
import hashlib
import re
import stat
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "clrp"
TAG = "py3-none-linux_x86_64"
# Fixed timestamp: the same inputs give the same wheel.
DATE = (2026, 1, 1, 0, 0, 0)


def version():
    text = (PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if not match:
        sys.exit(f"{PACKAGE / '__init__.py'}: no __version__ = \"...\" line")
    return match.group(1)


def metadata(version):
    readme = (PACKAGE.parent / "README.md").read_text()
    return (f"Metadata-Version: 2.1\nName: clrp\nVersion: {version}\n"
            "Summary: Explain CNN decisions (LRP, contrastive LRP) of ONNX models, from numpy\n"
            "License: see the project repository\n"
            "Platform: linux_x86_64\nRequires-Python: >=3.8\nRequires-Dist: numpy\n"
            "Description-Content-Type: text/markdown\n\n" + readme)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the clrp executable to carry (make dist's dist/clrp)")
    parser.add_argument("--output", default="dist", help="folder for the wheel")
    args = parser.parse_args()
    binary = Path(args.binary)
    if not binary.is_file():
        sys.exit(f"{binary}: no such file (run `make dist` first)")
    v = version()
    info = f"clrp-{v}.dist-info"
    files = []  # (name in the wheel, bytes, executable)
    for path in sorted(PACKAGE.rglob("*.py")):
        files.append((f"clrp/{path.relative_to(PACKAGE).as_posix()}", path.read_bytes(), False))
    files.append(("clrp/_bin/clrp", binary.read_bytes(), True))
    files.append((f"{info}/METADATA", metadata(v).encode(), False))
    files.append((f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: clrp build_wheel.py\nRoot-Is-Purelib: false\nTag: {TAG}\n".encode(), False))
    record = "\n".join([record_line(name, data) for name, data, _ in files] + [f"{info}/RECORD,,", ""])
    files.append((f"{info}/RECORD", record.encode(), False))

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    wheel = output / f"clrp-{v}-{TAG}.whl"
    partial = wheel.with_suffix(".whl.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, executable in files:
            entry = zipfile.ZipInfo(name, DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            archive.writestr(entry, data)
    partial.replace(wheel)
    print(wheel)


if __name__ == "__main__":
    main()

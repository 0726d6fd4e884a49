"""Shared fixtures: the package from python/ (not an installed copy), the binary, the bundled model."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

MODEL = REPO / "Tests" / "Fixtures" / "models" / "shapes-vgg.onnx"
IMAGE = REPO / "Tests" / "Fixtures" / "shapes" / "example.png"
VGG_SMALL = REPO / "Tests" / "Fixtures" / "models" / "vgg16_small.onnx"
VGG_SMALL_INPUT = REPO / "Tests" / "Fixtures" / "relevance" / "vgg16_small.input.npy"


def _binary():
    given = os.environ.get("CLRP_BINARY")
    if given:
        return given
    for candidate in ("dist/clrp", ".build/release/clrp", ".build/debug/clrp"):
        if (REPO / candidate).is_file():
            return str(REPO / candidate)
    pytest.exit("no clrp binary: run `make dist` (or swift build), or set CLRP_BINARY", returncode=2)


# Every Explainer of the tests, and every `clrp` command they run, use this one binary.
os.environ["CLRP_BINARY"] = _binary()


@pytest.fixture(scope="session")
def binary():
    return os.environ["CLRP_BINARY"]

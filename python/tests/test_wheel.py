"""Done when: a fresh virtual environment with numpy installs the wheel and explains the bundled
image with clrp.Explainer(...).explain(...) in a minimal environment (no toolchain on PATH, an
empty LD_LIBRARY_PATH, run from outside the repository, CLRP_BINARY unset)."""

import base64
import hashlib
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import clrp
from conftest import IMAGE, MODEL, REPO

VERSION = re.search(r'^__version__ = "([^"]+)"$', (REPO / "python/clrp/__init__.py").read_text(), re.M).group(1)
WHEEL = REPO / "dist" / f"clrp-{VERSION}-py3-none-linux_x86_64.whl"


@pytest.fixture(scope="module")
def wheel():
    if not WHEEL.is_file():
        pytest.fail(f"{WHEEL} is missing: run `make wheel`")
    return WHEEL


def test_the_wheel_carries_the_package_and_an_executable_binary_with_a_correct_record(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "clrp/__init__.py" in names and "clrp/_bin/clrp" in names
        binary = archive.getinfo("clrp/_bin/clrp")
        assert (binary.external_attr >> 16) & stat.S_IXUSR
        info = f"clrp-{VERSION}.dist-info"
        assert f"Tag: py3-none-linux_x86_64" in archive.read(f"{info}/WHEEL").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
        assert f"Version: {VERSION}" in metadata
        assert re.findall(r"^Requires-Dist: (.*)$", metadata, re.M) == ["numpy"]
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        recorded = {}
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            recorded[name] = (digest, size)
        assert set(recorded) == set(names)
        for name in names:
            if name.endswith("RECORD"):
                continue
            data = archive.read(name)
            expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert recorded[name] == (expected, str(len(data))), name


def test_a_fresh_venv_installs_the_wheel_and_explains_in_a_minimal_environment(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "numpy", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                               capture_output=True, text=True, check=True).stdout
    assert {line.split("==")[0].lower() for line in installed.split()} <= {"numpy", "clrp", "pip", "setuptools"}

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(MODEL, work / "model.onnx")
    shutil.copy(IMAGE, work / "image.png")
    script = textwrap.dedent("""
        import clrp, numpy as np
        print(clrp.find_binary())
        with clrp.Explainer("model.onnx") as explainer:
            maps = explainer.explain("image.png", method="clrp2", targets=[9, 4])
        np.save("maps.npy", maps)
    """)
    minimal = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "", "HOME": str(tmp_path), "LANG": "C"}
    assert shutil.which("swift", path=minimal["PATH"]) is None, "the toolchain is on the minimal PATH"
    run = subprocess.run([str(python), "-c", script], cwd=work, env=minimal, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    binary = run.stdout.strip().splitlines()[-1]
    assert binary.startswith(str(venv)) and binary.endswith("clrp/_bin/clrp")

    maps = np.load(work / "maps.npy")
    assert maps.shape == (2, 3, 64, 64) and maps.dtype == np.float32
    # The same maps as the package from the source tree with the binary the wheel was made from.
    with clrp.Explainer(MODEL) as explainer:
        expected = explainer.explain(IMAGE, method="clrp2", targets=[9, 4])
    assert maps.tobytes() == expected.tobytes()
    assert (maps >= 0).all() and maps.sum() > 0

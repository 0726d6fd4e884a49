"""clrp's errors come through as ClrpError carrying clrp's own message."""

import subprocess

import numpy as np
import pytest

import clrp
from conftest import IMAGE, MODEL


@pytest.fixture(scope="module")
def explainer():
    with clrp.Explainer(MODEL) as e:
        yield e


def cli_error(binary, *arguments):
    run = subprocess.run([binary, *map(str, arguments)], capture_output=True, text=True)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, run.stderr
    return lines[0][len("error: "):]


def test_a_missing_model_raises_the_cli_message(binary, tmp_path):
    missing = tmp_path / "no-such-model.onnx"
    with pytest.raises(clrp.ClrpError) as raised:
        clrp.Explainer(missing)
    assert str(raised.value) == cli_error(binary, "explain", missing, IMAGE) == f"{missing}: no such file"
    assert isinstance(raised.value, RuntimeError)


def test_a_file_that_is_no_model_raises(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(clrp.ClrpError, match=str(bad)):
        clrp.Explainer(bad)


def test_an_unknown_method_raises_the_cli_message(binary, explainer):
    with pytest.raises(clrp.ClrpError) as raised:
        explainer.explain(IMAGE, method="clrp3")
    assert str(raised.value) == cli_error(binary, "explain", MODEL, IMAGE, "--method", "clrp3")
    assert "clrp3" in str(raised.value)


def test_a_class_out_of_range_raises(binary, explainer, tmp_path):
    with pytest.raises(clrp.ClrpError) as raised:
        explainer.explain(IMAGE, targets=11)
    assert str(raised.value) == cli_error(binary, "explain", MODEL, IMAGE, "--method", "clrp2", "--class", 11,
                                          "--output", tmp_path / "x.npy")
    assert "11" in str(raised.value)


def test_a_wrong_input_shape_raises(explainer):
    with pytest.raises(clrp.ClrpError, match=r"the input has shape \[3, 32, 32\]; the model takes \[3, 64, 64\]"):
        explainer.explain(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(clrp.ClrpError, match=r"shape \[2, 1, 64, 64\]"):
        explainer.classify(np.zeros((2, 1, 64, 64), np.float32))


def test_non_finite_inputs_and_missing_images_raise(explainer, tmp_path):
    x = np.zeros((3, 64, 64), np.float32)
    x[0, 0, 0] = np.nan
    with pytest.raises(clrp.ClrpError, match="non-finite"):
        explainer.classify(x)
    with pytest.raises(clrp.ClrpError, match="no-such.png"):
        explainer.explain(tmp_path / "no-such.png")
    with pytest.raises(clrp.ClrpError, match="float32 array or an image path"):
        explainer.classify(np.array(["a", "b"]))


def test_the_explainer_keeps_working_after_errors(explainer):
    pid = explainer.pid
    for bad in ({"method": "nope"}, {"targets": 99}, {"neuron": "no/such/node:3"}, {"rules": "no-such-rules"}):
        with pytest.raises(clrp.ClrpError):
            explainer.explain(IMAGE, **bad)
    assert explainer.explain(IMAGE).shape == (3, 64, 64)
    assert explainer.pid == pid


def test_bad_rules_or_preprocessing_fail_at_construction(binary, tmp_path):
    with pytest.raises(clrp.ClrpError, match="no-such-rules"):
        clrp.Explainer(MODEL, rules="no-such-rules")
    with pytest.raises(clrp.ClrpError) as raised:
        clrp.Explainer(MODEL, preprocess="no-such-preprocessing")
    assert str(raised.value) == cli_error(binary, "explain", MODEL, IMAGE, "--preprocess", "no-such-preprocessing")


def test_a_call_that_times_out_stops_the_server_and_the_next_call_starts_one():
    with clrp.Explainer(MODEL) as explainer:
        pid = explainer.pid
        explainer.timeout = 1e-9  # no answer can arrive within a nanosecond
        with pytest.raises(clrp.ClrpError, match="did not answer within 1e-09 s; it was stopped"):
            explainer.explain(IMAGE)
        assert explainer.pid is None
        explainer.timeout = None
        assert explainer.explain(IMAGE).shape == (3, 64, 64)
        assert explainer.pid not in (None, pid)


def test_empty_target_lists_are_refused(explainer):
    with pytest.raises(clrp.ClrpError, match="targets is empty"):
        explainer.explain(IMAGE, targets=[])
    with pytest.raises(clrp.ClrpError, match="give one of targets, top and neuron"):
        explainer.explain(IMAGE, targets=[1], top=2)


def test_no_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLRP_BINARY", str(tmp_path / "missing-clrp"))
    with pytest.raises(clrp.ClrpError, match="CLRP_BINARY=.*missing-clrp: no such executable file"):
        clrp.Explainer(MODEL)

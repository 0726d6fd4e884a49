"""`clrp serve` survives malformed requests and clients that go away (Docs/SERVE.md)."""

import json
import os
import signal
import subprocess

import numpy as np
import pytest

import clrp
from clrp.protocol import encode_array, encode_message
from conftest import IMAGE, MODEL


def start(binary):
    return subprocess.Popen([binary, "serve", str(MODEL)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def response(process):
    """One response frame, read with plain file reads: (header, {name: raw bytes})."""
    line = process.stdout.readline()
    assert line.endswith(b"\n"), f"no complete length line: {line!r}"
    header = json.loads(process.stdout.read(int(line)))
    arrays = {a["name"]: process.stdout.read(a["bytes"]) for a in header["arrays"]}
    return header, arrays


def send(process, data):
    process.stdin.write(data)
    process.stdin.flush()


def test_malformed_requests_get_errors_and_the_next_request_works(binary):
    process = start(binary)
    x = np.zeros((3, 64, 64), np.float32)
    good = encode_message({"op": "classify", "id": 7}, [("input", x)])
    broken_npy = b"\x93NUMPY garbage"
    cases = [
        (b"twelve\n", "decimal"),
        (b"5\n{nope", "not a JSON object"),
        (b"2\n[]", "not a JSON object"),
        (encode_message({"op": "launch"}), "unknown op 'launch'"),
        (encode_message({"id": 3}), "no 'op'"),
        (encode_message({"op": "classify", "top": "five"}, [("input", x)]), "'top' must be an integer"),
        (encode_message({"op": "classify"}, [("input", np.zeros((3, 5), np.float32))]), "has shape [3, 5]"),
        (encode_message({"op": "classify"}), "needs an image path"),
    ]
    # An array whose bytes are not a .npy file, framed correctly.
    header = json.dumps({"op": "classify", "arrays": [{"name": "input", "bytes": len(broken_npy)}]}).encode()
    cases.append((str(len(header)).encode() + b"\n" + header + broken_npy, "not a usable .npy file"))
    for request, message in cases:
        send(process, request)
        reply, _ = response(process)
        assert reply["ok"] is False and message in reply["error"], (request[:60], reply)
        send(process, good)
        reply, arrays = response(process)
        assert reply["ok"] is True and reply["id"] == 7 and reply["op"] == "classify"
        logits = np.lib.format.read_array(__import__("io").BytesIO(arrays["logits"]))
        assert logits.shape == (1, 11)
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    errors = process.stderr.read().decode()
    assert "unknown op 'launch'" in errors
    assert process.stdout.read() == b""


@pytest.mark.parametrize("cut", ["length", "header", "array"])
def test_a_client_that_disconnects_mid_request_ends_the_server_cleanly(binary, cut):
    process = start(binary)
    send(process, encode_message({"op": "version"}))
    reply, _ = response(process)
    assert reply["ok"] and reply["version"] == clrp.__version__
    full = encode_message({"op": "classify"}, [("input", np.ones((3, 64, 64), np.float32))])
    head = full.index(b"\n") + 1
    partial = {"length": full[:2], "header": full[:head + 5], "array": full[:-100]}[cut]
    send(process, partial)
    process.stdin.close()
    assert process.wait(timeout=60) == 1
    errors = process.stderr.read().decode()
    assert f"error: the input ended inside a request (after {len(partial)} of its bytes)" in errors
    # Nothing beyond the complete response to the first request.
    assert process.stdout.read() == b""
    with clrp.Explainer(MODEL) as fresh:
        assert fresh.explain(IMAGE).shape == (3, 64, 64)


def test_a_client_that_closes_between_requests_ends_the_server_with_status_0(binary):
    process = start(binary)
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    assert process.stdout.read() == b""
    assert "error" not in process.stderr.read().decode()


def test_a_client_that_stops_reading_does_not_hang_the_server(binary):
    process = start(binary)
    send(process, encode_message({"op": "version"}))
    process.stdout.close()
    process.stdin.close()
    assert process.wait(timeout=60) in (0, 1)


def test_a_dead_server_is_restarted_by_the_next_call():
    with clrp.Explainer(MODEL) as explainer:
        first = explainer.explain(IMAGE)
        pid = explainer.pid
        os.kill(pid, signal.SIGKILL)
        again = explainer.explain(IMAGE)
        assert explainer.pid not in (None, pid)
        assert again.tobytes() == first.tobytes()


def test_a_server_without_a_model_serves_heatmaps_only(binary):
    process = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    relevance = np.zeros((3, 4, 5), np.float32)
    relevance[0, 1, 2] = 1.0
    send(process, encode_message({"op": "heatmap", "method": "clrp2"}, [("relevance", relevance)]))
    reply, arrays = response(process)
    picture = np.lib.format.read_array(__import__("io").BytesIO(arrays["heatmap"]))
    assert reply["ok"] and picture.shape == (4, 5, 3) and picture.dtype == np.uint8
    # hot: 0 is black, the maximum white.
    assert picture[1, 2].tolist() == [255, 255, 255] and picture[0, 0].tolist() == [0, 0, 0]
    send(process, encode_message({"op": "classify"}, [("input", relevance)]))
    reply, _ = response(process)
    assert not reply["ok"] and "without a model" in reply["error"]
    process.stdin.close()
    assert process.wait(timeout=60) == 0


def test_encode_array_is_a_npy_file():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(np.lib.format.read_array(__import__("io").BytesIO(encode_array(x))), x)

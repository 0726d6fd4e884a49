"""The package gives what the command line gives, byte for byte, on the bundled model."""

import json
import subprocess

import numpy as np
import pytest

import clrp
from conftest import IMAGE, MODEL, VGG_SMALL, VGG_SMALL_INPUT
from png import read_png


def run_clrp(binary, *arguments):
    run = subprocess.run([binary, *map(str, arguments)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def explainer():
    with clrp.Explainer(MODEL, preprocess="imagenet") as e:
        yield e


@pytest.mark.parametrize("method", ["lrp", "clrp1", "clrp2"])
@pytest.mark.parametrize("target", [9, 4])
def test_maps_equal_the_cli_maps(binary, explainer, tmp_path, method, target):
    output = tmp_path / "map.npy"
    run_clrp(binary, "explain", MODEL, IMAGE, "--method", method, "--class", target, "--output", output)
    expected = np.load(output)
    got = explainer.explain(IMAGE, method=method, targets=target)
    assert got.dtype == np.float32 and got.shape == expected.shape == (3, 64, 64)
    assert got.tobytes() == expected.tobytes()
    assert np.abs(got).sum() > 0


def test_target_lists_and_top_give_one_map_per_target(binary, explainer, tmp_path):
    both = explainer.explain(IMAGE, method="clrp2", targets=[9, 4])
    top, info = explainer.explain(IMAGE, method="clrp2", top=2, return_info=True)
    assert both.shape == (2, 3, 64, 64)
    assert [m["classes"] for m in info] == [[9], [4]]
    assert top.tobytes() == both.tobytes()
    # The command line explains the two classes in one batched backward pass too.
    run_clrp(binary, "explain", MODEL, IMAGE, "--method", "clrp2", "--class", 9, "--class", 4, "--output-dir", tmp_path)
    for k, target in enumerate([9, 4]):
        assert both[k].tobytes() == np.load(tmp_path / f"example.clrp2.{target}.npy").tobytes()
        # One class at a time differs only by the batched GEMM's rounding.
        alone = explainer.explain(IMAGE, method="clrp2", targets=target)
        assert np.allclose(both[k], alone, rtol=1e-4, atol=1e-6 * np.abs(alone).max())


def test_array_inputs_and_batches_equal_the_cli(binary, tmp_path):
    x = np.load(VGG_SMALL_INPUT).astype(np.float32)
    x = x.reshape(x.shape[-3:])
    flipped = np.ascontiguousarray(x[:, :, ::-1])
    expected = []
    for k, image in enumerate([x, flipped]):
        np.save(tmp_path / f"x{k}.npy", image)
        run_clrp(binary, "explain", VGG_SMALL, tmp_path / f"x{k}.npy", "--method", "clrp2", "--class", 1,
                 "--output", tmp_path / f"r{k}.npy")
        expected.append(np.load(tmp_path / f"r{k}.npy"))
    with clrp.Explainer(VGG_SMALL) as e:
        one = e.explain(x, method="clrp2", targets=1)
        batch = e.explain(np.stack([x, flipped]), method="clrp2", targets=1)
    assert one.shape == x.shape and one.tobytes() == expected[0].tobytes()
    assert batch.shape == (2,) + x.shape
    assert batch.tobytes() == np.stack(expected).tobytes()


@pytest.mark.parametrize("method", ["lrp", "clrp2"])
def test_heatmap_equals_the_cli_png(binary, explainer, tmp_path, method):
    output = tmp_path / "map.png"
    run_clrp(binary, "explain", MODEL, IMAGE, "--method", method, "--class", 4, "--output", output)
    expected = read_png(output)
    relevance = explainer.explain(IMAGE, method=method, targets=4)
    picture = clrp.heatmap(relevance, method=method)
    assert picture.dtype == np.uint8 and picture.shape == expected.shape == (64, 64, 3)
    assert np.array_equal(picture, expected)
    assert np.array_equal(explainer.heatmap(relevance, method=method), expected)
    # A batch of maps gives a batch of pictures.
    assert np.array_equal(clrp.heatmap(np.stack([relevance, relevance]), method=method), np.stack([expected, expected]))


def test_classify_equals_the_cli(binary, tmp_path):
    x = np.load(VGG_SMALL_INPUT).astype(np.float32)
    batch = np.concatenate([x.reshape((1,) + x.shape[-3:])] * 2) * np.array([1, 0.5], np.float32)[:, None, None, None]
    np.save(tmp_path / "x.npy", batch)
    np.save(tmp_path / "x0.npy", batch[0])
    run_clrp(binary, "classify", VGG_SMALL, tmp_path / "x.npy", "--output", tmp_path / "logits.npy")
    run_clrp(binary, "classify", VGG_SMALL, tmp_path / "x0.npy", "--output", tmp_path / "logits0.npy")
    cli = json.loads(run_clrp(binary, "classify", VGG_SMALL, tmp_path / "x.npy", "--json", "--top", 3))
    expected = np.load(tmp_path / "logits.npy")
    # A batch runs as one forward pass: compare one image with one image.
    expected_single = np.load(tmp_path / "logits0.npy")
    with clrp.Explainer(VGG_SMALL) as e:
        result = e.classify(batch, top=3)
        single = e.classify(batch[0], top=3)
    assert result.logits.dtype == np.float32 and result.logits.tobytes() == expected.tobytes()
    assert single.logits.tobytes() == expected_single.tobytes()
    for image, predictions in zip(cli, result.top):
        assert [p["class"] for p in image["top"]] == [p.index for p in predictions]
    # Probabilities are the softmax of the logits.
    z = expected_single.astype(np.float64)
    softmax = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.allclose([p.probability for p in single.top], np.sort(softmax)[::-1][:3], rtol=1e-9)


def test_classify_an_image_file_gives_labels(explainer):
    result = explainer.classify(IMAGE, top=2)
    assert result.logits.shape == (11,)
    assert [p.label for p in result.top] == [explainer.labels[p.index] for p in result.top]
    assert result.top[0].index == int(np.argmax(result.logits))


def test_verify_equals_the_cli(binary, explainer, tmp_path):
    x = np.load(VGG_SMALL_INPUT).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli = json.loads(run_clrp(binary, "verify", VGG_SMALL, "--rules", "paper", "--preprocess", "imagenet",
                              "--input", tmp_path / "x.npy", "--class", 2, "--json"))
    with clrp.Explainer(VGG_SMALL, preprocess="imagenet") as e:
        result = e.verify(x, target=2, rules="paper")
    assert result.class_index == 2 and result.conserved == cli["conserved"]
    assert len(result.layers) == len(cli["layers"]) > 5
    for layer, expected in zip(result.layers, cli["layers"]):
        assert (layer.node, layer.rule, layer.status) == (expected["node"], expected["rule"], expected["status"])
        assert layer.relevance_in == expected["relevance_in"] and layer.relevance_out == expected["relevance_out"]
    assert result.input_relevance == cli["input_relevance"]


def test_a_neuron_map_equals_the_cli(binary, explainer, tmp_path):
    node = "/features/features.17/Relu"
    run_clrp(binary, "explain", MODEL, IMAGE, "--method", "clrp2", "--neuron", f"{node}:5", "--output", tmp_path / "n.npy")
    got = explainer.explain(IMAGE, method="clrp2", neuron=f"{node}:5")
    assert got.shape == (3, 64, 64) and got.tobytes() == np.load(tmp_path / "n.npy").tobytes()
    units, info = explainer.explain(IMAGE, method="lrp", neuron=f"{node}:top:3", return_info=True)
    assert units.shape == (3, 3, 64, 64) and len(info) == 3 and all(node in m["target"] for m in info)

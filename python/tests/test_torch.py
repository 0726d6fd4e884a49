"""clrp.from_torch: torch's exporter, then the same explainer (development environment only)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="from_torch needs PyTorch; only the development environment has it "
                                            "(make test's venv has numpy and pytest only)")

import clrp  # noqa: E402


def small_network():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(8, 5))


def test_from_torch_classifies_as_torch_and_explains():
    module = small_network()
    example = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        reference = module(example).numpy()[0]
    with clrp.from_torch(module, example) as explainer:
        x = example.numpy()[0]
        result = explainer.classify(x)
        assert np.allclose(result.logits, reference, rtol=1e-4, atol=1e-5)
        maps = explainer.explain(x, method="clrp2", top=2)
        assert maps.shape == (2, 3, 16, 16) and (maps >= 0).all()
        lrp = explainer.explain(x, method="lrp", targets=int(np.argmax(reference)))
        assert lrp.shape == (3, 16, 16) and np.isfinite(lrp).all() and np.abs(lrp).sum() > 0
        path = explainer.model
    import os
    assert not os.path.exists(path), "the exported model is removed on close"

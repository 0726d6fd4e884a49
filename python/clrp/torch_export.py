"""PyTorch modules through torch's own ONNX exporter."""

import os
import tempfile

from .errors import ClrpError
from .explainer import Explainer


def from_torch(module, example_input, *, opset=None, dynamo=None, **kwargs):
    """Export a PyTorch module to ONNX and return an :class:`Explainer` for it.

    torch is imported here only; the rest of the package needs numpy alone.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it is put in eval mode.
    example_input : torch.Tensor
        One input batch ``[N, C, H, W]`` fixing the input shape.
    opset : int, optional
        The ONNX opset to export (default: the exporter's).
    dynamo : bool, optional
        Which torch exporter: None tries torch's default and falls back to
        the TorchScript one (``dynamo=False``) if that fails.
    **kwargs
        Passed to :class:`Explainer` (rules, preprocess, labels, ...).

    Returns
    -------
    Explainer
        It deletes the exported file when closed.
    """
    try:
        import torch
    except ImportError:
        raise ClrpError("from_torch needs PyTorch (pip install torch)") from None
    directory = tempfile.mkdtemp(prefix="clrp-torch-")
    path = os.path.join(directory, "model.onnx")
    module.eval()
    options = {"input_names": ["input"], "output_names": ["logits"]}
    if opset is not None:
        options["opset_version"] = opset
    attempts = [dynamo] if dynamo is not None else [None, False]
    failure = None
    for attempt in attempts:
        try:
            with torch.no_grad():
                if attempt is None:
                    torch.onnx.export(module, (example_input,), path, **options)
                else:
                    torch.onnx.export(module, (example_input,), path, dynamo=attempt, **options)
            failure = None
            break
        except Exception as error:  # the exporters raise many kinds
            failure = error
    if failure is not None:
        raise ClrpError(f"torch.onnx.export failed: {failure}") from failure
    explainer = Explainer(path, **kwargs)
    explainer._temporary = directory
    return explainer

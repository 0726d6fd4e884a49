"""clrp: explain CNN decisions with LRP and contrastive LRP, from Python.

Numpy arrays in and out; the work is done by the ``clrp`` binary (carried in
the wheel), kept running by each :class:`Explainer` (``clrp serve``).

>>> import clrp
>>> explainer = clrp.Explainer("model.onnx", preprocess="imagenet")
>>> maps = explainer.explain("cat.jpg", method="clrp2", targets=[281])
>>> picture = clrp.heatmap(maps[0], method="clrp2")   # [H, W, 3] uint8

Docs/SERVE.md describes the protocol, README.md the command line.
"""

from .binary import find_binary
from .errors import ClrpError
from .explainer import Classification, Explainer, LayerSums, Prediction, Verification
from .heatmap import heatmap
from .torch_export import from_torch

#: The release; the binary's ``clrp --version`` says the same.
__version__ = "0.1.0"

__all__ = ["ClrpError", "Classification", "Explainer", "LayerSums", "Prediction", "Verification",
           "find_binary", "from_torch", "heatmap", "__version__"]

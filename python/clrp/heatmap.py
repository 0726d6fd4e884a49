"""Relevance maps in colour, drawn by clrp's own colormap code."""

import atexit
import threading

import numpy as np

from .errors import ClrpError
from .server import ServerProcess

_shared = None
_shared_lock = threading.Lock()


def _shared_server():
    """A model-less ``clrp serve`` for :func:`heatmap`, started once, stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ServerProcess([])
            atexit.register(_shared.close)
        return _shared


def heatmap(relevance, method=None, *, cmap=None, scale=None, layout="NCHW"):
    """Colour a relevance map exactly as ``clrp explain`` draws its PNGs.

    Channels are summed, then each pixel's value R is mapped to a colour: with
    ``scale="signed"`` t = (R / max|R| + 1) / 2 on a diverging colormap (``bwr``:
    blue, white at 0, red); with ``"positive"`` t = max(R, 0) / max R on a
    sequential one (``hot``). Docs/METHODS.md has the formulas.

    Parameters
    ----------
    relevance : numpy.ndarray
        One map ``[C, H, W]`` (``[H, W, C]`` with ``layout="NHWC"``) or a batch
        with a leading ``N``.
    method : str, optional
        The method that made the map: the scale the command line uses for it
        (``positive`` for the contrastive methods, ``signed`` for the others).
    cmap : str, optional
        ``bwr``, ``seismic``, ``coolwarm``, ``hot``, ``inferno`` or ``gray``.
    scale : str, optional
        ``auto`` (the default without ``method``: signed when the map has a
        negative value or the colormap is diverging), ``signed`` or ``positive``.
    layout : str
        ``NCHW`` or ``NHWC``.

    Returns
    -------
    numpy.ndarray
        uint8 ``[H, W, 3]`` (RGB), or ``[N, H, W, 3]`` for a batch.
    """
    return render(_shared_server(), relevance, method=method, cmap=cmap, scale=scale, layout=layout)


def render(server, relevance, *, method, cmap, scale, layout):
    """:func:`heatmap` through the given server (its preprocessing's layout when ``layout`` is None)."""
    array = np.ascontiguousarray(np.asarray(relevance), dtype=np.float32)
    if array.ndim == 4:
        return np.stack([render(server, one, method=method, cmap=cmap, scale=scale, layout=layout) for one in array])
    if array.ndim != 3:
        raise ClrpError(f"a relevance map has shape [C, H, W] or [H, W, C] (a batch: a leading N), not {list(array.shape)}")
    request = {"op": "heatmap"}
    for name, value in (("method", method), ("cmap", cmap), ("scale", scale), ("layout", layout)):
        if value is not None:
            request[name] = value
    _, arrays = server.request(request, [("relevance", array)])
    return arrays["heatmap"]

"""The Explainer: one model, one ``clrp serve`` process, numpy arrays in and out."""

import os
import shutil
from dataclasses import dataclass, field

import numpy as np

from .errors import ClrpError
from .server import ServerProcess


@dataclass(frozen=True)
class Prediction:
    """One class of a classification: index, name (if known), logit and softmax probability."""

    index: int
    label: "str | None"
    logit: float
    probability: float


@dataclass(frozen=True)
class Classification:
    """What :meth:`Explainer.classify` returns.

    Attributes
    ----------
    logits : numpy.ndarray
        float32, ``[classes]`` for one image, ``[N, classes]`` for a batch.
    top : list
        The most probable classes, most probable first: a list of
        :class:`Prediction` for one image, a list of such lists for a batch.
    """

    logits: np.ndarray
    top: list


@dataclass(frozen=True)
class LayerSums:
    """Relevance at one node, as ``clrp verify`` reports it.

    Attributes
    ----------
    node, op, rule : str
        The canonical node, its operation and the rule it got.
    relevance_out : float
        Σ of the relevance arriving at the node's output.
    relevance_in : float
        Σ of the relevance it passed on to its inputs.
    ratio : float or None
        relevance_in / relevance_out (None when nothing arrived).
    ratio_to_score : float or None
        relevance_in / the explained score.
    status : str
        ``ok``, ``not-conserved`` (a conserving rule lost more than the
        tolerance) or ``zero-denominators``.
    leak : str
        Why relevance may leak there (bias absorption, stabilizer, ...).
    """

    node: str
    op: str
    rule: str
    relevance_out: float
    relevance_in: float
    ratio: "float | None"
    ratio_to_score: "float | None"
    conserving: bool
    status: str
    leak: str


@dataclass(frozen=True)
class Verification:
    """What :meth:`Explainer.verify` returns: ``clrp verify --json`` as objects.

    Attributes
    ----------
    class_index : int
        The explained class.
    score : float
        Its logit, the relevance started with.
    input_relevance : float
        Σ of the relevance at the input.
    conserved : bool
        Whether every conserving rule conserved within the tolerance.
    layers : list of LayerSums
        From the output back to the input.
    failures : list of str
        The nodes that did not conserve.
    report : dict
        The complete JSON report.
    """

    class_index: int
    score: float
    input_relevance: float
    conserved: bool
    layers: list
    failures: list
    report: dict = field(repr=False)


class Explainer:
    """Explains an ONNX model's decisions with LRP, contrastive LRP and the gradient family.

    Keeps one ``clrp serve`` process with the model, its canonical graph and the
    compiled plans loaded, so many calls pay for loading and compiling once.
    Use it as a context manager, or call :meth:`close`.

    Parameters
    ----------
    model : str or os.PathLike
        The ONNX file.
    rules : str or None
        A rule preset (``paper``, ``epsilon``, ``zplus``, ``alpha2beta1``,
        ``epsilon-plus-flat``, ...) or a YAML rule file for every method; None
        (the default) gives each method its own preset, ``paper`` for lrp,
        clrp1, clrp2 and sglrp, as the command line does.
    preprocess : str
        How image files become inputs and the z^B bounds: ``imagenet``,
        ``unit`` or a YAML file (Docs/RULES.md).
    labels : str or os.PathLike, optional
        Class names, one per line (default: the model's metadata, if any).
    timeout : float, optional
        Seconds one call may take; on expiry the server is stopped, a
        :class:`ClrpError` raised and the next call starts a new server.
    max_memory : str, optional
        clrp's memory budget, e.g. ``"8G"``.

    Raises
    ------
    ClrpError
        With clrp's message when the model or the options cannot be read.

    Examples
    --------
    >>> with clrp.Explainer("model.onnx") as explainer:
    ...     maps = explainer.explain("cat.jpg", method="clrp2", targets=[281, 285])
    >>> maps.shape
    (2, 3, 224, 224)
    """

    def __init__(self, model, rules=None, preprocess="imagenet", *, labels=None, timeout=None, max_memory=None):
        self.model = os.fspath(model)
        arguments = [self.model, "--preprocess", os.fspath(preprocess)]
        if rules is not None:
            arguments += ["--rules", os.fspath(rules)]
        if labels is not None:
            arguments += ["--labels", os.fspath(labels)]
        if max_memory is not None:
            arguments += ["--max-memory", str(max_memory)]
        self.rules = rules
        self.preprocess = preprocess
        self._temporary = None
        self._server = ServerProcess(arguments, timeout=timeout)
        info, _ = self._server.request({"op": "version"})
        #: The model's input shape for one image, batch axis included (e.g. [1, 3, 224, 224]).
        self.input_shape = tuple(info["input_shape"])
        #: Class names, or None.
        self.labels = info.get("labels")
        #: The clrp binary's version.
        self.version = info["version"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def close(self):
        """Stop the server process (and remove a model exported by :func:`from_torch`)."""
        self._server.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    @property
    def timeout(self):
        """Seconds one call may take (None: no limit); settable."""
        return self._server.timeout

    @timeout.setter
    def timeout(self, seconds):
        self._server.timeout = seconds

    @property
    def pid(self):
        """The process id of the running ``clrp serve``, or None."""
        return self._server.pid

    def classify(self, x, top=5):
        """Run the forward pass.

        Parameters
        ----------
        x : numpy.ndarray or str or os.PathLike or list
            One image ``[C, H, W]`` or a batch ``[N, C, H, W]`` (the model's
            layout, preprocessed, float32), or an image file (preprocessed as
            ``preprocess`` says), or a list of image files.
        top : int
            How many classes to list per image.

        Returns
        -------
        Classification
        """
        fields, arrays, batched = self._input(x)
        header, out = self._server.request(dict(fields, op="classify", top=int(top)), arrays)
        tops = [[Prediction(p["class"], p.get("label"), p["logit"], p["probability"]) for p in image] for image in header["top"]]
        logits = out["logits"]
        return Classification(logits, tops) if batched else Classification(logits[0], tops[0])

    def explain(self, x, method="clrp2", targets=None, top=None, neuron=None, *, rules=None,
                dual="uniform", normalize="none", return_info=False):
        """Explain classes or neurons: relevance maps shaped like the input.

        Parameters
        ----------
        x : numpy.ndarray or str or os.PathLike or list
            As in :meth:`classify`.
        method : str
            ``lrp``, ``clrp1``, ``clrp2``, ``sglrp``, ``gradient``,
            ``gradient-input``, ``guided-backprop`` or ``deconvnet``.
        targets : int or list of int, optional
            Classes to explain: an int gives one map per image, a list one
            map per class.
        top : int, optional
            Explain the ``top`` highest-scoring classes of each image, highest first.
        neuron : str or list of str, optional
            ``"NODE:INDEX"``, ``"NODE:C,Y,X"`` (one neuron), a list of them, or
            ``"NODE:top:N"`` (the N strongest units of a node).
        rules : str, optional
            Rule preset or YAML file for this call only.
        dual : str
            CLRP1's dual: ``uniform`` (the paper) or ``abs-logits`` (its code).
        normalize : str
            ``none``, or ``sum`` (divide target and dual maps by their sums).
        return_info : bool
            Also return, per image, a list of dicts describing each map
            (target, score, relevance sum, conservation).

        Returns
        -------
        numpy.ndarray
            float32. One image in: ``[C, H, W]`` for a single target (an int
            ``targets``, a single neuron, or neither given: the top class), else
            ``[T, C, H, W]``. A batch in: the same with a leading ``N``.
        info : list
            Only with ``return_info``: per image, a list of dicts.

        Raises
        ------
        ClrpError
            With clrp's message (unknown method, class out of range, input of
            the wrong shape, ...).
        """
        fields, arrays, batched = self._input(x)
        request = dict(fields, op="explain", method=method, dual=dual, normalize=normalize)
        given = [name for name, value in (("targets", targets), ("top", top), ("neuron", neuron)) if value is not None]
        if len(given) > 1:
            raise ClrpError(f"give one of targets, top and neuron, not {' and '.join(given)}")
        single = False
        if targets is not None:
            single = np.ndim(targets) == 0
            request["classes"] = [int(t) for t in np.atleast_1d(targets)]
            if not request["classes"]:
                raise ClrpError("targets is empty: give at least one class")
        elif top is not None:
            request["top"] = int(top)
        elif neuron is not None:
            if isinstance(neuron, str) and ":top:" in neuron:
                request["neurons"] = neuron
            else:
                single = isinstance(neuron, str)
                request["neuron"] = [neuron] if single else list(neuron)
                if not request["neuron"]:
                    raise ClrpError("neuron is empty: give at least one NODE:INDEX")
        else:
            request["top"], single = 1, True
        if rules is not None:
            request["rules"] = os.fspath(rules)
        header, out = self._server.request(request, arrays)
        maps = out["maps"]
        if single:
            maps = maps[:, 0]
        if not batched:
            maps = maps[0]
        if return_info:
            info = header["maps"] if batched else header["maps"][0]
            return maps, info
        return maps

    def verify(self, x, target=None, *, rules=None, tolerance=1e-4):
        """Check that relevance adds up, node by node (``clrp verify``).

        Parameters
        ----------
        x : numpy.ndarray or str or os.PathLike
            One image.
        target : int, optional
            The class to explain (default: the top class).
        rules : str, optional
            Rule preset or YAML file (default: the explainer's, else ``paper``).
        tolerance : float
            Largest relative loss a conserving rule may show at one node.

        Returns
        -------
        Verification
        """
        fields, arrays, _ = self._input(x)
        request = dict(fields, op="verify", tolerance=float(tolerance))
        if target is not None:
            request["class"] = int(target)
        if rules is not None:
            request["rules"] = os.fspath(rules)
        header, _ = self._server.request(request, arrays)
        report = header["report"]
        layers = [LayerSums(layer["node"], layer["op"], layer["rule"], layer["relevance_out"], layer["relevance_in"],
                            layer["ratio"], layer["ratio_to_score"], layer["conserving"], layer["status"], layer["leak"])
                  for layer in report["layers"]]
        return Verification(report["class"], report["score"], report["input_relevance"], report["conserved"],
                            layers, report["failures"], report)

    def heatmap(self, relevance, method=None, *, cmap=None, scale=None):
        """Colour a relevance map as the command line's PNGs, in the layout of ``preprocess``.

        See :func:`clrp.heatmap`.
        """
        from .heatmap import render
        return render(self._server, relevance, method=method, cmap=cmap, scale=scale, layout=None)

    def _input(self, x):
        """The request fields and arrays for an input, and whether it is a batch."""
        if isinstance(x, (str, os.PathLike)):
            return {"image": os.path.abspath(os.fspath(x))}, [], False
        if isinstance(x, (list, tuple)) and x and all(isinstance(p, (str, os.PathLike)) for p in x):
            return {"images": [os.path.abspath(os.fspath(p)) for p in x]}, [], True
        array = np.asarray(x)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ClrpError(f"the input must be a float32 array or an image path, not an array of {array.dtype}")
        array = np.ascontiguousarray(array, dtype=np.float32)
        batched = array.ndim == len(self.input_shape)
        return {}, [("input", array)], batched

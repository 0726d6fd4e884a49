"""The framing of ``clrp serve`` messages (Docs/SERVE.md).

A message is the byte length of a JSON header as ASCII decimal digits, a
newline, the UTF-8 JSON object, then the arrays its ``"arrays"`` list names,
each the complete bytes of a ``.npy`` file of the given size, back to back.
"""

import io
import json

import numpy as np

from .errors import ClrpError


def encode_array(array):
    """Return the bytes of ``array`` as a ``.npy`` file (format 1.0, no pickles)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), version=(1, 0), allow_pickle=False)
    return buffer.getvalue()


def decode_array(blob, name):
    """Return the array stored in the ``.npy`` bytes ``blob``."""
    try:
        return np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ClrpError(f"clrp serve sent an unreadable array '{name}': {error}") from None


def encode_message(header, arrays=()):
    """Return the bytes of one message.

    Parameters
    ----------
    header : dict
        JSON-serializable fields; ``"arrays"`` is filled in here.
    arrays : sequence of (str, numpy.ndarray)
        Named arrays, sent in this order.
    """
    blobs = [(name, encode_array(array)) for name, array in arrays]
    header = dict(header, arrays=[{"name": name, "bytes": len(blob)} for name, blob in blobs])
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return b"".join([str(len(text)).encode("ascii"), b"\n", text] + [blob for _, blob in blobs])


def read_message(read_exactly, read_line):
    """Read one message with the given byte readers.

    Parameters
    ----------
    read_exactly : callable
        ``read_exactly(n)`` returns exactly ``n`` bytes.
    read_line : callable
        ``read_line()`` returns the bytes up to and without the next newline.

    Returns
    -------
    header : dict
    arrays : dict of str to numpy.ndarray
    """
    line = read_line()
    try:
        length = int(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ClrpError(f"clrp serve sent a malformed length line: {line[:40]!r}") from None
    try:
        header = json.loads(read_exactly(length).decode("utf-8"))
    except ValueError as error:
        raise ClrpError(f"clrp serve sent a malformed header: {error}") from None
    arrays = {}
    for entry in header.get("arrays", []):
        arrays[entry["name"]] = decode_array(read_exactly(entry["bytes"]), entry["name"])
    return header, arrays

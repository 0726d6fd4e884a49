"""Where the ``clrp`` executable is."""

import os
import shutil
from pathlib import Path

from .errors import ClrpError

#: The executable the wheel carries, inside the installed package.
BUNDLED = Path(__file__).resolve().parent / "_bin" / "clrp"


def find_binary():
    """Return the path of the ``clrp`` executable to run.

    Looked up in this order: the ``CLRP_BINARY`` environment variable, the copy
    inside the wheel (``clrp/_bin/clrp``), ``clrp`` on ``PATH``.

    Returns
    -------
    str
        An absolute path to an executable file.

    Raises
    ------
    ClrpError
        If ``CLRP_BINARY`` names no executable file, or no binary is found.
    """
    given = os.environ.get("CLRP_BINARY")
    if given:
        path = Path(given).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ClrpError(f"CLRP_BINARY={given}: no such executable file")
        return str(path.resolve())
    if BUNDLED.is_file():
        if not os.access(BUNDLED, os.X_OK):
            # Some unpackers drop the executable bit the wheel records.
            try:
                BUNDLED.chmod(BUNDLED.stat().st_mode | 0o111)
            except OSError as error:
                raise ClrpError(f"{BUNDLED} is not executable and cannot be made so: {error}") from None
        return str(BUNDLED)
    on_path = shutil.which("clrp")
    if on_path:
        return on_path
    raise ClrpError(
        "no clrp binary found: set CLRP_BINARY to its path, install the clrp wheel "
        "(which carries one in clrp/_bin/clrp), or put clrp on PATH")

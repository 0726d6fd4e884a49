"""The one exception type of the package."""


class ClrpError(RuntimeError):
    """A failure reported by clrp, or by the package while talking to it.

    The message is clrp's own (the file, the node and what is wrong, as the
    command line prints it after ``error:``), or says why the ``clrp serve``
    process could not be started or stopped answering.
    """

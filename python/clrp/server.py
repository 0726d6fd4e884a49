"""One ``clrp serve`` process and the requests sent to it."""

import collections
import logging
import os
import selectors
import subprocess
import threading
import time

from .binary import find_binary
from .errors import ClrpError
from .protocol import encode_message, read_message

log = logging.getLogger("clrp")


class _Died(ClrpError):
    """The server process ended before answering."""


class ServerProcess:
    """A ``clrp serve`` child process, started on first use and restarted after it died.

    Parameters
    ----------
    arguments : list of str
        What follows ``clrp serve`` on its command line (model, options).
    timeout : float or None
        Seconds to wait for one response; on expiry the process is killed, a
        :class:`ClrpError` raised, and the next request starts a new process.
    """

    #: Lines of the process's stderr kept for error messages.
    STDERR_LINES = 200

    def __init__(self, arguments, timeout=None):
        self.arguments = list(arguments)
        self.timeout = timeout
        self._process = None
        self._buffer = bytearray()
        self._stderr = collections.deque(maxlen=self.STDERR_LINES)
        self._stderr_thread = None
        self._lock = threading.Lock()

    @property
    def pid(self):
        """The process id of the running server, or None."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def request(self, header, arrays=()):
        """Send one request and return its response.

        Returns
        -------
        header : dict
        arrays : dict of str to numpy.ndarray

        Raises
        ------
        ClrpError
            With clrp's message when the response says ``"ok": false``, or when
            the process cannot be started, dies or does not answer in time.
        """
        message = encode_message(header, arrays)
        with self._lock:
            fresh = self._process is None or self._process.poll() is not None
            if fresh:
                self._start()
            try:
                response, arrays = self._exchange(message)
            except _Died:
                if fresh:
                    raise
                # The process died since the last call (killed, crashed): start one and ask again.
                self._start()
                response, arrays = self._exchange(message)
        if not response.get("ok"):
            raise ClrpError(response.get("error", "clrp serve failed without a message"))
        return response, arrays

    def _exchange(self, message):
        """Write one request, read its response; `_Died` if the process ends first."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            self._process.stdin.write(message)
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None
        response = read_message(lambda n: self._read_exactly(n, deadline), lambda: self._read_line(deadline))
        # Errors of answered requests are in their responses; keep later messages apart.
        self._stderr.clear()
        return response

    def close(self):
        """End the process: close its input (it exits between requests), then wait for it."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            try:
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
            if self._stderr_thread is not None:
                self._stderr_thread.join(timeout=5)

    def _start(self):
        if self._process is not None:
            log.warning("clrp serve (pid %d) had exited with status %s; starting a new one",
                        self._process.pid, self._process.returncode)
            self._process.stdout.close()
        binary = find_binary()
        self._buffer = bytearray()
        self._stderr.clear()
        try:
            self._process = subprocess.Popen([binary, "serve", *self.arguments], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        except OSError as error:
            raise ClrpError(f"cannot start {binary}: {error}") from None
        self._stderr_thread = threading.Thread(target=self._drain_stderr, args=(self._process.stderr,), daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self, stream):
        # The server's notes and errors; kept for messages, passed on to logging.
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr.append(line)
            log.debug("clrp serve: %s", line)
        stream.close()

    def _died(self):
        """The error for a process that stopped answering: its exit status and last errors."""
        process = self._process
        try:
            status = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        errors = [line[len("error: "):] for line in self._stderr if line.startswith("error: ")]
        if errors and status == 1:  # clrp's own failure (e.g. the model cannot be read)
            return _Died(errors[-1])
        tail = "; ".join(list(self._stderr)[-5:])
        return _Died(f"clrp serve exited with status {status}" + (f": {tail}" if tail else "")
                         + " (the next call starts a new one)")

    def _fill(self, deadline):
        fd = self._process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not selector.select(left):
                self._process.kill()
                self._process.wait()
                raise ClrpError(f"clrp serve did not answer within {self.timeout} s; it was stopped "
                                "(the next call starts a new one)")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise self._died()
        self._buffer += chunk

    def _read_exactly(self, count, deadline):
        while len(self._buffer) < count:
            self._fill(deadline)
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _read_line(self, deadline):
        while b"\n" not in self._buffer:
            self._fill(deadline)
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        return line

"""Native libraries' own output (MediaPipe, FFmpeg, OpenCV) kept off the terminal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence MediaPipe's C++ start-up chatter (on fds 1 and 2, some of it C-buffered) so --json stays clean."""
    import ctypes
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real stdio (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        try:
            ctypes.CDLL(None).fflush(None)  # push C stdio buffers into /dev/null, not into our output
        except (OSError, AttributeError):
            pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)

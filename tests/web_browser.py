"""Helpers for the browser tests: an exported site behind a local static server, and headless Chromium.

Chromium is Debian's ``chromium`` package driven by Playwright (``executable_path``; Playwright's own
browser download is never used). Without a browser the tests skip locally with a one-line reason and
fail in CI (the ``CI`` environment variable), where ``make test`` installs it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("POSENET_CLS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> str:
    """The Chromium executable; skip (locally) or fail (CI) when it or Playwright is missing."""
    problem = None
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set POSENET_CLS_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need a browser in CI: {problem}")
        pytest.skip(problem)
    return CHROMIUM


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the tests read no access log
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A browser closed mid-download (the test is over) is no error; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """``python -m http.server``'s handler on ``root`` at a free local port; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def driver() -> Iterator[object]:
    """Playwright's driver; one at a time per process (its sync API runs an event loop), browsers come from it."""
    from playwright.sync_api import sync_playwright

    require_browser()
    with sync_playwright() as p:
        yield p


@contextmanager
def browser(playwright, extra_args: tuple[str, ...] = ()) -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``) with the flags known to work on this machine."""
    b = playwright.chromium.launch(executable_path=require_browser(), args=FLAGS + list(extra_args), headless=True)
    try:
        yield b
    finally:
        b.close()


def video_to_y4m(video: Path, out: Path, width: int = 640) -> Path:
    """An example clip as raw YUV4MPEG2 (what Chromium's fake camera reads), scaled to ``width`` px wide."""
    import av

    with av.open(str(video)) as container, open(out, "wb") as f:
        stream = container.streams.video[0]
        rate = stream.average_rate or 30
        height = None
        for frame in container.decode(stream):
            if height is None:
                height = round(frame.height * width / frame.width / 2) * 2
                header = f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
                f.write(header.encode())
            f.write(b"FRAME\n" + frame.reformat(width, height, format="yuv420p").to_ndarray().tobytes())
    return out

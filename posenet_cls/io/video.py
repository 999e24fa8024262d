"""Videos in: frames of a video file or a webcam as RGB uint8, decoded ahead on a thread of their own."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.io.native import quiet_native_output

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"})
READ_AHEAD = 4  # decoded frames a VideoReader keeps ready: decoding overlaps BlazePose on another core


def is_video(path: str | Path) -> bool:
    """Whether a path names a video file (by suffix: a video container is not sniffed like a photo)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


class VideoReader:
    """Frames of a video file or webcam as RGB uint8 with their index and timestamp in seconds."""

    def __init__(self, source: str | Path | int):
        import cv2

        self.source = source
        self.is_webcam = isinstance(source, int)
        if not self.is_webcam and not Path(source).is_file():
            raise PosenetError(f"{source}: no such video file")
        if not self.is_webcam and Path(source).stat().st_size == 0:
            raise PosenetError(f"{source}: cannot open as a video (the file is empty)")
        with quiet_native_output():  # FFmpeg and OpenCV print their own reasons on fd 2; ours follows
            self._cap = cv2.VideoCapture(source if self.is_webcam else str(source))
        if not self._cap.isOpened():
            what = f"webcam {source}: no camera with that index" if self.is_webcam else f"{source}: cannot open as a video"
            raise PosenetError(what)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 30.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and not self.is_webcam else None
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index, seconds, RGB frame) in order, decoded ``READ_AHEAD`` frames ahead on a thread of its own.

        OpenCV decodes with the GIL released, so the next frames decode while BlazePose works on this one.
        """
        import queue
        import threading

        frames: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
        stop = threading.Event()
        reader = threading.Thread(target=self._read, args=(frames, stop), name="video-read", daemon=True)
        reader.start()
        index = 0
        try:
            while (item := frames.get()) is not None:
                yield item
                index += 1
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    frames.get_nowait()
                reader.join(0.01)
        if index == 0:
            what = f"webcam {self.source}" if self.is_webcam else str(self.source)
            raise PosenetError(f"{what}: no frames could be read (empty or corrupt video)")

    def _read(self, frames, stop) -> None:
        """Decode frames into the queue until the video ends or ``stop`` is set; None marks the end.

        A full queue blocks ``put``; a consumer that stops drains the queue until this thread ends.
        """
        import cv2

        start = time.monotonic()
        index = 0
        try:
            while not stop.is_set():
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    break
                t = time.monotonic() - start if self.is_webcam else index / self.fps
                frames.put((index, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                index += 1
        finally:
            frames.put(None)

    def close(self) -> None:
        """Release the capture."""
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

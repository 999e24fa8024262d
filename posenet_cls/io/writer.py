"""Annotated videos that play in a browser: H.264 (yuv420p, faststart) MP4 through PyAV's FFmpeg.

Encoding runs on a background thread so it overlaps BlazePose on the next frame. The file is
written under a temporary name and moved into place by :meth:`VideoWriter.close`, so an
interrupted run leaves no half-written video.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError


class VideoWriter:
    """Writes RGB uint8 frames of one size to an H.264 MP4 at ``fps``."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int):
        try:
            import av
        except ImportError:
            raise PosenetError(
                "writing videos needs PyAV for H.264, a dependency of posenet-cls: pip install av==18.1.0 (or pass --no-annotate)"
            ) from None
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise PosenetError(f"{self.path}: annotated videos are written as .mp4 (H.264)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".part.mp4")
        from fractions import Fraction

        self._container = av.open(str(self._tmp), mode="w", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "ultrafast", "crf": "23"}
        self._stream.codec_context.thread_count = 1  # one core encodes while BlazePose keeps the other
        self._av = av
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="posenet-video-writer", daemon=True)
        self._thread.start()

    def write(self, rgb: np.ndarray) -> None:
        """Queue one RGB frame for encoding."""
        if self._error is not None:
            raise PosenetError(f"{self.path}: video encoding failed ({self._error})")
        self._queue.put(rgb)

    def _encode_loop(self) -> None:
        import cv2

        w, h = self._stream.width, self._stream.height
        try:
            while (rgb := self._queue.get()) is not None:
                # OpenCV converts to I420 twice as fast as FFmpeg's swscale, and without holding the GIL.
                yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420)
                frame = self._av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            for packet in self._stream.encode():
                self._container.mux(packet)
        except Exception as e:  # surfaced on the next write() or close()
            self._error = e
            while self._queue.get() is not None:  # drain so write() never blocks
                pass

    def close(self, keep: bool = True) -> Path | None:
        """Finish the file and move it into place (``keep=False`` discards it); returns the path kept."""
        self._queue.put(None)
        self._thread.join()
        self._container.close()
        if keep and self._error is None:
            os.replace(self._tmp, self.path)
            return self.path
        self._tmp.unlink(missing_ok=True)
        if keep:
            raise PosenetError(f"{self.path}: video encoding failed ({self._error})")
        return None

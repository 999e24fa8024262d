"""BlazePose extraction: photo -> one pose, video or webcam -> a pose per frame, with either backend.

Poses are float32 ``(33, 4)`` arrays in the layout of :mod:`posenet_cls.schema`. The one backend
switch (:func:`make_extractor`, :class:`PoseOptions`) lives here; MediaPipe and onnxruntime are
imported only when an extractor is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from posenet_cls.errors import PosenetError
from posenet_cls.io.images import load_image
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.common import FramePose, PhotoPose, check_attempts
from posenet_cls.pose.mediapipe_backend import PoseExtractor

BACKENDS = ("mediapipe", "onnx")


def check_backend(backend: str, model: str) -> None:
    """Refuse an unknown extraction backend, or a BlazePose model the onnx backend does not run."""
    if backend not in BACKENDS:
        raise PosenetError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "onnx" and model != "full":
        raise PosenetError(f"--backend onnx runs BlazePose full only (converted from the mediapipe wheel), not '{model}'")


@dataclass(frozen=True)
class PoseOptions:
    """How BlazePose runs: the backend and model, the detection threshold, tracking or static mode, and
    for the onnx backend the device, images per network call, the networks' folder and CPU threads.

    Picklable: called with no arguments it builds the extractor, so worker processes and Ray actors
    are handed the options, not an extractor.
    """

    backend: str = "mediapipe"
    model: str = "full"
    min_confidence: float = 0.5
    tracking: bool = False
    device: str = "auto"
    batch: int = 16
    model_dir: str | None = None  # default: posenet_cls.pose.blazepose.files.default_dir()
    threads: int | None = None
    attempts: tuple[str, ...] | None = None  # a photo's attempts (default: pose.common.ATTEMPTS)

    def check(self) -> None:
        """Refuse a backend, model or photo attempt that cannot run, before anything is built."""
        check_backend(self.backend, self.model)
        check_attempts(self.attempts or ())

    def __call__(self):
        return make_extractor(self)


def make_extractor(options: PoseOptions = PoseOptions()):
    """The one backend switch: MediaPipe's :class:`PoseExtractor` or, with backend onnx, the onnxruntime one.

    Both have ``photo``, ``frame``, ``reset`` and ``close``; the onnx one also ``photos`` (batched).
    """
    options.check()
    if options.backend == "onnx":
        try:
            from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor
        except ImportError as e:
            raise PosenetError(f"the onnx backend is not available here ({e})") from None
        return OnnxPoseExtractor(options.model_dir, device=options.device, batch=options.batch,
                                 tracking=options.tracking, min_confidence=options.min_confidence,
                                 threads=options.threads, attempts=options.attempts)
    return PoseExtractor(options.model, tracking=options.tracking, min_confidence=options.min_confidence,
                         attempts=options.attempts)


def extract_photo(path: str | Path, model: str = "full", backend: str = "mediapipe", device: str = "auto") -> PhotoPose:
    """The pose in one photo file (``keypoints`` None when no person is found)."""
    rgb = load_image(path)
    with make_extractor(PoseOptions(backend, model, device=device)) as extractor:
        return extractor.photo(rgb)


def extract_video(source: str | Path | int, model: str = "full", min_confidence: float = 0.5,
                  backend: str = "mediapipe", device: str = "auto") -> Iterator[FramePose]:
    """Poses per frame of a video file or webcam index, in BlazePose's tracking mode."""
    options = PoseOptions(backend, model, min_confidence, tracking=True, device=device)
    with VideoReader(source) as video, make_extractor(options) as ext:
        for index, t, rgb in video:
            found = ext.frame(rgb, t)
            keypoints, world = found if found is not None else (None, None)
            yield FramePose(index, t, keypoints, world)

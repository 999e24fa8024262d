"""BlazePose extraction: photo -> its people, video or webcam -> the people of each frame, with either backend.

Poses are float32 ``(33, 4)`` arrays in the layout of :mod:`posenet_cls.schema`. One person is the
``max_people=1`` case of several. The one backend switch (:func:`make_extractor`, :class:`PoseOptions`,
which also decides that several people need the onnx backend) lives here; MediaPipe and onnxruntime are
imported only when an extractor is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.io.images import load_image
from posenet_cls.io.video import VideoReader
from posenet_cls.pose.common import FramePose, check_attempts
from posenet_cls.pose.mediapipe_backend import PoseExtractor
from posenet_cls.pose.people import Person, make_tracker

BACKENDS = ("mediapipe", "onnx")


def check_backend(backend: str, model: str) -> None:
    """Refuse an unknown extraction backend, or a BlazePose model the onnx backend does not run."""
    if backend not in BACKENDS:
        raise PosenetError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "onnx" and model != "full":
        raise PosenetError(f"--backend onnx runs BlazePose full only (converted from the mediapipe wheel), not '{model}'")


@dataclass(frozen=True)
class PoseOptions:
    """How BlazePose runs: the backend and model, the detection threshold, tracking or static mode, how many
    people, and for the onnx backend the device, images per network call, the networks' folder and CPU threads.

    ``max_people`` > 1 needs the onnx backend (MediaPipe's solution finds one person): the default
    backend becomes ``onnx`` then, here and nowhere else. Picklable: called with no arguments it builds
    the extractor, so worker processes and Ray actors are handed the options, not an extractor.
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
    max_people: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.max_people, bool) or not isinstance(self.max_people, int) or self.max_people < 1:
            raise PosenetError(f"max_people must be a whole number >= 1, got {self.max_people!r}")
        if self.max_people > 1 and self.backend == "mediapipe":
            object.__setattr__(self, "backend", "onnx")

    @property
    def several(self) -> bool:
        """More than one person per photo or frame."""
        return self.max_people > 1

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


def extract_photo(path: str | Path, options: PoseOptions = PoseOptions()) -> list[Person]:
    """The people in one photo file, the largest first (one at most with ``max_people`` 1); [] when none is found."""
    rgb = load_image(path)
    with make_extractor(replace(options, tracking=False)) as extractor:
        return make_tracker(extractor, options.max_people).photo(rgb)


@dataclass
class FramePeople:
    """The people tracked in one frame (by ID), the IDs that may come back, and the frame itself (RGB)."""

    frame: int
    timestamp_s: float
    people: list[Person]
    alive: set[int]
    rgb: np.ndarray = field(repr=False)


class TrackedVideo:
    """The people of every frame of a video file or webcam index, tracked: a context manager to iterate for
    :class:`FramePeople`; ``fps``, ``frame_count`` and ``is_webcam`` come from the reader."""

    def __init__(self, source: str | Path | int, options: PoseOptions = PoseOptions()):
        self.source, self.options = source, replace(options, tracking=True)
        self.options.check()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> TrackedVideo:
        with self._stack as stack:
            self.video = stack.enter_context(VideoReader(self.source))
            self.tracker = make_tracker(stack.enter_context(make_extractor(self.options)), self.options.max_people)
            self._stack = stack.pop_all()
        self.fps, self.frame_count, self.is_webcam = self.video.fps, self.video.frame_count, self.video.is_webcam
        return self

    def __iter__(self) -> Iterator[FramePeople]:
        for index, t, rgb in self.video:
            people = self.tracker.frame(rgb, t)
            yield FramePeople(index, t, people, self.tracker.alive_ids, rgb)

    def __exit__(self, *exc) -> None:
        self._stack.close()


def extract_video(source: str | Path | int, options: PoseOptions = PoseOptions()) -> Iterator[FramePose]:
    """One person's pose per frame of a video file or webcam index, in BlazePose's tracking mode."""
    with TrackedVideo(source, replace(options, max_people=1)) as video:
        for f in video:
            person = f.people[0] if f.people else None
            yield FramePose(f.frame, f.timestamp_s, None if person is None else person.keypoints,
                            None if person is None else person.world)

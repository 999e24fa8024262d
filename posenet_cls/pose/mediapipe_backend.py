"""BlazePose through MediaPipe: its solution API (the built-in models) or its Tasks API (a .task file).

MediaPipe is imported only here, and only when an extractor is built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.io.native import quiet_native_output
from posenet_cls.pose.common import PhotoPose, check_rgb, is_scene_cut, photos_with_retries
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS

BUILTIN_MODELS = {"lite": 0, "full": 1, "heavy": 2}


def _landmarks_to_array(landmarks) -> np.ndarray:
    """MediaPipe landmark list -> float32 (33, 4)."""
    return np.array(
        [(lm.x, lm.y, lm.z, getattr(lm, "visibility", 1.0) or 0.0) for lm in landmarks], dtype=np.float32
    ).reshape(NUM_LANDMARKS, NUM_CHANNELS)


def _world_to_array(landmarks) -> np.ndarray:
    return np.array([(lm.x, lm.y, lm.z) for lm in landmarks], dtype=np.float32).reshape(NUM_LANDMARKS, 3)


def resolve_model(model: str) -> tuple[str, str]:
    """Check a model choice before loading: ('builtin', name) or ('task', path); missing files raise."""
    import mediapipe as mp

    if model in BUILTIN_MODELS:
        tflite = Path(mp.__file__).parent / "modules" / "pose_landmark" / f"pose_landmark_{model}.tflite"
        if not tflite.is_file():
            raise PosenetError(
                f"BlazePose {model} model not found at {tflite}: mediapipe ships only 'full'; "
                f"download pose_landmarker_{model}.task yourself and pass its path (nothing is downloaded at run time)"
            )
        return "builtin", model
    path = Path(model)
    if path.suffix != ".task":
        raise PosenetError(f"{model}: unknown pose model; use full, lite, heavy or a path to a .task file")
    if not path.is_file():
        raise PosenetError(f"{model}: pose model file not found (nothing is downloaded at run time)")
    return "task", str(path)


class _SolutionBackend:
    """``mediapipe.solutions.pose`` with a built-in model."""

    def __init__(self, model: str, static: bool, min_confidence: float):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static,
            model_complexity=BUILTIN_MODELS[model],
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def process(self, rgb: np.ndarray, timestamp_ms: int) -> tuple[np.ndarray, np.ndarray] | None:
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        world = result.pose_world_landmarks
        return _landmarks_to_array(result.pose_landmarks.landmark), (
            _world_to_array(world.landmark) if world is not None else None
        )

    def close(self) -> None:
        self._pose.close()


class _TaskBackend:
    """MediaPipe Tasks ``PoseLandmarker`` with a user-supplied .task file."""

    def __init__(self, path: str, static: bool, min_confidence: float):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self._static = static
        mode = vision.RunningMode.IMAGE if static else vision.RunningMode.VIDEO
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=path),
            running_mode=mode,
            num_poses=1,
            min_pose_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        try:
            self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as e:
            raise PosenetError(f"{path}: not a usable pose landmarker .task file ({str(e).splitlines()[0]})") from None

    def process(self, rgb: np.ndarray, timestamp_ms: int) -> tuple[np.ndarray, np.ndarray] | None:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if self._static:
            result = self._landmarker.detect(image)
        else:
            result = self._landmarker.detect_for_video(image, timestamp_ms)
        if not result.pose_landmarks:
            return None
        world = result.pose_world_landmarks[0] if result.pose_world_landmarks else None
        return _landmarks_to_array(result.pose_landmarks[0]), (
            _world_to_array(world) if world is not None else None
        )

    def close(self) -> None:
        self._landmarker.close()


class PoseExtractor:
    """BlazePose for photos (static mode, with retries) or a frame sequence (tracking mode).

    ``model`` is ``full`` (ships in the mediapipe wheel, the default), ``lite``/``heavy`` (when
    their files are present) or the path of a MediaPipe ``.task`` file.
    """

    def __init__(
        self,
        model: str = "full",
        tracking: bool = False,
        min_confidence: float = 0.5,
        retries: bool = True,
        attempts: tuple[str, ...] | None = None,
    ):
        kind, value = resolve_model(model)
        backend = _SolutionBackend if kind == "builtin" else _TaskBackend
        self._new_backend = lambda: backend(value, static=not tracking, min_confidence=min_confidence)
        self.tracking = tracking
        self.retries = retries and not tracking
        self.attempts = attempts  # a photo's attempts when a call names none (None: common.ATTEMPTS)
        self._last_thumb: np.ndarray | None = None
        self._backend = self._start()

    def _start(self):
        """A new backend, run once on a blank frame so its graph has opened (and logged) while output is quiet.

        MediaPipe opens calculators on its own threads; without the warm-up their start-up lines
        could land on stdout in the middle of --json output.
        """
        with quiet_native_output():
            backend = self._new_backend()
            backend.process(np.zeros((64, 64, 3), np.uint8), 0)
        self._last_ms = 0
        self._seen_person = False
        return backend

    def _process(self, rgb: np.ndarray, timestamp_ms: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        if self._seen_person:
            return self._backend.process(rgb, timestamp_ms)
        with quiet_native_output():  # the landmark calculators log their configuration when they first run
            found = self._backend.process(rgb, timestamp_ms)
        self._seen_person = found is not None
        return found

    def __enter__(self) -> PoseExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release MediaPipe's graph."""
        with quiet_native_output():
            self._backend.close()

    def photo(self, rgb: np.ndarray, attempts: tuple[str, ...] | None = None) -> PhotoPose:
        """The pose in an RGB uint8 photo, trying padded and mirrored copies when the plain call finds none."""
        return photos_with_retries([rgb], lambda images: [self._process(image, 0) for image in images],
                                   self.attempts if attempts is None else attempts, self.retries)[0]

    def frame(self, rgb: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Track the pose in the next frame of a sequence; None when no person is tracked."""
        check_rgb(rgb)
        cut, self._last_thumb = is_scene_cut(self._last_thumb, rgb)
        if cut:
            self.reset()
        ms = max(int(round(timestamp_s * 1000)), self._last_ms + 1)  # the Tasks API needs increasing stamps
        self._last_ms = ms
        return self._process(rgb, ms)

    def reset(self) -> None:
        """Forget the tracked person: the next frame is searched from scratch by the detector."""
        with quiet_native_output():
            self._backend.close()
        self._backend = self._start()

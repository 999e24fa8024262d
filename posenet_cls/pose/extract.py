"""BlazePose extraction: photo -> one pose, video or webcam -> a pose per frame.

Poses are float32 ``(33, 4)`` arrays in the layout of :mod:`posenet_cls.schema`. MediaPipe is
imported only here, and only when an extractor is built.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, mirror_keypoints, mirror_world

MAX_SIDE = 2048  # BlazePose looks at 224/256 px crops; larger photos only cost decode time
MAX_PIXELS = 600_000_000  # refuse decompression bombs, but accept real panoramas and scans
PAD_MARGIN = 0.1  # measured on yoga8: a 10% margin rescues more photos than 25% or 50%
BUILTIN_MODELS = {"lite": 0, "full": 1, "heavy": 2}
ATTEMPTS: tuple[str, ...] = ("plain", "pad", "mirror", "pad+mirror")
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"})
READ_AHEAD = 4  # decoded frames a VideoReader keeps ready: decoding overlaps BlazePose on another core
CUT_THRESHOLD = 25.0  # mean grey-level change of a 32x32 thumbnail; camera motion stays far below


@dataclass
class PhotoPose:
    """The pose found in a photo (``keypoints`` is None when no person was found) and which attempt found it."""

    keypoints: np.ndarray | None
    attempt: str
    world: np.ndarray | None = None  # (33, 3) metres, hip-centred, when the backend gives them


@dataclass
class FramePose:
    """A video frame's pose: ``keypoints`` (33, 4) or None when no person is tracked."""

    frame: int
    timestamp_s: float
    keypoints: np.ndarray | None
    world: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def decode_image(data: bytes, name: str = "<bytes>", max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode image bytes by content (JPEG, PNG, WebP, AVIF, ...) into RGB uint8 (H, W, 3), upright per EXIF."""
    if data[:3] == b"\xff\xd8\xff":  # JPEG, most photos: OpenCV decodes it faster and applies EXIF orientation
        rgb = _decode_jpeg_cv2(data, max_side)
        if rgb is not None:
            return rgb
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (max_side, max_side))  # JPEG only: decode at a reduced scale, cheaply
        img = ImageOps.exif_transpose(img)
        img.load()
    except Image.DecompressionBombError:
        raise PosenetError(f"{name}: image too large (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except Exception as e:  # Pillow raises many types for damaged files
        reason = "not an image file" if isinstance(e, Image.UnidentifiedImageError) else f"unreadable image ({e})"
        raise PosenetError(f"{name}: {reason}") from None
    if img.width == 0 or img.height == 0:
        raise PosenetError(f"{name}: empty image")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return _to_rgb(img)


def _decode_jpeg_cv2(data: bytes, max_side: int) -> np.ndarray | None:
    """OpenCV's JPEG decoder (upright per EXIF), downscaled to ``max_side``; None to fall back to Pillow."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        return None
    h, w = bgr.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_rgb(img) -> np.ndarray:
    """Pillow image of any mode (16-bit, float, palette, alpha) -> RGB uint8, transparency on white."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB")))


def load_image(path: str | Path) -> np.ndarray:
    """Read a photo file into RGB uint8 (H, W, 3); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PosenetError(f"{path}: cannot read file ({e.strerror or e})") from None
    return decode_image(data, str(path))


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


# ---------------------------------------------------------------------------------------------
# Backends: MediaPipe's solution API (built-in models) or its Tasks API (a .task file)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Retries for photos: transforms of the image, and the inverse map of the landmarks
# ---------------------------------------------------------------------------------------------


def pad_to_square(rgb: np.ndarray, margin: float = PAD_MARGIN) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Centre the photo on a black square ``margin`` larger on each side; returns (image, (side, x0, y0))."""
    h, w = rgb.shape[:2]
    side = int(round(max(h, w) * (1 + 2 * margin)))
    y0, x0 = (side - h) // 2, (side - w) // 2
    out = np.zeros((side, side, 3), dtype=rgb.dtype)
    out[y0 : y0 + h, x0 : x0 + w] = rgb
    return out, (side, x0, y0)


def unpad_landmarks(keypoints: np.ndarray, frame: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """Map landmarks found on :func:`pad_to_square`'s output back to the original photo's frame."""
    side, x0, y0 = frame
    h, w = shape
    out = keypoints.copy()
    out[..., 0] = (keypoints[..., 0] * side - x0) / w
    out[..., 1] = (keypoints[..., 1] * side - y0) / h
    out[..., 2] = keypoints[..., 2] * side / w  # z is on the scale of x
    return out


# ---------------------------------------------------------------------------------------------
# Extractors
# ---------------------------------------------------------------------------------------------


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
    ):
        kind, value = resolve_model(model)
        backend = _SolutionBackend if kind == "builtin" else _TaskBackend
        self._new_backend = lambda: backend(value, static=not tracking, min_confidence=min_confidence)
        self.tracking = tracking
        self.retries = retries and not tracking
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
        _check_rgb(rgb)
        h, w = rgb.shape[:2]
        if attempts is None:
            attempts = ATTEMPTS if self.retries else ATTEMPTS[:1]
        unknown = set(attempts) - set(ATTEMPTS)
        if unknown:
            raise PosenetError(f"unknown extraction attempt {sorted(unknown)[0]!r}; choose from {', '.join(ATTEMPTS)}")
        for attempt in attempts:
            image, frame = (pad_to_square(rgb) if "pad" in attempt else (rgb, None))
            mirrored = "mirror" in attempt
            found = self._process(np.ascontiguousarray(image[:, ::-1]) if mirrored else image, 0)
            if found is None:
                continue
            keypoints, world = found
            if mirrored:
                keypoints = mirror_keypoints(keypoints)  # a mirror's mirror is the original frame
                world = mirror_world(world) if world is not None else None
            if frame is not None:
                keypoints = unpad_landmarks(keypoints, frame, (h, w))
            return PhotoPose(keypoints.astype(np.float32), attempt, world)
        return PhotoPose(None, "")

    def frame(self, rgb: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Track the pose in the next frame of a sequence; None when no person is tracked."""
        _check_rgb(rgb)
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


def is_scene_cut(previous_thumb: np.ndarray | None, rgb: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether RGB frame ``rgb`` is a scene cut after the frame of ``previous_thumb``, and its own thumbnail.

    A cut: the frame differs from the previous one far more than motion does (mean grey-level
    change of a 32x32 thumbnail over :data:`CUT_THRESHOLD`); a tracker would keep fitting the old
    region to the new scene for frames on end. ``previous_thumb`` is None for a first frame (never
    a cut); the thumbnail returned (int16 (32, 32)) is the ``previous_thumb`` of the next frame.
    """
    import cv2

    step = max(1, min(rgb.shape[:2]) // 64)  # subsample first: an area resize of a full frame costs ms
    small = np.ascontiguousarray(rgb[::step, ::step])
    thumb = cv2.resize(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    thumb = thumb.astype(np.int16)
    cut = previous_thumb is not None and float(np.abs(previous_thumb - thumb).mean()) > CUT_THRESHOLD
    return cut, thumb


def _check_rgb(rgb: np.ndarray) -> None:
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        shape = getattr(rgb, "shape", None)
        raise PosenetError(f"expected an RGB uint8 image of shape (H, W, 3), got {shape} {getattr(rgb, 'dtype', '')}")


BACKENDS = ("mediapipe", "onnx")


def check_backend(backend: str, model: str) -> None:
    """Refuse an unknown extraction backend, or a BlazePose model the onnx backend does not run."""
    if backend not in BACKENDS:
        raise PosenetError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "onnx" and model != "full":
        raise PosenetError(f"--backend onnx runs BlazePose full only (converted from the mediapipe wheel), not '{model}'")


def make_extractor(backend: str = "mediapipe", model: str = "full", tracking: bool = False,
                   min_confidence: float = 0.5, device: str = "auto", batch: int = 16,
                   model_dir: str | Path | None = None):
    """A BlazePose extractor: MediaPipe's (:class:`PoseExtractor`) or, with ``backend`` onnx, the onnxruntime one.

    Both have ``photo``, ``frame``, ``reset`` and ``close``; ``device``, ``batch`` and ``model_dir`` (the
    converted networks, default :func:`posenet_cls.pose.blazepose.files.default_dir`) apply to onnx only.
    """
    check_backend(backend, model)
    if backend == "onnx":
        from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

        return OnnxPoseExtractor(model_dir, device=device, batch=batch, tracking=tracking,
                                 min_confidence=min_confidence)
    return PoseExtractor(model, tracking=tracking, min_confidence=min_confidence)


def extract_photo(path: str | Path, model: str = "full", backend: str = "mediapipe", device: str = "auto") -> PhotoPose:
    """The pose in one photo file (``keypoints`` None when no person is found)."""
    rgb = load_image(path)
    with make_extractor(backend, model, device=device) as extractor:
        return extractor.photo(rgb)


# ---------------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------------


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


def extract_video(source: str | Path | int, model: str = "full", min_confidence: float = 0.5,
                  backend: str = "mediapipe", device: str = "auto") -> Iterator[FramePose]:
    """Poses per frame of a video file or webcam index, in BlazePose's tracking mode."""
    with VideoReader(source) as video, make_extractor(backend, model, True, min_confidence, device) as ext:
        for index, t, rgb in video:
            found = ext.frame(rgb, t)
            keypoints, world = found if found is not None else (None, None)
            yield FramePose(index, t, keypoints, world)

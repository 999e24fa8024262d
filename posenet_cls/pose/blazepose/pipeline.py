"""BlazePose (full) without MediaPipe: its two networks on onnxruntime, batched, with MediaPipe's pre/post-processing.

Gives the keypoints of ``mediapipe.solutions.pose`` (model_complexity=1) in static mode (photos,
with :mod:`posenet_cls.pose.extract`'s retries) and in tracking mode (the ROI of the next frame from
this frame's auxiliary landmarks, the detector only when the track is lost, MediaPipe's landmark
smoothing). Imports numpy, OpenCV and onnxruntime only. Poses are float32 ``(33, 4)`` in the
layout of :mod:`posenet_cls.schema`; world landmarks ``(33, 3)`` metres, hip-centred.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.pose.common import PhotoPose, check_rgb, is_scene_cut, photos_with_retries
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS
from posenet_cls.pose.blazepose import anchors as ssd
from posenet_cls.pose.blazepose import geometry as geo

DEVICES = ("auto", "cpu", "cuda")
DETECTOR_OUTPUTS = ("boxes", "scores")
LANDMARK_OUTPUTS = ("landmarks", "presence", "heatmap", "world")
INPUT_NAME = "image"
FRAME_US = 33333  # mediapipe.solutions stamps every process() call 1/30 s after the previous one
STAGES = ("letterbox", "detector", "nms", "crop", "landmark", "refine", "projection", "filter")


class Network(Protocol):
    """What the pipeline needs of a network: onnxruntime's ``InferenceSession.run``."""

    def run(self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]: ...


# ---------------------------------------------------------------------------------------------
# onnxruntime sessions
# ---------------------------------------------------------------------------------------------


def providers_for(device: str) -> list[str]:
    """onnxruntime providers for ``device`` (auto, cpu, cuda); cuda without a CUDA provider raises."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise PosenetError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise PosenetError(f"--device cuda: onnxruntime has no CUDA provider here (available: {', '.join(available)})")
    if device == "cpu" or not has_cuda:
        return ["CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def open_networks(model_dir: str | Path | None, providers: list[str]) -> dict[str, Network]:
    """onnxruntime sessions for the detector and landmark ONNX files in ``model_dir`` (missing files raise).

    One intra-op thread per run: on 2 cores a 1-thread run of either network is as fast per image
    as a 2-thread one and never spins against the other worker, so cores are used by running
    batches side by side (:class:`OnnxPoseExtractor`'s workers) instead.
    """
    import onnxruntime as ort

    from posenet_cls.pose.blazepose import files

    paths = files.require_networks(model_dir)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {}
    for key, path in paths.items():
        try:
            sessions[key] = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable models
            raise PosenetError(f"{path}: not a usable BlazePose ONNX network ({str(e).splitlines()[0]})") from None
    return sessions


# ---------------------------------------------------------------------------------------------
# MediaPipe's temporal filters (PoseLandmarkFiltering), vectorised over landmarks
# ---------------------------------------------------------------------------------------------


class LowPass:
    """MediaPipe's LowPassFilter on an array of values, float32 state; the first value passes through."""

    def __init__(self) -> None:
        self.raw: np.ndarray | None = None
        self.stored: np.ndarray | None = None

    def apply(self, value: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float32)
        if self.stored is None:
            result = value
        else:
            a = np.float32(alpha) if np.isscalar(alpha) else np.asarray(alpha, dtype=np.float32)
            result = (a.astype(np.float64) * value + (1.0 - a.astype(np.float64)) * self.stored).astype(np.float32)
        self.raw, self.stored = value, result
        return result


class OneEuro:
    """MediaPipe's OneEuroFilter on an array of values sharing one clock (timestamps in microseconds)."""

    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float, frequency: float = 30.0):
        self.min_cutoff, self.beta, self.derivate_cutoff = min_cutoff, beta, derivate_cutoff
        self.frequency = frequency
        self.last_ns = 0
        self.x = LowPass()
        self.dx = LowPass()

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        te = 1.0 / self.frequency
        tau = 1.0 / (2 * np.pi * np.asarray(cutoff, dtype=np.float64))
        return 1.0 / (1.0 + tau / te)

    def apply(self, t_us: int, value_scale: float, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, dtype=np.float32)
        t_ns = int(t_us) * 1000
        if self.last_ns >= t_ns:
            return value
        if self.last_ns != 0 and t_ns != 0:
            self.frequency = 1.0 / ((t_ns - self.last_ns) * 1e-9)
        self.last_ns = t_ns
        if self.x.raw is not None:
            dvalue = (value.astype(np.float64) - self.x.raw) * value_scale * self.frequency
        else:
            dvalue = np.zeros(value.shape)
        edvalue = self.dx.apply(dvalue, float(self._alpha(self.derivate_cutoff)))
        cutoff = self.min_cutoff + self.beta * np.abs(edvalue.astype(np.float64))
        return self.x.apply(value, self._alpha(cutoff))


class PoseFilters:
    """PoseLandmarkFiltering with smoothing on: visibility low-pass, one-euro on landmarks, world and auxiliary points.

    As in MediaPipe's graph, the landmark and auxiliary coordinate filters restart when the track is
    lost (they also see the image size each frame); the visibility and world filters only see
    frames with a pose, so they carry on across a gap.
    """

    VISIBILITY_ALPHA = 0.1
    # (min_cutoff, beta, derivate_cutoff) of each one-euro filter, as in MediaPipe's pose graph
    LANDMARKS = (0.05, 80.0, 1.0)
    WORLD = (0.1, 40.0, 1.0)
    AUX = (0.01, 10.0, 1.0)

    def __init__(self) -> None:
        self.visibility = LowPass()
        self.landmarks = OneEuro(*self.LANDMARKS)
        self.world = OneEuro(*self.WORLD)
        self.aux = OneEuro(*self.AUX)

    def lost(self) -> None:
        """A frame without a pose: restart the filters that see every frame."""
        self.landmarks = OneEuro(*self.LANDMARKS)
        self.aux = OneEuro(*self.AUX)

    def apply(
        self, t_us: int, keypoints: np.ndarray, world: np.ndarray, aux: np.ndarray, size: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Smoothed (keypoints (33, 4), world (33, 3), aux (2, 4)) of one frame; ``size`` is (width, height)."""
        w, h = float(size[0]), float(size[1])
        scale_roi = geo.alignment_rois(aux[None, 0, :2], aux[None, 1, :2], size[None])[0]
        object_scale = float(np.float32((scale_roi[2] + scale_roi[3]) / 2.0))
        pixels = np.array([w, h, w], dtype=np.float32)
        keypoints = keypoints.copy()
        keypoints[:, 3] = self.visibility.apply(keypoints[:, 3], self.VISIBILITY_ALPHA)
        aux = aux.copy()
        if object_scale >= 1e-6:
            value_scale = 1.0 / object_scale
            keypoints[:, :3] = self.landmarks.apply(t_us, value_scale, keypoints[:, :3] * pixels) / pixels
            aux[:, :3] = self.aux.apply(t_us, value_scale, aux[:, :3] * pixels) / pixels
        world = self.world.apply(t_us, 1.0, world)
        return keypoints, world, aux


# ---------------------------------------------------------------------------------------------
# The extractor
# ---------------------------------------------------------------------------------------------


class OnnxPoseExtractor:
    """BlazePose full on onnxruntime: photos (static mode, batched, with retries) or a frame sequence (tracking).

    The same public surface as :class:`posenet_cls.pose.mediapipe_backend.PoseExtractor`. ``model_dir`` holds the
    ONNX networks (default: :func:`posenet_cls.pose.blazepose.files.default_dir`); ``device`` is auto
    (CUDA when onnxruntime has it), cpu or cuda; ``batch`` caps the images per network call;
    ``threads`` is how many batches :meth:`photos` runs side by side on the CPU, each on one core
    (default: one per core; on CUDA one). ``networks`` replaces the ONNX sessions with
    already-open networks of the same interface (tests run the TFLite originals).
    ``stage_seconds`` adds up the time each stage of :data:`STAGES` took, summed over workers.
    :meth:`photos` may be called from several threads at once (static mode keeps no state between
    calls; onnxruntime sessions run concurrently): :func:`posenet_cls.pose.onnx_batch.extract_files`
    builds one extractor with ``threads=1`` and runs a batch per thread of its own.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        batch: int = 16,
        tracking: bool = False,
        min_confidence: float = 0.5,
        retries: bool = True,
        threads: int | None = None,
        attempts: tuple[str, ...] | None = None,
        *,
        networks: Mapping[str, Network] | None = None,
    ):
        if not isinstance(batch, int) or batch < 1:
            raise PosenetError(f"batch must be a whole number >= 1, got {batch!r}")
        if not 0.0 <= min_confidence <= 1.0:
            raise PosenetError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise PosenetError(f"threads must be a whole number >= 1, got {threads!r}")
        providers = providers_for(device)
        self.device = "cuda" if providers[0] == "CUDAExecutionProvider" else "cpu"
        self._networks = dict(networks) if networks is not None else open_networks(model_dir, providers)
        self.workers = 1 if self.device == "cuda" else (threads or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.batch = batch
        self.tracking = tracking
        self.retries = retries and not tracking
        self.attempts = attempts  # a photo's attempts when a call names none (None: common.ATTEMPTS)
        self.min_confidence = float(min_confidence)
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        self._anchors = ssd.ssd_anchors()
        self._last_thumb: np.ndarray | None = None  # the previous frame's thumbnail, for the scene-cut test
        self.reset()

    # -- context manager ------------------------------------------------------------------------

    def __enter__(self) -> OnnxPoseExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the networks and the worker threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._networks = {}

    def reset(self) -> None:
        """Forget the tracked person: the next frame is searched from scratch by the detector."""
        self._roi: np.ndarray | None = None
        self._filters = PoseFilters()
        self._tick = 1  # the MediaPipe backend's warm-up frame took the first timestamp

    # -- stages ---------------------------------------------------------------------------------

    def _clock(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        with self._lock:
            self.stage_seconds[stage] += now - start
        return now

    def _run(self, key: str, outputs: tuple[str, ...], tensor: np.ndarray) -> list[np.ndarray]:
        if not self._networks:
            raise PosenetError("the extractor is closed")
        return self._networks[key].run(list(outputs), {INPUT_NAME: tensor})

    def _detect(self, images: list[np.ndarray], sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmark ROIs (N, 5) from the detector, and which images have a person (N,) bool."""
        found = self._detect_all(images, sizes, 1)
        rois = np.zeros((len(images), 5))
        for i, people in enumerate(found):
            if people:
                rois[i] = people[0][0]
        return rois, np.array([bool(people) for people in found], dtype=bool)

    def _detect_all(self, images: list[np.ndarray], sizes: np.ndarray,
                    max_people: int) -> list[list[tuple[np.ndarray, np.ndarray, float]]]:
        """Per image, up to ``max_people`` detections best first: (landmark ROI (5,), hip centre (2,) of the image, score)."""
        size = ssd.DETECTOR_SIZE
        t = time.perf_counter()
        padded, padding = geo.pad_rois(geo.full_image_rois(sizes), size, size)
        crops = geo.warp_crops(images, geo.crop_matrices(padded, size, size), size, size, geo.BORDER_ZERO)
        tensor = geo.to_tensor(crops, -1.0, 1.0)
        t = self._clock("letterbox", t)
        boxes, logits = self._run("detector", DETECTOR_OUTPUTS, tensor)
        t = self._clock("detector", t)
        scores = ssd.scores_from_logits(logits)
        out: list[list[tuple[np.ndarray, np.ndarray, float]]] = []
        for i in range(len(images)):
            candidates = np.flatnonzero(scores[i] >= self.min_confidence)  # decode only what can pass
            decoded = ssd.decode_boxes(boxes[i, candidates], self._anchors[candidates])
            found = ssd.detections(decoded, scores[i, candidates], self.min_confidence, max_people)
            if not found:
                out.append([])
                continue
            keypoints = np.stack([row[4:].reshape(ssd.NUM_KEYPOINTS, 2) for row, _ in found])
            keypoints = geo.remove_letterbox(keypoints, np.repeat(padding[i : i + 1], len(found), axis=0))
            rois = geo.landmark_rois(keypoints[:, 0], keypoints[:, 1], np.repeat(sizes[i : i + 1], len(found), axis=0))
            out.append([(rois[j], keypoints[j, 0].copy(), score) for j, (_, score) in enumerate(found)])
        self._clock("nms", t)
        return out

    def detect_people(self, rgb: np.ndarray, max_people: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Up to ``max_people`` people in one RGB image, best first: (landmark ROI (5,), hip centre (2,), score).

        The detector sees 224x224, in which people in a wide frame shrink below what it finds: it runs,
        in one batch, on the whole frame and on square tiles along its longer side (overlapping),
        and a detection whose hips lie inside a better one's region is that one again.
        """
        check_rgb(rgb)
        h, w = rgb.shape[:2]
        side = min(h, w)
        count = -(-max(h, w) // side)
        starts = np.linspace(0, max(h, w) - side, count + (count > 1)).round().astype(int) if count > 1 else []
        tiles = [(0, 0, rgb)] + [(x, 0, rgb[:, x : x + side]) if w >= h else (0, x, rgb[x : x + side])
                                 for x in starts]
        images = [np.ascontiguousarray(image) for _, _, image in tiles]
        found = []
        detected = [people for chunk in self._side_by_side(
            lambda part: self._detect_all(part, geo.image_sizes(part), max_people), images) for people in chunk]
        for (x0, y0, image), people in zip(tiles, detected):
            for roi, centre, score in people:
                roi = roi.copy()
                roi[0] += x0
                roi[1] += y0
                centre = (centre * (image.shape[1], image.shape[0]) + (x0, y0)) / (w, h)
                found.append((roi, centre.astype(np.float32), score))
        kept: list[tuple[np.ndarray, np.ndarray, float]] = []
        for roi, centre, score in sorted(found, key=lambda d: -d[2]):
            pixel = centre * (w, h)
            if any(np.hypot(*(pixel - other[:2])) < other[2] / 2 for other, _, _ in kept):
                continue
            kept.append((roi, centre, score))
        return kept[:max_people]

    def landmarks_in(self, rgb: np.ndarray, rois: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """The landmark network on several ROIs (K, 5) of one image in one call: per ROI (points (33, 4),
        world (33, 3), auxiliary points (2, 4)) or None where it finds no person."""
        if not len(rois):
            return []
        size = geo.image_sizes([rgb])

        def run(part: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
            rois_part = np.asarray(part, dtype=np.float64)
            points, world, _, ok = self._landmarks([rgb] * len(part), rois_part, np.repeat(size, len(part), axis=0))
            return [(points[k, :NUM_LANDMARKS, :NUM_CHANNELS].copy(), world[k].copy(),
                     points[k, geo.AUX_POINTS, :NUM_CHANNELS].copy()) if ok[k] else None for k in range(len(part))]

        return [pose for chunk in self._side_by_side(run, list(rois)) for pose in chunk]

    def _side_by_side(self, run, items: list, batch: int | None = None) -> list:
        """``run`` on ``items`` in batches of at most ``batch``, split so every worker gets one when there are few,
        the batches side by side on the worker threads (on the CPU each network call uses one core; on CUDA one)."""
        if not items:
            return []
        size = -(-len(items) // self.workers)
        size = min(size, batch) if batch else size
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        if len(chunks) < 2 or self.workers < 2:
            return [run(chunk) for chunk in chunks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="blazepose")
        return list(self._pool.map(run, chunks))

    def _landmarks(
        self, images: list[np.ndarray], rois: np.ndarray, sizes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(points (N, 39, 5) on the image, world (N, 33, 3), presence (N,), ok (N,)) for ROIs (N, 5)."""
        size = geo.LANDMARK_SIZE
        t = time.perf_counter()
        padded, padding = geo.pad_rois(rois, size, size)
        crops = geo.warp_crops(images, geo.crop_matrices(padded, size, size), size, size, geo.BORDER_REPLICATE)
        tensor = geo.to_tensor(crops, 0.0, 1.0)
        t = self._clock("crop", t)
        raw, presence, heatmap, world = self._run("landmark", LANDMARK_OUTPUTS, tensor)
        t = self._clock("landmark", t)
        points = geo.refine_from_heatmap(geo.decode_landmarks(raw), heatmap)
        t = self._clock("refine", t)
        points = geo.project_landmarks(geo.remove_letterbox(points, padding), rois, sizes)
        world = geo.project_world(
            np.asarray(world, dtype=np.float32).reshape(len(images), -1, 3)[:, :NUM_LANDMARKS], rois
        )
        presence = np.asarray(presence, dtype=np.float32).reshape(len(images))
        ok = (presence.astype(np.float64) > self.min_confidence) & np.isfinite(points[:, :NUM_LANDMARKS, :2]).all(
            axis=(1, 2)
        )
        self._clock("projection", t)
        return points, world, presence, ok

    def _static(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Static-mode poses of RGB images in batches of at most ``batch``, ``workers`` batches side by side."""
        return [pose for batch in self._side_by_side(self._static_batch, images, self.batch) for pose in batch]

    def _static_batch(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """One batch in static mode: the detector on all images, the landmark network on those with a person."""
        found: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(images)
        sizes = geo.image_sizes(images)
        rois, detected = self._detect(images, sizes)
        idx = np.flatnonzero(detected)
        if len(idx):
            points, world, _, ok = self._landmarks([images[i] for i in idx], rois[idx], sizes[idx])
            for j, i in enumerate(idx):
                if ok[j]:
                    found[i] = (points[j, :NUM_LANDMARKS, :NUM_CHANNELS].copy(), world[j].copy())
        return found

    # -- public API ----------------------------------------------------------------------------

    def photo(self, rgb: np.ndarray, attempts: tuple[str, ...] | None = None) -> PhotoPose:
        """The pose in an RGB uint8 photo, trying padded and mirrored copies when the plain call finds none."""
        return self.photos([rgb], attempts)[0]

    def photos(self, images: Sequence[np.ndarray], attempts: tuple[str, ...] | None = None) -> list[PhotoPose]:
        """:meth:`photo` for many photos, batched: each retry attempt runs on the photos still without a pose."""
        return photos_with_retries(images, self._static, self.attempts if attempts is None else attempts, self.retries)

    def frame(self, rgb: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Track the pose in the next frame of a sequence; None when no person is tracked.

        Like MediaPipe's solution API, the filters run on a 30 fps clock of their own
        (``timestamp_s`` is accepted for the extractor interface).
        """
        check_rgb(rgb)
        cut, self._last_thumb = is_scene_cut(self._last_thumb, rgb)  # the MediaPipe backend's scene-cut test
        if cut:
            self.reset()
        self._tick += 1
        t_us = self._tick * FRAME_US
        size = geo.image_sizes([rgb])
        if self._roi is None:
            rois, found = self._detect([rgb], size)
            if not found[0]:
                return self._lost()
            self._roi = rois
        points, world, _, ok = self._landmarks([rgb], self._roi, size)
        if not ok[0]:
            return self._lost()
        t = time.perf_counter()
        keypoints, world, aux = self._filters.apply(
            t_us, points[0, :NUM_LANDMARKS, :NUM_CHANNELS], world[0], points[0, geo.AUX_POINTS, :NUM_CHANNELS], size[0]
        )
        self._roi = geo.landmark_rois(aux[None, 0, :2], aux[None, 1, :2], size)
        self._clock("filter", t)
        return keypoints.astype(np.float32), world.astype(np.float32)

    def _lost(self) -> None:
        self._roi = None
        self._filters.lost()

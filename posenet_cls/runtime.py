"""The torch-free runtime: an exported ONNX pose classifier, run with onnxruntime.

The ONNX graph takes RAW BlazePose landmarks ``landmarks`` float32 ``(batch, 33, 4)`` (rows in
MediaPipe's landmark order, columns x, y, z, visibility as MediaPipe returns them) and returns
``probabilities`` float32 ``(batch, C)``; the normalisation is inside the graph. Everything needed
to use it (class names, schema version, normalisation settings, the "unknown" threshold,
landmark names) is JSON under the ONNX metadata key ``posenet_cls``. A model with a novelty score
carries its novelty head as a second ONNX graph, base64 under the metadata key ``posenet_cls.novelty``,
run as a session of its own only when novelty is asked for (models exported before it have the head
behind an ONNX If on the input ``with_novelty``; they still run).

This module imports only the standard library, numpy, onnxruntime and :mod:`posenet_cls.errors`,
so an application can classify poses without torch.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort

from posenet_cls.errors import PosenetError

METADATA_KEY = "posenet_cls"
INPUT_NAME = "landmarks"
OUTPUT_NAME = "probabilities"
WORLD_NAME = "world"  # a second input of models that read world landmarks: float (batch, 33, 3), metres, hip-centred
NOVELTY_OUTPUT = "novelty"  # (batch,): distance to the nearest training poses of the predicted class
NOVELTY_GRAPH_KEY = "posenet_cls.novelty"  # metadata: the novelty head, (landmarks, probabilities) -> novelty
NOVELTY_FLAG = "with_novelty"  # float scalar input of the If form (older exports, the web copy): 1 runs the head
UNKNOWN = "unknown"
NOVEL = "unlike the training poses"  # Prediction.reason when novelty, not confidence, makes the answer unknown
LOW_CONFIDENCE = "low confidence"
NUM_LANDMARKS, NUM_CHANNELS, NUM_WORLD_CHANNELS = 33, 4, 3  # posenet_cls.schema's sizes: the runtime imports only its error type
WITH_NOVELTY = np.array(1.0, dtype=np.float32)
WITHOUT_NOVELTY = np.array(0.0, dtype=np.float32)
BATCH_SESSION_MIN = 256  # batches from this size run on the multi-threaded session (measured on 2 cores)
HEAD_CHUNK = 1024  # poses per novelty-head call in a batch: scores of 4096 poses ran at 66k poses/s in one call, ~100k so (2 cores)


class Prediction(NamedTuple):
    """One pose's answer: ``label`` (a class or "unknown"), top probability, top class, novelty, and why "unknown".

    ``novelty`` is None for a model without a novelty score; ``reason`` is None unless the label is
    "unknown": 'low confidence' (top probability under the threshold) or 'unlike the training poses'
    (novelty over the model's novelty threshold).
    """

    label: str
    confidence: float
    best: str
    novelty: float | None = None
    reason: str | None = None


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, then the CPU."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def read_metadata(path: str | Path) -> dict:
    """The ``posenet_cls`` metadata JSON of an exported model, without building a full session."""
    return PoseRuntime(path, threads=1).metadata


class PoseRuntime:
    """An exported pose classifier: ``classify(pose)`` for one pose, ``probabilities(poses)`` for a batch.

    ``pose`` is float32 ``(33, 4)``, ``poses`` ``(N, 33, 4)``, raw MediaPipe landmarks in the order of
    ``self.landmarks``. ``threads`` caps the threads of batched calls (default: all cores); a single
    pose always runs on one thread, which is faster for a graph this small.
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None):
        self.path = Path(path)
        self.providers = providers or default_providers()
        self._threads = threads
        self._single = self._session(1)
        self.metadata = self._read_metadata(self._single)
        self.classes: tuple[str, ...] = tuple(self.metadata["classes"])
        self.schema_version: int = int(self.metadata["schema_version"])
        self.features: dict = dict(self.metadata.get("features") or {})
        self.landmarks: tuple[str, ...] = tuple(self.metadata["landmarks"])
        self.unknown_threshold: float = float(self.metadata.get("unknown_threshold", 0.0))
        self._check_signature(self._single)
        self.reads_world = WORLD_NAME in [i.name for i in self._single.get_inputs()]
        head = self._single.get_modelmeta().custom_metadata_map.get(NOVELTY_GRAPH_KEY)
        self._head = base64.b64decode(head) if head is not None else None
        self._flagged = NOVELTY_OUTPUT in [o.name for o in self._single.get_outputs()]  # the older If form
        has_novelty = (self._head is not None or self._flagged) and "novelty" in self.metadata
        # None: the model has no novelty score (exported before it existed); "unknown" then means low confidence only.
        self.novelty_threshold: float | None = float(self.metadata["novelty"]["threshold"]) if has_novelty else None
        self._batch: ort.InferenceSession | None = None
        self._head_sessions: dict[bool, ort.InferenceSession] = {}
        # The single-pose path: fixed input/output buffers bound once, so a call allocates nothing in onnxruntime.
        self._x1 = np.zeros((1, NUM_LANDMARKS, NUM_CHANNELS), dtype=np.float32)
        self._y1 = np.zeros((1, len(self.classes)), dtype=np.float32)
        self._binding = self._single.io_binding()
        self._binding.bind_ortvalue_input(INPUT_NAME, ort.OrtValue.ortvalue_from_numpy(self._x1))
        self._binding.bind_ortvalue_output(OUTPUT_NAME, ort.OrtValue.ortvalue_from_numpy(self._y1))
        self._x1_view = self._x1[0]
        self._p1 = self._y1[0]
        self._w1 = np.zeros((1, NUM_LANDMARKS, NUM_WORLD_CHANNELS), dtype=np.float32)
        if self.reads_world:
            self._binding.bind_ortvalue_input(WORLD_NAME, ort.OrtValue.ortvalue_from_numpy(self._w1))
        self._run_bound = self._single.run_with_iobinding
        if self._flagged:  # an If form graph: the flag is fed 0 here, and 1 on the novelty binding
            self._binding.bind_ortvalue_input(NOVELTY_FLAG, ort.OrtValue.ortvalue_from_numpy(WITHOUT_NOVELTY))
        if self.novelty_threshold is not None:  # the same buffers, plus the novelty output
            self._n1 = np.zeros((1,), dtype=np.float32)
            session = self._single if self._flagged else self._head_session(single=True)
            self._scores_binding = session.io_binding()
            self._scores_binding.bind_ortvalue_input(INPUT_NAME, ort.OrtValue.ortvalue_from_numpy(self._x1))
            if WORLD_NAME in [i.name for i in session.get_inputs()]:
                self._scores_binding.bind_ortvalue_input(WORLD_NAME, ort.OrtValue.ortvalue_from_numpy(self._w1))
            if self._flagged:
                self._scores_binding.bind_ortvalue_input(NOVELTY_FLAG, ort.OrtValue.ortvalue_from_numpy(WITH_NOVELTY))
                self._scores_binding.bind_ortvalue_output(OUTPUT_NAME, ort.OrtValue.ortvalue_from_numpy(self._y1))
            else:  # the head reads the probabilities the classifier binding has just written
                self._scores_binding.bind_ortvalue_input(OUTPUT_NAME, ort.OrtValue.ortvalue_from_numpy(self._y1))
            self._scores_binding.bind_ortvalue_output(NOVELTY_OUTPUT, ort.OrtValue.ortvalue_from_numpy(self._n1))
            self._run_scores = session.run_with_iobinding

    # -- loading ---------------------------------------------------------------------------------

    def _session(self, threads: int | None, model: bytes | None = None) -> ort.InferenceSession:
        if model is None and not self.path.is_file():
            raise PosenetError(f"{self.path}: no such model file")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.path) if model is None else model, options, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for bad files
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PosenetError(f"{self.path}: not a usable ONNX model ({reason})") from None

    def _read_metadata(self, session: ort.InferenceSession) -> dict:
        raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise PosenetError(
                f"{self.path}: no '{METADATA_KEY}' metadata; not a posenet_cls model (make one with posenet-cls export)"
            )
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError as e:
            raise PosenetError(f"{self.path}: '{METADATA_KEY}' metadata is not valid JSON ({e})") from None
        missing = [k for k in ("classes", "schema_version", "landmarks") if k not in meta]
        if missing:
            raise PosenetError(f"{self.path}: '{METADATA_KEY}' metadata lacks {', '.join(missing)}")
        if len(meta["landmarks"]) != NUM_LANDMARKS:
            raise PosenetError(f"{self.path}: metadata names {len(meta['landmarks'])} landmarks, expected {NUM_LANDMARKS}")
        return meta

    def _check_signature(self, session: ort.InferenceSession) -> None:
        inputs, outputs = [i for i in session.get_inputs() if i.name != NOVELTY_FLAG], session.get_outputs()
        names = [i.name for i in inputs]
        if names not in ([INPUT_NAME], [INPUT_NAME, WORLD_NAME]) or OUTPUT_NAME not in [o.name for o in outputs]:
            raise PosenetError(
                f"{self.path}: expected input '{INPUT_NAME}' (and '{WORLD_NAME}') and output '{OUTPUT_NAME}', "
                f"found inputs {names} and outputs {[o.name for o in outputs]}"
            )
        for given, channels in zip(inputs, (NUM_CHANNELS, NUM_WORLD_CHANNELS)):
            shape = given.shape
            if len(shape) != 3 or list(shape[1:]) != [NUM_LANDMARKS, channels] or given.type != "tensor(float)":
                raise PosenetError(f"{self.path}: input '{given.name}' is {given.type} {shape}, "
                                   f"expected float (batch, {NUM_LANDMARKS}, {channels})")
        out_shape = next(o for o in outputs if o.name == OUTPUT_NAME).shape
        if isinstance(out_shape[-1], int) and out_shape[-1] != len(self.classes):
            raise PosenetError(f"{self.path}: the model has {out_shape[-1]} outputs but {len(self.classes)} class names")

    def _batch_session(self) -> ort.InferenceSession:
        if self._batch is None:
            self._batch = self._session(self._threads)
        return self._batch

    def _head_session(self, single: bool) -> ort.InferenceSession:
        """The novelty head's session: one thread for single poses and small batches, or the batch threads."""
        if single not in self._head_sessions:
            self._head_sessions[single] = self._session(1 if single else self._threads, self._head)
        return self._head_sessions[single]

    # -- inference -------------------------------------------------------------------------------

    def _check_batch(self, poses: np.ndarray) -> np.ndarray:
        poses = np.asarray(poses)
        if poses.ndim != 3 or poses.shape[1:] != (NUM_LANDMARKS, NUM_CHANNELS):
            raise PosenetError(
                f"{self.path}: expected poses of shape (N, {NUM_LANDMARKS}, {NUM_CHANNELS}), got {poses.shape}"
            )
        return np.ascontiguousarray(poses, dtype=np.float32)

    def _check_world(self, world: np.ndarray | None, n: int) -> np.ndarray | None:
        """The world landmarks (n, 33, 3) a model that reads them needs (None for one that does not)."""
        if not self.reads_world:
            return None
        if world is None:
            raise PosenetError(f"{self.path}: this model reads world landmarks too; pass world ({n}, "
                               f"{NUM_LANDMARKS}, {NUM_WORLD_CHANNELS}) (a backend that gives none cannot feed it)")
        world = np.asarray(world)
        if world.shape != (n, NUM_LANDMARKS, NUM_WORLD_CHANNELS):
            raise PosenetError(f"{self.path}: expected world landmarks of shape ({n}, {NUM_LANDMARKS}, "
                               f"{NUM_WORLD_CHANNELS}), got {world.shape}")
        return np.ascontiguousarray(world, dtype=np.float32)

    def _feeds(self, session: ort.InferenceSession, **arrays: np.ndarray | None) -> dict[str, np.ndarray]:
        """The arrays ``session`` takes, by input name (landmarks, world, probabilities, the novelty flag)."""
        return {i.name: arrays[i.name] for i in session.get_inputs()}

    def _run_batch(self, poses: np.ndarray, with_novelty: bool, world: np.ndarray | None = None) -> list[np.ndarray]:
        """[probabilities (N, C)] or [probabilities, novelty (N,)] of a checked batch, on the session for its size."""
        x = self._check_batch(poses)
        w = self._check_world(world, len(x))
        if len(x) == 0:
            empty = [np.zeros((0, len(self.classes)), dtype=np.float32), np.zeros((0,), np.float32)]
            return empty if with_novelty else empty[:1]
        small = len(x) < BATCH_SESSION_MIN
        session = self._single if small else self._batch_session()
        if self._flagged:
            flag = WITH_NOVELTY if with_novelty else WITHOUT_NOVELTY
            out = session.run([OUTPUT_NAME, NOVELTY_OUTPUT][:1 + with_novelty],
                              self._feeds(session, landmarks=x, world=w, with_novelty=flag))
        else:
            out = session.run([OUTPUT_NAME], self._feeds(session, landmarks=x, world=w))
            if with_novelty:  # in chunks: a 4096 x references distance matrix outgrows the caches
                head = self._head_session(small)
                out.append(np.concatenate([
                    head.run([NOVELTY_OUTPUT], self._feeds(head, landmarks=x[i:i + HEAD_CHUNK],
                                                           probabilities=out[0][i:i + HEAD_CHUNK],
                                                           world=None if w is None else w[i:i + HEAD_CHUNK]))[0]
                    for i in range(0, len(x), HEAD_CHUNK)]))
        if not np.isfinite(out[0]).all():
            bad = int(np.argmax(~np.isfinite(out[0]).all(axis=1)))
            raise PosenetError(f"{self.path}: pose {bad} gives non-finite probabilities (NaN or infinite landmarks?)")
        return out

    def probabilities(self, poses: np.ndarray, world: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities float32 (N, C) for raw poses (N, 33, 4) (and their world landmarks (N, 33, 3), which
        a model that reads them needs and any other ignores); columns follow ``self.classes``."""
        return self._run_batch(poses, with_novelty=False, world=world)[0]

    def _load_pose(self, pose: np.ndarray, world: np.ndarray | None) -> None:
        """Check one pose (and its world landmarks, for a model that reads them) and copy it into the bound buffers."""
        if getattr(pose, "shape", None) != (NUM_LANDMARKS, NUM_CHANNELS):
            raise PosenetError(
                f"{self.path}: expected one pose of shape ({NUM_LANDMARKS}, {NUM_CHANNELS}), "
                f"got {getattr(pose, 'shape', type(pose).__name__)}; use probabilities() for a batch (N, 33, 4)"
            )
        np.copyto(self._x1_view, pose)
        if self.reads_world:
            if getattr(world, "shape", None) != (NUM_LANDMARKS, NUM_WORLD_CHANNELS):  # a list, or the wrong shape
                world = self._check_world(None if world is None else np.asarray(world)[None], 1)[0]
            np.copyto(self._w1[0], world)

    def pose_probabilities(self, pose: np.ndarray, world: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (C,) of one raw pose (33, 4) (and its world landmarks (33, 3) for a model that reads
        them): a view overwritten by the next single-pose call."""
        self._load_pose(pose, world)
        self._run_bound(self._binding)
        return self._p1

    def scores(self, poses: np.ndarray, world: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (N, C) and novelty (N,) of raw poses (N, 33, 4) (world as for :meth:`probabilities`);
        novelty None for a model without one."""
        if self.novelty_threshold is None:
            return self.probabilities(poses, world), None
        probs, novelty = self._run_batch(poses, with_novelty=True, world=world)
        return probs, novelty

    def pose_scores(self, pose: np.ndarray, world: np.ndarray | None = None) -> tuple[np.ndarray, float | None]:
        """Probabilities (C,) (a view overwritten by the next call) and novelty of one raw pose (33, 4)."""
        if self.novelty_threshold is None:
            return self.pose_probabilities(pose, world), None
        self._load_pose(pose, world)
        if not self._flagged:
            self._run_bound(self._binding)
        self._run_scores(self._scores_binding)
        return self._p1, float(self._n1[0])

    def classify(self, pose: np.ndarray, threshold: float | None = None, world: np.ndarray | None = None) -> Prediction:
        """The class of one raw pose (33, 4): "unknown" under the probability threshold or over the novelty threshold."""
        probabilities, novelty = self.pose_scores(pose, world)
        return self.decide(probabilities, threshold, novelty)

    def decide(self, probabilities: np.ndarray, threshold: float | None = None, novelty: float | None = None,
               novelty_threshold: float | None = None) -> Prediction:
        """The answer for one probability vector (C,), raw or smoothed, and its novelty (None: not judged)."""
        i = int(probabilities.argmax())
        confidence = float(probabilities[i])
        if not confidence == confidence:  # NaN: cheaper than an isfinite check on the input
            raise PosenetError(f"{self.path}: the pose gives non-finite probabilities (NaN or infinite landmarks?)")
        best = self.classes[i]
        limit = self.unknown_threshold if threshold is None else threshold
        if confidence < limit:
            return Prediction(UNKNOWN, confidence, best, novelty, LOW_CONFIDENCE)
        novelty_limit = self.novelty_threshold if novelty_threshold is None else novelty_threshold
        if novelty is not None and novelty_limit is not None and novelty > novelty_limit:
            return Prediction(UNKNOWN, confidence, best, novelty, NOVEL)
        return Prediction(best, confidence, best, novelty)

    def classify_batch(self, poses: np.ndarray, threshold: float | None = None,
                       world: np.ndarray | None = None) -> list[Prediction]:
        """The class of every raw pose in (N, 33, 4), as :meth:`classify` answers for each."""
        probs, novelty = self.scores(poses, world)
        return [self.decide(p, threshold, None if novelty is None else float(n))
                for p, n in zip(probs, novelty if novelty is not None else [None] * len(probs))]

    def __repr__(self) -> str:
        return f"PoseRuntime({str(self.path)!r}, classes={len(self.classes)}, providers={self.providers})"


"""Classifier rows: every backend (onnxruntime, torch, scikit-learn) on the same held-out poses."""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from posenet_cls.bench.config import ARTICLE, BenchConfig, KNN_CHUNK, Progress
from posenet_cls.bench.timing import latency, throughput
from posenet_cls.schema import NUM_CHANNELS


def with_world(keypoints: np.ndarray, world: np.ndarray | None) -> np.ndarray:
    """The benchmark's pose rows: image landmarks (N, 33, 4), with the world landmarks beside them (N, 33, 7) for a
    model that reads them, so one array is tiled into batches and each backend takes what it reads."""
    return keypoints if world is None else np.concatenate([keypoints, world], axis=-1)


def parts(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`with_world` undone: (image landmarks (..., 33, 4), world landmarks (..., 33, 3) or None)."""
    if poses.shape[-1] == NUM_CHANNELS:
        return poses, None
    return np.ascontiguousarray(poses[..., :NUM_CHANNELS]), np.ascontiguousarray(poses[..., NUM_CHANNELS:])


@dataclass
class Backend:
    """One trained classifier: how to call it on one pose row and on a batch of them (:func:`with_world`)."""

    name: str
    what: str
    size_bytes: int
    size_of: str
    predict: Callable[[np.ndarray], np.ndarray]  # (N, 33, 4) -> class indices (N,)
    single: Callable[[np.ndarray], object]
    batch: Callable[[np.ndarray], object]
    threads: str
    single_context: Callable = contextlib.nullcontext  # entered around the single-pose timing


@dataclass
class TrainedClassifiers:
    """The backends trained on one split, the held-out poses and the exported ONNX model."""

    backends: list[Backend]
    test_poses: np.ndarray
    test_targets: np.ndarray
    split: dict
    onnx_path: Path
    runtime: object  # PoseRuntime of onnx_path


def train_classifiers(table, work_dir: Path, epochs: int | None = None, what: str = "table",
                      progress: Progress | None = None) -> TrainedClassifiers:
    """Train the MLP and the baselines on fold 0 of the seeded split of ``table``; export the MLP to ``work_dir``."""
    import torch

    from posenet_cls.training.checkpoint import model_meta, save_checkpoint
    from posenet_cls.training.export import export_model
    from posenet_cls.runtime import BATCH_SESSION_MIN, INPUT_NAME, WORLD_NAME, PoseRuntime
    from posenet_cls.data.splits import make_splits
    from posenet_cls.training.train import (TrainConfig, fit_baseline, fit_mlp, fit_split_novelty, model_world,
                                            one_cpu_thread)

    note = progress or (lambda _: None)
    config = TrainConfig() if epochs is None else replace(TrainConfig(), epochs=epochs)
    split = make_splits(table, config.folds, config.seed, what)[config.fold]
    classes = table.classes
    index = np.asarray(classes)
    note(f"classifiers: training the MLP on {len(split.train)} poses ({len(split.val)} for validation)")
    fit = fit_mlp(table, split, classes, config)
    model = fit.model.eval()
    ckpt, onnx_path = work_dir / "mlp.ckpt", work_dir / "mlp.onnx"
    novelty = fit_split_novelty(model, table, split, classes, config)
    save_checkpoint(ckpt, model, model_meta(model, classes), novelty)
    world = model_world(table, config) if model.reads_world else None
    export_model(model, classes, model.features.to_dict(), onnx_path, table.keypoints[split.train], novelty=novelty,
                 check_world=None if world is None else world[split.train])
    runtime = PoseRuntime(onnx_path)
    raw = _default_session(onnx_path)

    def tensors(poses):
        kp, w = parts(poses)
        return torch.from_numpy(kp), None if w is None else torch.from_numpy(w)

    def torch_single(pose):
        with torch.inference_mode():
            return torch.softmax(model(*(None if t is None else t[None] for t in tensors(pose))), dim=1)

    def torch_batch(poses):  # PoseRuntime's thread policy: one thread under BATCH_SESSION_MIN poses
        threads = one_cpu_thread() if len(poses) < BATCH_SESSION_MIN else contextlib.nullcontext()
        with threads, torch.inference_mode():
            return torch.softmax(model(*tensors(poses)), dim=1)

    def feeds(poses):
        kp, w = parts(poses)
        return {INPUT_NAME: kp} if w is None else {INPUT_NAME: kp, WORLD_NAME: w}

    backends = [
        Backend("onnxruntime", "MLP, onnxruntime (PoseRuntime, ours)", onnx_path.stat().st_size, "ONNX file",
                lambda p: runtime.probabilities(*parts(p)).argmax(axis=1),
                lambda pose: runtime.decide(runtime.pose_probabilities(*parts(pose))),
                lambda p: runtime.probabilities(*parts(p)), f"1; {os.cpu_count()} from batch {BATCH_SESSION_MIN}"),
        Backend("onnxruntime-novelty", "MLP + novelty score, onnxruntime (PoseRuntime.classify, ours)",
                onnx_path.stat().st_size, "ONNX file", lambda p: runtime.scores(*parts(p))[0].argmax(axis=1),
                lambda pose: runtime.classify(parts(pose)[0], world=parts(pose)[1]), lambda p: runtime.scores(*parts(p)),
                f"1; {os.cpu_count()} from batch {BATCH_SESSION_MIN}"),
        Backend("onnxruntime-default", "MLP, onnxruntime session.run, default options", onnx_path.stat().st_size,
                "ONNX file", lambda p: raw.run(None, feeds(p))[0].argmax(axis=1),
                lambda pose: raw.run(None, feeds(pose[None])), lambda b: raw.run(None, feeds(b)),
                "onnxruntime's default"),
        Backend("torch", "MLP, torch eager", ckpt.stat().st_size, "checkpoint",
                lambda p: torch_batch(np.ascontiguousarray(p)).argmax(dim=1).numpy(), torch_single, torch_batch,
                f"1; {torch.get_num_threads()} from batch {BATCH_SESSION_MIN}", one_cpu_thread),
    ]
    rest = np.concatenate([split.train, split.val])
    for name, what_ in (("svc", "SVC baseline (RBF, normalised features)"),
                        (ARTICLE, "the article's SVC(kernel='poly') on raw landmarks"),
                        ("knn", "k-NN on MediaPipe's pose embedding")):
        note(f"classifiers: fitting {name} on {len(rest)} poses")
        est = fit_baseline(name, table, rest, config)
        chunk = KNN_CHUNK if name == "knn" else None
        backends.append(Backend(name, what_, len(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL)), "pickle",
                                _sklearn_predict(est, index, chunk), lambda pose, e=est: e.predict(parts(pose[None])[0]),
                                _sklearn_predict(est, index, chunk), "1"))
    test = np.ascontiguousarray(with_world(table.keypoints[split.test], None if world is None else world[split.test]))
    targets = np.searchsorted(index, table.labels[split.test].astype(str))
    sizes = {"train": len(split.train), "val": len(split.val), "test": len(split.test), "fold": config.fold,
             "folds": config.folds, "seed": config.seed, "epochs_run": len(fit.history)}
    return TrainedClassifiers(backends, test, targets, sizes, onnx_path, runtime)


def _default_session(path: Path):
    """The naive way to run the ONNX file: an InferenceSession with default options, ``run`` per call."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _sklearn_predict(est, classes: np.ndarray, chunk: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """Class indices of a batch from a scikit-learn estimator, in chunks of ``chunk`` rows when given."""
    def predict(poses: np.ndarray) -> np.ndarray:
        poses = parts(poses)[0]
        step = chunk or max(len(poses), 1)
        labels = np.concatenate([est.predict(poses[i:i + step]) for i in range(0, len(poses), step)])
        return np.searchsorted(classes, labels)

    return predict


def classifier_rows(trained: TrainedClassifiers, config: BenchConfig, progress: Progress | None = None) -> list[dict]:
    """Per backend: size, test accuracy, single-pose latency (median, p99) and poses/s per batch size, same poses."""
    note = progress or (lambda _: None)
    poses = trained.test_poses
    rows = []
    for b in trained.backends:
        note(f"classifiers: timing {b.name}")
        accuracy = float(np.mean(b.predict(poses) == trained.test_targets))
        with b.single_context():
            median, p99, calls = latency(b.single, poses, config.calls, config.seconds)
        row = {"section": "classifiers", "backend": b.name, "what": b.what, "size_bytes": b.size_bytes,
               "size_of": b.size_of, "accuracy": accuracy, "test_poses": len(poses), "median_us": median,
               "p99_us": p99, "calls": calls, "threads": b.threads}
        for size in config.batches:
            batch = np.ascontiguousarray(np.resize(poses, (size, *poses.shape[1:])))
            row[f"poses_per_s_batch_{size}"] = throughput(b.batch, batch, config.seconds)
        rows.append(row)
    ref = next(r for r in rows if r["backend"] == ARTICLE)
    for row in rows:
        row["vs"] = row["median_us"] / ref["median_us"]
    return rows

"""Export a trained pose classifier to ONNX: raw landmarks in, class probabilities out, metadata inside.

The graph's input is ``landmarks`` float32 ``(batch, 33, 4)``, raw BlazePose landmarks as MediaPipe
returns them (the normalisation is part of the graph), and its output ``probabilities`` float32
``(batch, C)`` (softmax inside the graph). The ONNX metadata key ``posenet_cls`` holds JSON with
the class names, schema version, normalisation settings, "unknown" threshold and landmark names,
which :class:`posenet_cls.runtime.PoseRuntime` reads back.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PosenetError
from .runtime import INPUT_NAME, METADATA_KEY, OUTPUT_NAME
from .schema import LANDMARK_NAMES, NUM_CHANNELS, NUM_LANDMARKS, SCHEMA_VERSION

OPSET = 17
PARITY_TOLERANCE = 1e-5  # max abs difference on probabilities, onnxruntime vs torch
# Top probability under which predict answers "unknown": the best class must be more probable than
# all the others together. On yoga8's cross-validated out-of-fold probabilities it is the knee of the
# trade-off (scripts/train_default_model.py prints the table): it keeps 98.7% of the right answers
# and rejects 40% of the wrong ones; higher thresholds lose right answers faster than wrong ones.
DEFAULT_UNKNOWN_THRESHOLD = 0.5


@dataclass
class ExportReport:
    """What an export wrote and how closely onnxruntime matched torch on real poses."""

    path: str
    classes: list[str]
    poses_checked: int
    max_abs_diff: float
    same_top_class: bool
    size_bytes: int


def build_metadata(
    classes: list[str], features: dict, unknown_threshold: float, extra: dict | None = None
) -> dict:
    """The ``posenet_cls`` metadata of an exported model (JSON-serialisable)."""
    meta = {
        "classes": list(classes),
        "schema_version": SCHEMA_VERSION,
        "features": features,
        "unknown_threshold": float(unknown_threshold),
        "landmarks": list(LANDMARK_NAMES),
        "input": {"name": INPUT_NAME, "shape": ["batch", NUM_LANDMARKS, NUM_CHANNELS], "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(classes)], "softmax": True},
    }
    meta.update(extra or {})
    json.dumps(meta)  # fail here, not in a runtime, if something is not JSON
    return meta


def _with_softmax(model):
    """Wrap a logits model so the exported graph ends in a softmax."""
    import torch

    class _Probabilities(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(landmarks), dim=-1)

    return _Probabilities(model).eval()


def torch_probabilities(model, poses: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) of a torch logits model on raw poses (N, 33, 4), in eval mode."""
    import torch

    with torch.inference_mode():
        return _with_softmax(model.eval())(torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float32))).numpy()


def export_model(
    model,
    classes: list[str],
    features: dict,
    out: str | Path,
    check_poses: np.ndarray,
    unknown_threshold: float = DEFAULT_UNKNOWN_THRESHOLD,
    extra_metadata: dict | None = None,
) -> ExportReport:
    """Write ``model`` (raw (N, 33, 4) -> logits (N, C)) as ONNX, check it, and compare onnxruntime with torch."""
    import onnx
    import torch

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise PosenetError(f"{out}: the output file must end in .onnx")
    check_poses = np.ascontiguousarray(check_poses, dtype=np.float32)
    if check_poses.ndim != 3 or check_poses.shape[1:] != (NUM_LANDMARKS, NUM_CHANNELS) or len(check_poses) == 0:
        raise PosenetError(f"parity check needs real poses of shape (N, 33, 4), got {check_poses.shape}")
    meta = build_metadata(classes, features, unknown_threshold, extra_metadata)
    wrapped = _with_softmax(model.eval())
    expected = torch_probabilities(model, check_poses)
    if expected.shape[1] != len(classes):
        raise PosenetError(f"the model gives {expected.shape[1]} outputs but has {len(classes)} class names")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; onnxscript is not installed
        torch.onnx.export(
            wrapped,
            (torch.from_numpy(check_poses[:2]),),
            str(tmp),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load(str(tmp))
    proto.doc_string = "posenet_cls pose classifier: raw BlazePose landmarks (batch, 33, 4) -> class probabilities"
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        tmp.unlink(missing_ok=True)
        raise PosenetError(f"{out}: the exported graph fails the ONNX checker ({str(e).splitlines()[0]})") from None
    onnx.save(proto, str(tmp))
    try:
        diff, same_top = _parity(tmp, check_poses, expected)
    except PosenetError:
        tmp.unlink(missing_ok=True)
        raise
    if diff > PARITY_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise PosenetError(
            f"{out}: onnxruntime differs from torch by {diff:.2e} on probabilities (tolerance {PARITY_TOLERANCE:g}); not written"
        )
    tmp.replace(out)
    return ExportReport(str(out), list(classes), len(check_poses), diff, same_top, out.stat().st_size)


def _parity(path: Path, poses: np.ndarray, expected: np.ndarray) -> tuple[float, bool]:
    """Max abs probability difference onnxruntime vs torch (batch and one-by-one) and whether top classes agree."""
    from .runtime import PoseRuntime

    runtime = PoseRuntime(path, providers=["CPUExecutionProvider"])
    batch = runtime.probabilities(poses)
    single = np.stack([runtime.pose_probabilities(p).copy() for p in poses[:64]])
    diff = max(float(np.abs(batch - expected).max()), float(np.abs(single - expected[:64]).max()))
    return diff, bool((batch.argmax(1) == expected.argmax(1)).all())


def export_run(
    run_dir: str | Path, out: str | Path, table: str | Path | None = None, unknown_threshold: float | None = None
) -> ExportReport:
    """Export ``RUN_DIR/model.ckpt``; parity is checked on the run's own keypoint table (or ``table``)."""
    from .checkpoint import load_checkpoint
    from .table import read_table

    run_dir = Path(run_dir)
    ckpt = run_dir / "model.ckpt" if run_dir.is_dir() else run_dir
    if run_dir.is_dir() and not ckpt.is_file():
        found = sorted(p.name for p in run_dir.iterdir() if p.suffix in (".ckpt", ".joblib"))
        hint = f" (found {', '.join(found)}: only the MLP exports to ONNX)" if found else " (train one with posenet-cls train)"
        raise PosenetError(f"{run_dir}: no model.ckpt in this run folder{hint}")
    model, meta = load_checkpoint(ckpt)
    table_path = Path(table) if table is not None else _run_table(meta, ckpt)
    poses = read_table(table_path).keypoints
    threshold = DEFAULT_UNKNOWN_THRESHOLD if unknown_threshold is None else float(unknown_threshold)
    if not 0.0 <= threshold < 1.0:
        raise PosenetError(f"unknown threshold must be in [0, 1), got {threshold}")
    extra = {"model": meta.get("model", "mlp"), "model_args": meta.get("model_args", {}),
             "train_config": meta.get("train_config"), "run": meta.get("run")}
    if meta.get("angle_profile"):
        extra["angle_profile"] = meta["angle_profile"]  # form hints (posenet_cls.hints)
    return export_model(model, meta["classes"], meta["features"], out, poses, threshold, extra)


def _run_table(meta: dict, ckpt: Path) -> Path:
    """The keypoint table a checkpoint was trained on, for the parity check on real poses."""
    recorded = (meta.get("run") or {}).get("table")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    where = f"the table it was trained on ({recorded}) is gone" if recorded else "it records no keypoint table"
    raise PosenetError(f"{ckpt}: {where}; pass --table poses.csv for the parity check on real keypoints")


def predict_command(path: str | Path) -> str:
    """The predict command line that uses an exported model."""
    return f"posenet-cls predict PHOTO_OR_FOLDER --model {path}"

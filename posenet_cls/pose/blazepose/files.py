"""Where the converted BlazePose ONNX networks live; no onnxruntime or mediapipe import."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from posenet_cls.config import CHECKPOINTS
from posenet_cls.errors import PosenetError

DIR_ENV = "POSENET_CLS_BLAZEPOSE_DIR"
NETWORK_FILES = {"detector": "pose_detection.onnx", "landmark": "pose_landmark_full.onnx"}
MAKE_HINT = "posenet-cls convert-blazepose"  # python -m posenet_cls.pose.blazepose does the same


def mediapipe_version() -> str:
    """The installed mediapipe wheel's version, read from its metadata (mediapipe is not imported)."""
    try:
        return metadata.version("mediapipe")
    except metadata.PackageNotFoundError:
        return "unknown"


SHIPPED_DIR = CHECKPOINTS / "blazepose"  # converted from the pinned mediapipe wheel; see its NOTICE


def cache_dir() -> Path:
    """Where the converter writes by default: ``~/.cache/posenet_cls/blazepose/mediapipe-<version>/``."""
    return Path.home() / ".cache" / "posenet_cls" / "blazepose" / f"mediapipe-{mediapipe_version()}"


def default_dir() -> Path:
    """``$POSENET_CLS_BLAZEPOSE_DIR``, else the networks shipped in the package, else :func:`cache_dir`."""
    value = os.environ.get(DIR_ENV)
    if value:
        return Path(value).expanduser()
    if all(path.is_file() for path in network_paths(SHIPPED_DIR).values()):
        return SHIPPED_DIR
    return cache_dir()


def network_paths(dir: Path | str | None = None) -> dict[str, Path]:
    """The ONNX file of each network, keyed "detector" and "landmark", in ``dir`` (default: default_dir())."""
    root = Path(dir) if dir is not None else default_dir()
    return {key: root / name for key, name in NETWORK_FILES.items()}


def require_networks(dir: Path | str | None = None) -> dict[str, Path]:
    """network_paths(dir), or PosenetError naming the first missing file and how to make it."""
    paths = network_paths(dir)
    for path in paths.values():
        if not path.is_file():
            raise PosenetError(
                f"{path}: BlazePose ONNX networks not found; make them from the installed mediapipe wheel with: "
                f"{MAKE_HINT} --out {path.parent}"
            )
    return paths

"""Project-wide settings read from the environment, each in one place."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "POSENET_CLS_DATA"
DEFAULT_OUT_DIR = "predictions"  # where predict writes annotated photos and videos
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _checkpoints_dir() -> Path:
    """The shipped files: ``posenet_cls/checkpoints/`` in an installed wheel, ``checkpoints/`` in a checkout."""
    installed = Path(__file__).resolve().parent / "checkpoints"  # where the wheel puts checkpoints/ (pyproject.toml)
    return installed if installed.is_dir() else PROJECT_ROOT / "checkpoints"


CHECKPOINTS = _checkpoints_dir()


def data_dir() -> Path:
    """The example data folder: ``$POSENET_CLS_DATA``, else ``../shared/data`` beside the project."""
    value = os.environ.get(DATA_ENV)
    return Path(value) if value else PROJECT_ROOT.parent / "shared" / "data"

"""Project-wide settings read from the environment, each in one place."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "POSENET_CLS_DATA"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The example data folder: ``$POSENET_CLS_DATA``, else ``../shared/data`` beside the project."""
    value = os.environ.get(DATA_ENV)
    return Path(value) if value else PROJECT_ROOT.parent / "shared" / "data"

"""What the evaluation scripts share: the yoga8 keypoint table they read, extracted from the photos when missing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = ROOT / "runs" / "default_model" / "poses.csv"  # where scripts/train_default_model.py writes it


def add_table_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--table`` option of every evaluation script."""
    parser.add_argument("--table", default=str(DEFAULT_TABLE),
                        help="yoga8 keypoint table (extracted from ../shared/data/yoga8 when missing)")


def read_yoga8(path: str | Path):
    """The keypoint table at ``path``, extracted from ../shared/data/yoga8 first when it is missing."""
    from posenet_cls.config import data_dir
    from posenet_cls.data.dataset import table_or_extract

    return table_or_extract(path, data_dir() / "yoga8", lambda m: print(m, file=sys.stderr, flush=True))

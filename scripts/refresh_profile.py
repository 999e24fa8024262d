"""Recompute the shipped model's angle profile (form hints) from its own training photos; weights untouched.

    .venv/bin/python scripts/refresh_profile.py                   # extracts ../shared/data/yoga8 first
    .venv/bin/python scripts/refresh_profile.py --table poses.csv

The training photos are those named in checkpoints/pose_mlp.split.json ("train"); the profile is
posenet_cls.coaching.hints.angle_profile of their poses, as train_run computes it, written into the
ONNX metadata of checkpoints/pose_mlp.onnx (what scripts/train_default_model.py would store after
a change of the profile's definition, without retraining the network).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _yoga8 import add_table_argument, read_yoga8  # noqa: E402


def main() -> int:
    from posenet_cls.coaching.hints import angle_profile
    from posenet_cls.config import CHECKPOINTS
    from posenet_cls.training.export import update_metadata

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_table_argument(p)
    args = p.parse_args()
    table = read_yoga8(args.table)
    split = json.loads((CHECKPOINTS / "pose_mlp.split.json").read_text())
    train = {row["source"] for row in split["train"]}
    rows = np.array([s in train for s in table.sources])
    if rows.sum() != len(train):
        print(f"refresh_profile: error: {len(train)} training photos in the split, {rows.sum()} found in {args.table}",
              file=sys.stderr)
        return 1
    profile = angle_profile(table.keypoints[rows], table.labels[rows])
    update_metadata(CHECKPOINTS / "pose_mlp.onnx", angle_profile=profile)
    print(f"angle profile of {rows.sum()} training poses ({len(profile['classes'])} classes, version "
          f"{profile['version']}) -> {CHECKPOINTS / 'pose_mlp.onnx'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

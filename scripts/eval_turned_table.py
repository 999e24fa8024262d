"""Why training tables do not get the "turned" rescue: leave-one-class-out with and without the one pose it adds.

    .venv/bin/python scripts/eval_turned_table.py [--table runs/default_model/poses.csv] [--seeds 0 1 2]

The yoga8 table misses one photo, ArdhaChandrasana/v8.jpeg (a half moon drawn with the body horizontal);
"turned" finds it. For each seed: train without Downward_dog on the table as it is and on the table with
v8's pose added, and print the share of Downward_dog photos called unknown (the README's figures).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _yoga8 import add_table_argument, read_yoga8  # noqa: E402

PHOTO = "ArdhaChandrasana/v8.jpeg"
LEFT_OUT = "Downward_dog"


def main() -> int:
    from posenet_cls.config import data_dir
    from posenet_cls.data.table import PoseTable
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.common import ATTEMPTS
    from posenet_cls.pose.mediapipe_backend import PoseExtractor
    from posenet_cls.training.evaluate import leave_one_class_out
    from posenet_cls.training.train import TrainConfig, quiet_lightning

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_table_argument(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    table = read_yoga8(args.table)
    if PHOTO in set(table.sources.astype(str)):
        print(f"{args.table} already holds {PHOTO}; use a table extracted without 'turned'", file=sys.stderr)
        return 1
    photo = data_dir() / "yoga8" / PHOTO
    with PoseExtractor() as extractor:
        found = extractor.photo(load_image(photo), (*ATTEMPTS, "turned"))
    if found.keypoints is None:
        print(f"{PHOTO}: 'turned' found no person on this machine", file=sys.stderr)
        return 1
    label, sha1 = PHOTO.split("/")[0], hashlib.sha1(photo.read_bytes()).hexdigest()
    with_v8 = PoseTable(np.concatenate([table.keypoints, found.keypoints[None]]), np.append(table.labels, label),
                        np.append(table.sources, PHOTO), np.append(table.sha1, sha1),
                        np.append(table.attempts, found.attempt))
    print(f"| seed | {LEFT_OUT} unknown, table as extracted | with {PHOTO} ({found.attempt}) |")
    print("|---:|---:|---:|")
    with quiet_lightning():
        for seed in args.seeds:
            rates = [leave_one_class_out(t, LEFT_OUT, TrainConfig(seed=seed))["novelty"][0]["left_out_unknown_both"]
                     for t in (table, with_v8)]
            print(f"| {seed} | {100 * rates[0]:.0f}% | {100 * rates[1]:.0f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

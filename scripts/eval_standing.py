"""Is a plain standing pose (arms at the sides) called unknown? A stand-in for issue 15's never-trained standing pose.

    .venv/bin/python scripts/eval_standing.py                          # the shipped model, yoga8's tree photos
    .venv/bin/python scripts/eval_standing.py --model old.onnx --table poses.csv

yoga8 has no photo of someone just standing, so each tree pose (Vrukshasana) is turned into one: the
raised leg copies the standing leg (moved to its own hip), and both arms hang straight down from the
shoulders (elbow 0.45, wrist and hand 0.9 torso lengths below). Prints how the model answers: unknown
for low confidence, unknown for novelty, or a class. Before issue 15 the shipped model called 36% of
these a class (tree or goddess), close to the third of real standing photos it called tree.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _yoga8 import add_table_argument, read_yoga8  # noqa: E402

from posenet_cls.errors import PosenetError  # noqa: E402
from posenet_cls.schema import Landmark as L  # noqa: E402

LEG = ("KNEE", "ANKLE", "HEEL", "FOOT_INDEX")
HAND = ("WRIST", "PINKY", "INDEX", "THUMB")


def standing(tree: np.ndarray) -> np.ndarray:
    """Tree poses (N, 33, 4) -> the same people standing on both legs with their arms at their sides."""
    out = tree.copy()
    for kp in out:
        stand = "LEFT" if kp[L.LEFT_ANKLE, 1] > kp[L.RIGHT_ANKLE, 1] else "RIGHT"  # the lower ankle stands
        other = "RIGHT" if stand == "LEFT" else "LEFT"
        shift = kp[L[f"{other}_HIP"], :3] - kp[L[f"{stand}_HIP"], :3]
        for part in LEG:
            kp[L[f"{other}_{part}"]] = kp[L[f"{stand}_{part}"]]
            kp[L[f"{other}_{part}"], :3] += shift
        mid = lambda a, b: (kp[a, :2] + kp[b, :2]) / 2  # noqa: E731
        torso = float(np.linalg.norm(mid(L.LEFT_SHOULDER, L.RIGHT_SHOULDER) - mid(L.LEFT_HIP, L.RIGHT_HIP)))
        for side in ("LEFT", "RIGHT"):
            shoulder = kp[L[f"{side}_SHOULDER"], :3]
            kp[L[f"{side}_ELBOW"], :3] = shoulder + np.array([0.0, 0.45 * torso, 0.0])
            for part in HAND:
                kp[L[f"{side}_{part}"], :3] = shoulder + np.array([0.0, 0.9 * torso, 0.0])
    return out


def main() -> int:
    from posenet_cls.runtime import PoseRuntime

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "checkpoints" / "pose_mlp.onnx"), help="an exported model")
    add_table_argument(p)
    args = p.parse_args()
    try:
        table = read_yoga8(args.table)
        poses = standing(table.keypoints[table.labels.astype(str) == "Vrukshasana"])
        answers = Counter((a.label, a.reason) for a in PoseRuntime(args.model).classify_batch(poses))
    except PosenetError as e:
        print(f"eval_standing: error: {e}", file=sys.stderr)
        return 1
    unknown = sum(n for (label, _), n in answers.items() if label == "unknown")
    print(f"{len(poses)} standing poses made from yoga8's tree photos: {unknown} ({100 * unknown / len(poses):.0f}%) unknown")
    for (label, reason), n in answers.most_common():
        print(f"  {label}{f' ({reason})' if reason else ''}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well form hints find a bent joint: fit the angle profile on fold 0's train rows, bend held-out poses.

Usage: .venv/bin/python scripts/eval_hints.py [--table runs/default_model/poses.csv] [--degrees 40] [--mirrored]

Takes the test rows of posenet_cls.data.splits.make_splits(table, 5, 0)[0] that the shipped model
classifies correctly, bends each visible joint in turn by --degrees (the landmarks beyond the joint
rotated about it in the image plane) and prints how often the first hint names that joint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _yoga8 import add_table_argument, read_yoga8  # noqa: E402


def main() -> int:
    from posenet_cls.coaching.hints import angle_profile, evaluate_hints
    from posenet_cls.infer.photos import load_model
    from posenet_cls.data.splits import make_splits

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_table_argument(p)
    p.add_argument("--degrees", type=float, default=40.0)
    p.add_argument("--mirrored", action="store_true",
                   help="judge the mirror images of the held-out poses (the other leg leading) against the same profile")
    args = p.parse_args()
    table = read_yoga8(args.table)
    split = make_splits(table, 5, 0)[0]
    profile = angle_profile(table.keypoints[split.train], table.labels[split.train])
    runtime = load_model()
    test = split.test
    preds = [p.best for p in runtime.classify_batch(table.keypoints[test])]  # hints judge the pose, not the unknown rule
    right = test[[pred == lab for pred, lab in zip(preds, table.labels[test].astype(str))]]
    poses = table.keypoints[right]
    if args.mirrored:
        from posenet_cls.features import mirror

        poses = mirror(poses)
    report = evaluate_hints(poses, table.labels[right], profile, args.degrees)
    print(f"{len(right)} correctly classified held-out poses of {len(test)}; each visible joint bent by {args.degrees:g} deg")
    print(f"{'joint':16s} {'trials':>6s} {'hit rate':>8s}")
    for name, r in report["per_joint"].items():
        print(f"{name:16s} {r['trials']:6d} {r['hit_rate']:8.3f}")
    print(f"{'overall':16s} {report['trials']:6d} {report['hit_rate']:8.3f}   (chance about 1/9 = 0.111)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

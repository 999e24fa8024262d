"""``posenet-cls evaluate``: figures of a trained run on photos it never saw."""

from __future__ import annotations

import json

from posenet_cls.commands._parsing import add_command

EXAMPLES = """\
  posenet-cls evaluate runs/mlp                   # the run's own held-out test photos
  posenet-cls evaluate runs/mlp other_poses.csv   # another table; photos used in training are skipped
  posenet-cls evaluate runs/mlp --json            # every figure as JSON

Writes RUN_DIR/evaluation/<table>/metrics.json and confusion.png. For an MLP run it also
reports the SVC baseline trained on the same split and how often the two agree.
"""


def register(sub) -> None:
    p = add_command(sub, "evaluate", "Evaluate a trained run: accuracy, macro-F1, per-class figures, confusion matrix.",
                    EXAMPLES)
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory written by 'posenet-cls train'")
    p.add_argument("table", nargs="?", help="keypoint table to evaluate on (default: the run's table, test split)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from posenet_cls.training.evaluate import evaluate_run

    result = evaluate_run(args.run_dir, args.table)
    if args.json:
        print(json.dumps(result))
        return 0
    m = result["metrics"]
    print(f"{result['model']} on {result['table']}: {result['evaluated']} poses "
          f"({result['skipped_seen_in_training']} skipped: used in training)")
    print(f"  accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    width = max(len(c) for c in result["classes"])
    print(f"  {'class':<{width}}  precision  recall  support")
    for c, pc in m["per_class"].items():
        print(f"  {c:<{width}}  {pc['precision']:9.3f}  {pc['recall']:6.3f}  {pc['support']:7d}")
    rob = result["robustness"]
    print("  same poses mirrored / rotated / stretched: " + " / ".join(f"{rob[k]:.3f}" for k in ("mirrored", "rotated", "stretched")))
    if "agreement_mlp_svc" in result:
        print(f"  SVC baseline accuracy {result['baseline_svc']['accuracy']:.3f}; MLP and SVC agree on "
              f"{result['agreement_mlp_svc']:.1%} of the photos")
    print(f"written: {result['written']}")
    return 0

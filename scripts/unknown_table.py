"""Leave-one-class-out: does "unknown" catch a pose class the model never saw, and keep the known ones?

Usage: .venv/bin/python scripts/unknown_table.py [--table runs/default_model/poses.csv] [--seeds 0 1 2] [--json]

For each class k of the table: train the MLP without k (the project's seeded split of the other
classes, novelty threshold fitted on its validation poses), then report the share of k's photos
called unknown and the share of the known classes' held-out test photos still given a class, for
the probability threshold alone, the novelty score alone (thresholds calibrated on shifted validation
poses, as in training), and both (the shipped rule). Prints a
markdown table (docs/novelty.md's) and rows for other novelty threshold quantiles (--quantiles) and margins (--margins).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _yoga8 import add_table_argument, read_yoga8  # noqa: E402


def main() -> int:
    from posenet_cls.training.evaluate import leave_one_class_out
    from posenet_cls.training.models.mlp import NORMS
    from posenet_cls.training.train import TrainConfig, quiet_lightning

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_table_argument(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--quantiles", type=float, nargs="*", default=[0.95, 1.0], help="other novelty threshold quantiles")
    p.add_argument("--margins", type=float, nargs="*", default=[], help="other novelty threshold margins")
    p.add_argument("--norm", default=TrainConfig.norm, choices=NORMS, help="the MLP's normalisation layer")
    p.add_argument("--outliers", type=float, nargs=2, metavar=("SHARE", "WEIGHT"),
                   help="outlier exposure: recombined poses per batch and their loss weight (default TrainConfig's)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    table = read_yoga8(args.table)
    results = []
    with quiet_lightning():
        for seed in args.seeds:
            for k in table.classes:
                print(f"seed {seed}: training without {k}", file=sys.stderr, flush=True)
                config = TrainConfig(seed=seed, norm=args.norm)
                if args.outliers:
                    config = replace(config, outliers=args.outliers[0], outlier_weight=args.outliers[1])
                results.append({"seed": seed, **leave_one_class_out(table, k, config, tuple(args.quantiles),
                                                                     tuple(args.margins))})
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    seeds = " ".join(map(str, args.seeds))
    print(f"Left-out class: share of its photos called unknown; known: share of the other classes' test photos "
          f"still classified (mean over seeds {seeds}).\n")
    print("| left-out class | photos | called (prob. only) | unknown: prob. only | novelty only | both (shipped) "
          "| known kept: prob. only | novelty only | both |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for r in results:
        rows.setdefault(r["left_out"], []).append(r)
    totals = []
    for k, rs in rows.items():
        nov = [r["novelty"][0] for r in rs]
        vals = [np.mean([r["probability_only"]["left_out_unknown"] for r in rs]),
                np.mean([n["left_out_unknown"] for n in nov]), np.mean([n["left_out_unknown_both"] for n in nov]),
                np.mean([r["probability_only"]["known_accepted"] for r in rs]),
                np.mean([n["known_accepted"] for n in nov]), np.mean([n["known_accepted_both"] for n in nov])]
        totals.append(vals)
        print(f"| {k} | {rs[0]['n_left_out']} | {rs[0]['most_often_called']} | "
              + " | ".join(f"{100 * v:.0f}%" for v in vals) + " |")
    mean = np.mean(totals, axis=0)
    print("| **mean** | | | " + " | ".join(f"**{100 * v:.0f}%**" for v in mean) + " |")
    if len(results[0]["novelty"]) > 1:
        print("\nNovelty thresholds (margin x the quantile of the right answers on shifted validation poses) vs the "
              "mean rates, both rules combined:\n")
        print("| quantile | margin | left-out called unknown | known kept |")
        print("|---:|---:|---:|---:|")
        for i, row in enumerate(results[0]["novelty"]):
            lo = np.mean([r["novelty"][i]["left_out_unknown_both"] for r in results])
            ka = np.mean([r["novelty"][i]["known_accepted_both"] for r in results])
            print(f"| {row['quantile']:g} | {row['margin']:g}{' (shipped)' if i == 0 else ''} | {100 * lo:.1f}% "
                  f"| {100 * ka:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

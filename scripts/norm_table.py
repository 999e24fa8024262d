"""The MLP's normalisation layer (train --norm): batch speed against what "unknown" catches, one table.

    .venv/bin/python scripts/norm_table.py [--table poses.csv] [--repeats 3]

For --norm layer (LayerNorm, the default), batch (BatchNorm, folded into the layers at export) and none: train
the default MLP on fold 0 of the seeded split (seed 0) with its novelty rule, export it, and report its test
accuracy, the share of the squat and plank clips' poses (../shared/data/video; all, and per clip) and of the
standing stand-ins of scripts/eval_standing.py called unknown, and issue 15's batch target: a 4096 batch through
PoseRuntime.probabilities against a 1024^3 float32 MatMul, in turns (posenet_cls.bench.targets.batch_over_peak,
as `posenet-cls benchmark` times it). The models are timed one after the other, --repeats rounds, so that a
machine whose speed drifts is seen by all. Prints a markdown table. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _yoga8 import add_table_argument, read_yoga8  # noqa: E402
from eval_standing import standing  # noqa: E402
from train_default_model import clip_poses  # noqa: E402

BATCH = 4096


def main() -> int:
    from dataclasses import replace

    from posenet_cls.bench.targets import BATCH_TARGET, PAIRS, batch_over_peak, model_flops
    from posenet_cls.config import data_dir
    from posenet_cls.data.splits import make_splits
    from posenet_cls.runtime import UNKNOWN, PoseRuntime
    from posenet_cls.training.export import export_model
    from posenet_cls.training.models.mlp import NORMS
    from posenet_cls.training.train import TrainConfig, fit_mlp, fit_split_novelty, quiet_lightning

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_table_argument(p)
    p.add_argument("--repeats", type=int, default=3, help="rounds of timing every model (default 3)")
    p.add_argument("--seconds", type=float, default=2.0, help="time budget of one measurement (default 2)")
    args = p.parse_args()
    table = read_yoga8(args.table)
    config = TrainConfig()
    split = make_splits(table, config.folds, config.seed, args.table)[config.fold]
    test = np.ascontiguousarray(table.keypoints[split.test], dtype=np.float32)
    labels = np.searchsorted(np.asarray(table.classes), table.labels[split.test].astype(str))
    clips = clip_poses(data_dir() / "video")
    others = {"clips": np.concatenate(list(clips.values())), **clips,
              "standing": standing(table.keypoints[table.labels == "Vrukshasana"])}
    models = {}
    with quiet_lightning(), tempfile.TemporaryDirectory() as tmp:
        for norm in NORMS:
            print(f"training and exporting the MLP with --norm {norm}", file=sys.stderr, flush=True)
            norm_config = replace(config, norm=norm)
            fit = fit_mlp(table, split, table.classes, norm_config)
            novelty = fit_split_novelty(fit.model, table, split, table.classes, norm_config)
            path = Path(tmp) / f"{norm}.onnx"
            export_model(fit.model, table.classes, fit.model.features.to_dict(), path, table.keypoints[split.train],
                         novelty=novelty)
            runtime = PoseRuntime(path)
            accuracy = float((runtime.probabilities(test).argmax(1) == labels).mean())
            unknown = {k: float(np.mean([p.label == UNKNOWN for p in runtime.classify_batch(poses)]))
                       for k, poses in others.items()}
            models[norm] = (runtime, model_flops(fit.model), accuracy, unknown, [])
        for r in range(args.repeats):
            for norm, (runtime, flops, _, _, ratios) in models.items():
                over, rate, peak = batch_over_peak(runtime, flops, test, BATCH, args.seconds / PAIRS)
                ratios.append(over)
                print(f"round {r + 1}: {norm}: {over:.3f} of the MatMul peak ({rate / 1e9:.1f} of {peak / 1e9:.1f} GFLOP/s)",
                      file=sys.stderr, flush=True)
    per_clip = "".join(f" {name} ({len(clips[name])}) |" for name in clips)
    print(f"| --norm | test accuracy (fold 0) | clips unknown ({len(others['clips'])} poses) |{per_clip} standing unknown "
          f"({len(others['standing'])}) | batch {BATCH} over the MatMul peak, each round | rounds at least {BATCH_TARGET:g} |")
    print("|---|---:|---:|" + "---:|" * len(clips) + "---:|---|---:|")
    for norm, (_, _, accuracy, unknown, ratios) in models.items():
        print(f"| {norm} | {100 * accuracy:.1f}% | {100 * unknown['clips']:.0f}% |"
              + "".join(f" {100 * unknown[name]:.0f}% |" for name in clips)
              + f" {100 * unknown['standing']:.0f}% | {', '.join(f'{x:.2f}' for x in ratios)} | "
              f"{sum(x >= BATCH_TARGET for x in ratios)} of {len(ratios)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

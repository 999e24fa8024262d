"""Rebuild the shipped model checkpoints/pose_mlp.onnx from the yoga8 photos; same data and seed -> same result.

    .venv/bin/python scripts/train_default_model.py                 # extracts ../shared/data/yoga8 first
    .venv/bin/python scripts/train_default_model.py --table poses.csv

Steps: (1) BlazePose keypoints of every photo (skipped with --table); (2) 5-fold stratified group
cross-validation of the MLP with the project's seeded splits, keeping every pose's out-of-fold
probabilities; (3) the evaluation behind the "unknown" threshold: per threshold on a 0.05 grid,
the share of cross-validation's right answers kept, of its wrong answers rejected, and of poses
of other activities rejected (the squat and plank clips of ../shared/data/video); the shipped
threshold is export.DEFAULT_UNKNOWN_THRESHOLD (0.5, "the best class is more probable than all
others together"), the knee of that table; (4) the shipped model: fold 0's run (its test fold held out)
exported to ONNX with that threshold. Writes checkpoints/pose_mlp.onnx, pose_mlp.split.json (which
photos the shipped model was trained, validated and tested on) and pose_mlp.card.json (the figures
for the README's model card).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from posenet_cls.config import data_dir  # noqa: E402
from posenet_cls.errors import PosenetError  # noqa: E402

GRID = np.round(np.arange(0.0, 1.0, 0.05), 2)


def out_of_fold(table, config) -> tuple[np.ndarray, list[dict], object]:
    """Out-of-fold probabilities (N, C) of the MLP over the seeded K-fold splits, per-fold accuracy, fold 0's model."""
    from posenet_cls.data.splits import make_splits
    from posenet_cls.training.train import fit_mlp, mlp_predict_proba

    classes = table.classes
    y = np.searchsorted(np.asarray(classes), table.labels.astype(str))
    probs = np.zeros((len(table), len(classes)), dtype=np.float32)
    folds, first = [], None
    for i, split in enumerate(make_splits(table, config.folds, config.seed, "table")):
        start = time.perf_counter()
        fit = fit_mlp(table, split, classes, config)
        first = fit.model if first is None else first
        probs[split.test] = mlp_predict_proba(fit.model, table.keypoints[split.test])
        acc = float((probs[split.test].argmax(1) == y[split.test]).mean())
        folds.append({"fold": i, "n": int(len(split.test)), "accuracy": round(acc, 4),
                      "epochs": len(fit.history), "seconds": round(time.perf_counter() - start, 1)})
        print(f"  fold {i}: accuracy {acc:.3f} on {len(split.test)} held-out poses ({folds[-1]['seconds']} s)", flush=True)
    return probs, folds, first


def other_activity_poses(video_dir: Path) -> np.ndarray:
    """Poses of activities that are not yoga8 classes (every frame of the squat and plank clips)."""
    from posenet_cls.pose.extract import extract_video

    poses = [fp.keypoints for clip in sorted(video_dir.glob("*.mp4")) for fp in extract_video(clip)
             if fp.keypoints is not None]
    return np.stack(poses) if poses else np.zeros((0, 33, 4), np.float32)


def threshold_table(probs: np.ndarray, y: np.ndarray, other: np.ndarray | None) -> list[dict]:
    """Per candidate threshold: share of right answers kept, accuracy of what is answered, share of wrong and other-activity poses rejected."""
    top, conf = probs.argmax(1), probs.max(1)
    right = top == y
    rows = []
    for t in GRID:
        answered = conf >= t
        row = {
            "threshold": float(t),
            "answered": round(float(answered.mean()), 4),
            "right_kept": round(float((answered & right).sum() / max(right.sum(), 1)), 4),
            "accuracy_answered": round(float(right[answered].mean()) if answered.any() else 1.0, 4),
            "wrong_rejected": round(float((~answered & ~right).sum() / max((~right).sum(), 1)), 4),
        }
        if other is not None and len(other):
            row["other_activity_rejected"] = round(float((other.max(1) < t).mean()), 4)
        rows.append(row)
    return rows


def strip_machine_paths(onnx_path: Path) -> None:
    """Keep only the file name of the training table in the shipped model's metadata (no paths of this machine)."""
    import onnx

    from posenet_cls.runtime import METADATA_KEY

    proto = onnx.load(str(onnx_path))
    entry = next(e for e in proto.metadata_props if e.key == METADATA_KEY)
    meta = json.loads(entry.value)
    if (meta.get("run") or {}).get("table"):
        meta["run"]["table"] = Path(meta["run"]["table"]).name
    entry.value = json.dumps(meta)
    tmp = onnx_path.with_name(onnx_path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(onnx_path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(data_dir() / "yoga8"), help="class-folder photos (default ../shared/data/yoga8)")
    p.add_argument("--table", help="use this keypoint table instead of extracting --data")
    p.add_argument("--videos", default=str(data_dir() / "video"), help="clips of other activities for the threshold check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "checkpoints"), help="folder for pose_mlp.onnx and its files")
    p.add_argument("--work", default=str(ROOT / "runs" / "default_model"), help="folder for the table and the run")
    args = p.parse_args()

    from posenet_cls.data.dataset import build_dataset
    from posenet_cls.training.export import DEFAULT_UNKNOWN_THRESHOLD, export_run
    from posenet_cls.runtime import PoseRuntime
    from posenet_cls.data.table import read_table
    from posenet_cls.training.train import TrainConfig, quiet_lightning, train_run

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    table_path = Path(args.table) if args.table else work / "poses.csv"
    if not args.table:
        print(f"[1/4] extracting {args.data} -> {table_path}", flush=True)
        report = build_dataset(args.data, table_path)
        print(f"  {report.poses} poses from {report.files} photos", flush=True)
    table = read_table(table_path)
    config = TrainConfig(model="mlp", seed=args.seed)
    classes = table.classes
    y = np.searchsorted(np.asarray(classes), table.labels.astype(str))

    print(f"[2/4] {config.folds}-fold cross-validation of the MLP (seed {config.seed})", flush=True)
    with quiet_lightning():
        probs, folds, fold0_model = out_of_fold(table, config)
    cv_acc = float((probs.argmax(1) == y).mean())
    fold_acc = np.array([f["accuracy"] for f in folds])
    print(f"  cross-validated accuracy {cv_acc:.4f} (folds: mean {fold_acc.mean():.4f}, sd {fold_acc.std():.4f})")

    print("[3/4] unknown threshold from the out-of-fold probabilities", flush=True)
    video_dir = Path(args.videos)
    other = None
    if video_dir.is_dir():
        from posenet_cls.training.train import mlp_predict_proba

        # Scored by fold 0's model, the one that is shipped (none of the fold models saw these poses).
        other_poses = other_activity_poses(video_dir)
        other = mlp_predict_proba(fold0_model, other_poses) if len(other_poses) else None
    rows = threshold_table(probs, y, other)
    chosen = DEFAULT_UNKNOWN_THRESHOLD
    for r in rows:
        if 0.3 <= r["threshold"] <= 0.9:
            print("  " + "  ".join(f"{k} {v}" for k, v in r.items()) + ("   <- shipped" if r["threshold"] == chosen else ""))

    print("[4/4] training the shipped model (fold 0's split) and exporting it", flush=True)
    run_dir = work / "run"
    with quiet_lightning():
        metrics = train_run(table_path, run_dir, config)
    onnx_path = out / "pose_mlp.onnx"
    export = export_run(run_dir, onnx_path, table=table_path, unknown_threshold=chosen)
    strip_machine_paths(onnx_path)
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    split["table"] = table_path.name  # no machine-specific paths in shipped files
    (out / "pose_mlp.split.json").write_text(json.dumps(split, indent=1), encoding="utf-8")
    runtime = PoseRuntime(onnx_path)
    card = {
        "model": "pose_mlp.onnx",
        "classes": classes,
        "data": {"photos": Path(args.data).name, "poses": len(table), "table": table_path.name},
        "train_config": config.to_dict(),
        "cross_validation": {"folds": folds, "accuracy": round(cv_acc, 4),
                             "fold_mean": round(float(fold_acc.mean()), 4), "fold_sd": round(float(fold_acc.std()), 4)},
        "shipped_model": {"split": metrics["split"], "test_accuracy": metrics["test"]["accuracy"],
                          "test_macro_f1": metrics["test"].get("macro_f1"),
                          "best_epoch": metrics["training"]["best_epoch"]},
        "novelty": metrics["novelty"],
        "unknown_threshold": {"value": chosen, "rule": "best class more probable than all others together; see table",
                              "other_activity_poses": 0 if other is None else len(other), "table": rows},
        "export": {"bytes": export.size_bytes, "max_abs_diff_vs_torch": export.max_abs_diff,
                   "poses_checked": export.poses_checked},
        "runtime_classes": list(runtime.classes),
    }
    (out / "pose_mlp.card.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    print(f"  shipped model: test accuracy {metrics['test']['accuracy']:.4f} on {metrics['split']['test']} held-out poses")
    print(f"  wrote {onnx_path} ({export.size_bytes / 1024:.0f} KiB), {out / 'pose_mlp.split.json'}, {out / 'pose_mlp.card.json'}")
    print(f"  onnxruntime vs torch: max abs difference {export.max_abs_diff:.2e} on {export.poses_checked} poses")
    nov = metrics["novelty"]
    print(f"  novelty threshold {nov['threshold']:.3f} (quantile {nov['quantile']} of validation poses); "
          f"held-out test poses under it: {nov['test_accepted']:.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PosenetError as e:
        print(f"train_default_model: error: {e}", file=sys.stderr)
        sys.exit(1)

"""Rebuild the shipped model checkpoints/pose_mlp.onnx from the yoga8 photos; same data and seed -> same result.

    .venv/bin/python scripts/train_default_model.py                 # extracts ../shared/data/yoga8 first
    .venv/bin/python scripts/train_default_model.py --table poses.csv

Steps: (1) BlazePose keypoints of every photo (skipped with --table); (2) 5-fold stratified group
cross-validation of the MLP with the project's seeded splits, keeping every pose's out-of-fold
probabilities and novelty as it is and shifted (training.metrics.shifted, at full strength and at
the calibration strength the thresholds are fitted at); (3) the shipped model: fold 0's run (its
test fold held out) exported to ONNX with the probability threshold export.DEFAULT_UNKNOWN_THRESHOLD
(0.5, "the best class is more probable than all others together"); (4) the evaluation behind the
"unknown" rules: per probability threshold on a 0.05 grid, with each fold's novelty rule, the share
of right answers still answered (in-set, shifted, calibration strength), of wrong answers rejected,
and of poses of other activities called unknown (the squat and plank clips of ../shared/data/video,
by the shipped model). Writes checkpoints/pose_mlp.onnx, pose_mlp.split.json (which photos the
shipped model was trained, validated and tested on) and pose_mlp.card.json (the figures for the
README's model card).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from posenet_cls.config import data_dir  # noqa: E402
from posenet_cls.errors import PosenetError  # noqa: E402

GRID = np.round(np.arange(0.0, 1.0, 0.05), 2)


def turned_around(keypoints: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses seen from the other side (the camera walked round by 180 degrees about the vertical): world x and z
    negated; image x mirrored about the hips without swapping left and right, image z negated."""
    from posenet_cls.features import HIPS

    kp, w = keypoints.copy(), world.copy()
    hips = kp[:, HIPS, :3].mean(axis=1, keepdims=True)
    kp[..., 0] = 2 * hips[..., 0] - kp[..., 0]
    kp[..., 2] = 2 * hips[..., 2] - kp[..., 2]
    w[..., 0], w[..., 2] = -w[..., 0], -w[..., 2]
    return kp, w


def out_of_fold(table, config) -> tuple[dict, list[dict], object]:
    """Out-of-fold figures of the MLP over the seeded K-fold splits: probabilities (N, C) and novelty of every pose
    as it is, of SHIFT_DRAWS shifted copies (full strength, seen from behind, and the calibration strength) and turned
    by 180 degrees, with their labels and each fold's novelty threshold; per-fold accuracy; fold 0's model."""
    from posenet_cls.data.splits import make_splits
    from posenet_cls.training.metrics import CALIBRATION_STRENGTH, behind, shifted, shifted_copies
    from posenet_cls.training.novelty import score
    from posenet_cls.training.train import fit_mlp, fit_split_novelty, mlp_predict_proba, model_world

    classes = table.classes
    y = np.searchsorted(np.asarray(classes), table.labels.astype(str))
    world = model_world(table, config)
    views = {"in-set": lambda kp, w, rng: (kp, w), "shifted": lambda kp, w, rng: shifted_copies(shifted, kp, w, rng),
             "behind": lambda kp, w, rng: shifted_copies(behind, kp, w, rng),
             "calibration": lambda kp, w, rng: shifted_copies(lambda p, r: shifted(p, r, strength=CALIBRATION_STRENGTH),
                                                              kp, w, rng),
             "turned": lambda kp, w, rng: turned_around(kp, w)}
    oof = {v: {"probs": [], "novelty": [], "threshold": [], "y": []} for v in views}
    folds, first = [], None
    for i, split in enumerate(make_splits(table, config.folds, config.seed, "table")):
        start = time.perf_counter()
        fit = fit_mlp(table, split, classes, config)
        novelty = fit_split_novelty(fit.model, table, split, classes, config)
        first = fit.model if first is None else first
        rng = np.random.default_rng(1000 + i)
        row = {"fold": i, "n": int(len(split.test))}
        for view, seen in views.items():
            poses, w = seen(table.keypoints[split.test], world[split.test], rng)
            labels = np.tile(y[split.test], len(poses) // len(split.test))
            probs = mlp_predict_proba(fit.model, poses, w)
            for key, value in (("probs", probs), ("novelty", score(novelty, poses, probs.argmax(1), w)),
                               ("threshold", np.full(len(poses), novelty.threshold)), ("y", labels)):
                oof[view][key].append(value)
            row[view] = round(float((probs.argmax(1) == labels).mean()), 4)
        row.update(epochs=len(fit.history), seconds=round(time.perf_counter() - start, 1))
        folds.append(row)
        print(f"  fold {i}: accuracy {row['in-set']:.3f} on {len(split.test)} held-out poses, {row['shifted']:.3f} shifted, "
              f"{row['behind']:.3f} from behind, {row['turned']:.3f} turned 180 degrees ({row['seconds']} s)", flush=True)
    return {v: {k: np.concatenate(a) for k, a in d.items()} for v, d in oof.items()}, folds, first


def clip_poses(video_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per clip of ``video_dir`` (by file stem, sorted), the poses and world landmarks of its frames with a person."""
    from posenet_cls.pose.extract import extract_video

    clips = {}
    for clip in sorted(video_dir.glob("*.mp4")):
        frames = [fp for fp in extract_video(clip) if fp.keypoints is not None]
        clips[clip.stem] = (np.stack([f.keypoints for f in frames]).reshape(-1, 33, 4),
                            np.stack([f.world for f in frames]).reshape(-1, 33, 3))
    return clips


def other_activity_poses(video_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Poses and world landmarks of activities that are not yoga8 classes (every frame of the squat and plank clips)."""
    clips = list(clip_poses(video_dir).values())
    if not clips:
        return np.zeros((0, 33, 4), np.float32), np.zeros((0, 33, 3), np.float32)
    return np.concatenate([c[0] for c in clips]), np.concatenate([c[1] for c in clips])


def threshold_table(oof: dict, other: np.ndarray | None) -> list[dict]:
    """Per candidate probability threshold, with each fold's novelty rule too: of right answers the share still
    answered, in-set and shifted (calibration strength and full); of wrong ones the share rejected; of other
    activities' poses the share called unknown."""
    rows = []
    for t in GRID:
        row = {"threshold": float(t)}
        for view, d in oof.items():
            right = d["probs"].argmax(1) == d["y"]
            answered = (d["probs"].max(1) >= t) & (d["novelty"] <= d["threshold"])
            row[f"right_kept_{view}"] = round(float((answered & right).sum() / max(right.sum(), 1)), 4)
            if view == "in-set":
                row["wrong_rejected_in-set"] = round(float((~answered & ~right).sum() / max((~right).sum(), 1)), 4)
        if other is not None and len(other[0]):
            probs, novel = other
            row["other_activity_rejected"] = round(float(((probs.max(1) < t) | novel).mean()), 4)
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
    p.add_argument("--outliers", type=float, nargs=2, metavar=("SHARE", "WEIGHT"),
                   help="outlier exposure: recombined poses per batch and their loss weight (default TrainConfig's; "
                        "0 0: off); give --out elsewhere to compare without replacing the shipped model")
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
    if args.outliers:
        config = replace(config, outliers=args.outliers[0], outlier_weight=args.outliers[1])
    classes = table.classes

    print(f"[2/4] {config.folds}-fold cross-validation of the MLP (seed {config.seed}), in-set and shifted", flush=True)
    with quiet_lightning():
        oof, folds, _ = out_of_fold(table, config)
    accuracy = {v: round(float((d["probs"].argmax(1) == d["y"]).mean()), 4) for v, d in oof.items()}
    fold_acc = np.array([f["in-set"] for f in folds])
    print(f"  cross-validated accuracy {accuracy['in-set']:.4f} (folds: mean {fold_acc.mean():.4f}, sd {fold_acc.std():.4f}); "
          f"shifted {accuracy['shifted']:.4f}, from behind {accuracy['behind']:.4f}, turned 180 degrees "
          f"{accuracy['turned']:.4f}, at the calibration strength {accuracy['calibration']:.4f}")

    print("[3/4] training the shipped model (fold 0's split) and exporting it", flush=True)
    run_dir = work / "run"
    with quiet_lightning():
        metrics = train_run(table_path, run_dir, config)
    onnx_path = out / "pose_mlp.onnx"
    chosen = DEFAULT_UNKNOWN_THRESHOLD
    export = export_run(run_dir, onnx_path, table=table_path, unknown_threshold=chosen)
    strip_machine_paths(onnx_path)

    print("[4/4] the unknown rules on the out-of-fold poses and on other activities", flush=True)
    runtime = PoseRuntime(onnx_path)
    video_dir = Path(args.videos)
    other = None
    if video_dir.is_dir():
        other_poses, other_world = other_activity_poses(video_dir)  # never trained on: scored by the shipped model
        if len(other_poses):
            probs, novelty = runtime.scores(other_poses, other_world)
            other = (probs, novelty > runtime.novelty_threshold)
    rows = threshold_table(oof, other)
    for r in rows:
        if 0.3 <= r["threshold"] <= 0.9:
            print("  " + "  ".join(f"{k} {v}" for k, v in r.items()) + ("   <- shipped" if r["threshold"] == chosen else ""))
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    split["table"] = table_path.name  # no machine-specific paths in shipped files
    (out / "pose_mlp.split.json").write_text(json.dumps(split, indent=1), encoding="utf-8")
    card = {
        "model": "pose_mlp.onnx",
        "classes": classes,
        "data": {"photos": Path(args.data).name, "poses": len(table), "table": table_path.name},
        "train_config": config.to_dict(),
        "cross_validation": {"folds": folds, "accuracy": accuracy["in-set"], "shifted_accuracy": accuracy["shifted"],
                             "behind_accuracy": accuracy["behind"], "turned_accuracy": accuracy["turned"],
                             "calibration_accuracy": accuracy["calibration"],
                             "fold_mean": round(float(fold_acc.mean()), 4), "fold_sd": round(float(fold_acc.std()), 4)},
        "shipped_model": {"split": metrics["split"], "test_accuracy": metrics["test"]["accuracy"],
                          "test_macro_f1": metrics["test"].get("macro_f1"),
                          "best_epoch": metrics["training"]["best_epoch"]},
        "novelty": metrics["novelty"],
        "unknown_threshold": {"value": chosen, "rule": "best class more probable than all others together; see table",
                              "other_activity_poses": 0 if other is None else len(other[0]), "table": rows},
        "export": {"bytes": export.size_bytes, "max_abs_diff_vs_torch": export.max_abs_diff,
                   "novelty_max_abs_diff_vs_numpy": export.novelty_max_abs_diff, "poses_checked": export.poses_checked},
        "runtime_classes": list(runtime.classes),
    }
    (out / "pose_mlp.card.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    print(f"  shipped model: test accuracy {metrics['test']['accuracy']:.4f} on {metrics['split']['test']} held-out poses")
    print(f"  wrote {onnx_path} ({export.size_bytes / 1024:.0f} KiB), {out / 'pose_mlp.split.json'}, {out / 'pose_mlp.card.json'}")
    print(f"  onnxruntime vs torch: max abs difference {export.max_abs_diff:.2e} on {export.poses_checked} poses; "
          f"novelty vs numpy {export.novelty_max_abs_diff:.2e}")
    nov = metrics["novelty"]
    print(f"  novelty threshold {nov['threshold']:.3f} ({nov['margin']} x the {nov['quantile']} quantile of the right answers on shifted validation poses); "
          f"held-out test poses under it: {nov['test_accepted']:.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PosenetError as e:
        print(f"train_default_model: error: {e}", file=sys.stderr)
        sys.exit(1)

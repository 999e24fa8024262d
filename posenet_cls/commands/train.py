"""``posenet-cls train``: train the MLP or a baseline on a keypoint table, or cross-validate it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from posenet_cls.commands._parsing import add_command
from posenet_cls.errors import PosenetError

EXAMPLES = """\
  posenet-cls train poses.csv -o runs/mlp                        # MLP, fold 0 of 5 held out for testing
  posenet-cls train poses.csv --model svc -o runs/svc            # baselines: svc, svc-poly (article), knn, softvote
  posenet-cls train poses.csv --cv 5 -o runs/mlp-cv              # 5-fold cross-validation -> cv.json
  posenet-cls train poses.csv --seed 1 --epochs 60 --json        # another seed, at most 60 epochs, JSON out
  posenet-cls train poses.csv --no-mirror --rotate 0 -o runs/x   # change the augmentations
  posenet-cls train poses.csv --features offsets -o runs/image   # image landmarks only (the model before issue 28)
  posenet-cls train poses.csv --norm batch -o runs/bn            # BatchNorm: a faster exported graph
  posenet-cls train shards.parquet -o runs/mlp                   # a Parquet table or shard folder
  posenet-cls train poses.parquet --devices 4 --strategy ddp     # MLP on 4 GPUs (DDP; CPU processes without GPUs)

RUN_DIR gets model.ckpt (MLP, best by validation loss; sklearn models: model.joblib, a pickle:
load only files you made), split.json (train/val/test photos), metrics.json, confusion.png,
and for the MLP curves.png and baseline_svc.joblib (an SVC on the same split, for 'evaluate').
"""


def _feature_choices() -> dict:
    """--features: the name of each feature view a user can train on."""
    from posenet_cls.features import FeatureConfig
    from posenet_cls.training.train import DEFAULT_FEATURES, IMAGE_FEATURES

    return {"world": DEFAULT_FEATURES, "offsets": IMAGE_FEATURES, "landmarks": FeatureConfig()}


def register(sub) -> None:
    MODEL_NAMES = ("mlp", "svc", "svc-poly", "knn", "softvote", "logreg")  # posenet_cls.training.models.MODEL_NAMES, without importing torch

    p = add_command(sub, "train", "Train a pose classifier (MLP or a baseline) on a keypoint table.", EXAMPLES)
    p.add_argument("table", help="keypoint table (.csv, .parquet or a folder of shards) made by 'posenet-cls extract'")
    p.add_argument("--model", default="mlp", help=f"{', '.join(MODEL_NAMES)} (default mlp)")
    p.add_argument("-o", "--out", metavar="RUN_DIR", help="run directory to write (default runs/<model>)")
    p.add_argument("--cv", type=int, metavar="K", help="K-fold stratified cross-validation instead of one run")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, initialisation and augmentation (default 0)")
    p.add_argument("--epochs", type=int, default=150, help="MLP: most epochs; early stopping may end sooner (default 150)")
    p.add_argument("--hidden", type=int, nargs="+", metavar="H", help="MLP: hidden layer sizes (default 64 32)")
    p.add_argument("--norm", choices=("layer", "batch", "none"),
                   help="MLP: the layer after each hidden Linear: layer (LayerNorm, default), batch (BatchNorm, folded "
                        "into the layers at export: a faster graph, a weaker 'unknown') or none")
    p.add_argument("--folds", type=int, default=5, help="one run: the test set is one of this many folds (default 5)")
    p.add_argument("--fold", type=int, default=0, help="one run: which fold is the test set (default 0)")
    # Augmentation defaults are posenet_cls.training.train.DEFAULT_AUGMENT (not imported here: it needs torch).
    p.add_argument("--no-mirror", action="store_true", help="MLP/SVC: do not augment with mirrored poses")
    p.add_argument("--rotate", type=float, metavar="DEG", help="MLP: random rotations up to DEG degrees (default 10; 0: off)")
    p.add_argument("--scale", type=float, metavar="S", help="MLP: per-axis scale jitter exp(U(-S, S)) (default 0: off)")
    p.add_argument("--drop", type=float, metavar="P", help="MLP: drop low-visibility joints with probability P (default 0: off)")
    p.add_argument("--turn", type=float, nargs=2, metavar=("YAW", "PITCH"),
                   help="MLP: camera turned up to YAW degrees about the vertical, PITCH about the horizontal (default 60 20)")
    p.add_argument("--limbs", type=float, metavar="S", help="MLP: torso and limb lengths x exp(U(-S, S)) (default 0.15)")
    p.add_argument("--features", choices=("world", "offsets", "landmarks"), default="world",
                   help="MLP: world landmarks in the body's frame, the same from any side (default; the table needs "
                        "world columns); image landmarks as MediaPipe's pairwise offsets, or normalised x, y, z, visibility")
    p.add_argument("--outliers", type=float, metavar="S",
                   help="MLP on the world view: poses of no class (limbs of other classes on a pose's torso) added per "
                        "batch, S times its size, trained towards no answer; what makes 'unknown' work (default 1; 0: off)")
    p.add_argument("--devices", type=int, default=1, help="MLP: GPUs (or CPU processes) to train on (default 1)")
    p.add_argument("--strategy", default="auto", help="MLP: Lightning strategy; ddp with --devices > 1 (default auto)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from posenet_cls.training.train import DEFAULT_AUGMENT, TrainConfig, train_run

    d = DEFAULT_AUGMENT
    augment = replace(d, mirror=0.0 if args.no_mirror else d.mirror,
                      rotate_deg=d.rotate_deg if args.rotate is None else args.rotate,
                      scale=d.scale if args.scale is None else args.scale,
                      drop=d.drop if args.drop is None else args.drop,
                      yaw_deg=d.yaw_deg if args.turn is None else args.turn[0],
                      pitch_deg=d.pitch_deg if args.turn is None else args.turn[1],
                      limbs=d.limbs if args.limbs is None else args.limbs)
    config = TrainConfig(model=args.model, seed=args.seed, epochs=args.epochs, augment=augment,
                         folds=args.cv or args.folds, fold=0 if args.cv else args.fold,
                         devices=args.devices, strategy=args.strategy,
                         features=_feature_choices()[args.features],
                         outliers=TrainConfig.outliers if args.outliers is None else args.outliers)
    if args.hidden:
        config = replace(config, hidden=tuple(args.hidden))
    if args.norm:
        config = replace(config, norm=args.norm)
    config.check()
    if config.devices > 1 and (args.cv or args.model != "mlp"):
        raise PosenetError(f"--devices {config.devices}: multi-device training is for one MLP run, not --cv or baselines")
    out = Path(args.out or f"runs/{args.model}" + ("-cv" if args.cv else ""))
    interactive = sys.stderr.isatty() and not args.json
    if args.cv:
        return _cv(args, config, out, interactive)
    metrics = train_run(args.table, out, config, progress=interactive)
    if args.json:
        print(json.dumps(metrics))
        return 0
    test = metrics["test"]
    print(f"{args.model}: test accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f} "
          f"on {test['n']} held-out poses (train {metrics['split']['train']}, val {metrics['split']['val']})")
    if "training" in metrics:
        t = metrics["training"]
        print(f"  {t['epochs_run']} epochs in {metrics['fit_seconds']:.1f} s, kept epoch {t['best_epoch']}; "
              f"SVC baseline {metrics['baseline_svc']['accuracy']:.3f}, MLP/SVC agree on {metrics['agreement_mlp_svc']:.1%}")
    rob = metrics["robustness"]
    print("  held-out poses mirrored / rotated / stretched: " + " / ".join(f"{rob[k]:.3f}" for k in ("mirrored", "rotated", "stretched")))
    print(f"run directory: {out}\nnext: posenet-cls evaluate {out}")
    return 0


def _cv(args, config, out: Path, interactive: bool) -> int:
    from tqdm import tqdm

    from posenet_cls.training.plots import plot_confusion
    from posenet_cls.data.table import read_table
    from posenet_cls.training.train import cross_validate

    table = read_table(args.table)
    bar = lambda it: tqdm(it, total=config.folds, desc=f"cv {args.model}", unit="fold", disable=not interactive)  # noqa: E731
    result = cross_validate(table, config, (args.model,), progress=bar, what=args.table)
    out.mkdir(parents=True, exist_ok=True)
    summary = result["models"][args.model]
    (out / "cv.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot_confusion(summary["confusion"], result["classes"], out / "cv_confusion.png",
                   f"{args.model}, {config.folds}-fold CV: accuracy {summary['accuracy']['mean']:.3f} (pooled)")
    if args.json:
        print(json.dumps(result))
        return 0
    acc, f1 = summary["accuracy"], summary["macro_f1"]
    print(f"{args.model}, {config.folds}-fold CV on {result['n']} poses: accuracy {acc['mean']:.3f} ± {acc['std']:.3f}, "
          f"macro-F1 {f1['mean']:.3f} ± {f1['std']:.3f}")
    print("  per fold: " + ", ".join(f"{r['accuracy']:.3f}" for r in summary["folds"]))
    print(f"written: {out / 'cv.json'}, {out / 'cv_confusion.png'}")
    return 0

"""Print the K-fold cross-validation table of all models (and, with --ablation, the MLP's augmentation study).

    python scripts/cv_table.py poses.csv                 # mlp, svc, svc-poly (article), knn; 5 folds
    python scripts/cv_table.py poses.csv --ablation      # the default MLP with one augmentation or feature changed
    python scripts/cv_table.py poses.csv --recipes --seeds 0 1 2  # features, turns, ensembles (issue 15)
    python scripts/cv_table.py poses.csv --json cv.json  # also write every figure as JSON
    python scripts/cv_table.py poses.csv --seeds 0 1 2   # repeated CV: three different splits, pooled
    python scripts/cv_table.py poses.csv --hidden 128 64 # another MLP size
    python scripts/cv_table.py poses.csv --facing        # in-set CV beside the facing split, every model

All models see the same seeded, stratified splits that keep byte-identical photos on one side.
"Shifted": accuracy on the held-out fold as another photo source would show it (people of other
proportions, camera yaw +-45, pitch +-20, roll +-10 degrees, framing x0.83-1.2, far-side limbs
guessed, 20% with the feet cropped, depth and visibility guessed otherwise; five copies of each
pose: posenet_cls.training.metrics.shifted); "wide": the same with the yaw up to +-90; "behind": the same
seen from the person's other side (the camera turned 90-180 degrees) with BlazePose's left/right label
swap in half of them (metrics.behind). In-set CV
alone has proved misleading here. "Mirrored", "rotated", "stretched": the held-out fold seen in a
mirror, rotated by 10-20 degrees, or with its aspect ratio changed by x0.8-1.25.
"Facing split" (--facing): trained on the poses seen from the front (the person's left at the image's
right), tested on those seen from the back, and the other way round (posenet_cls.data.splits.facing_splits):
a pose photographed from the other side is the same pose, and mirroring cannot make that side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from posenet_cls.errors import PosenetError  # noqa: E402
from posenet_cls.training.metrics import summarize_folds  # noqa: E402
from posenet_cls.features import AugmentConfig, FeatureConfig  # noqa: E402
from posenet_cls.data.splits import facing_splits, make_splits  # noqa: E402
from posenet_cls.data.table import read_table  # noqa: E402
from posenet_cls.training.train import DEFAULT_AUGMENT, DEFAULT_FEATURES, TrainConfig, cross_validate  # noqa: E402

# Around the default recipe (DEFAULT_FEATURES, DEFAULT_AUGMENT): one change per row.
ABLATION = {
    "default: mirror + rotate 10° + turn 60°/20° + limbs 0.15": DEFAULT_AUGMENT,
    "without mirroring": replace(DEFAULT_AUGMENT, mirror=0.0),
    "without the turn": replace(DEFAULT_AUGMENT, yaw_deg=0.0, pitch_deg=0.0),
    "without limb lengths": replace(DEFAULT_AUGMENT, limbs=0.0),
    "turn 30°/15° instead": replace(DEFAULT_AUGMENT, yaw_deg=30.0, pitch_deg=15.0),
    "turn 90°/20° instead": replace(DEFAULT_AUGMENT, yaw_deg=90.0),
    "+ per-axis scale 0.1": replace(DEFAULT_AUGMENT, scale=0.1),
}
FEATURE_ABLATION = {  # with the default augmentations
    "default, offsets with z at full weight": replace(DEFAULT_FEATURES, z_weight=1.0),
    "default, offsets without z": replace(DEFAULT_FEATURES, z_weight=0.0),
}
NORM_ABLATION = {  # the layer after each hidden Linear (default LayerNorm)
    "BatchNorm instead of LayerNorm (folded into the layers at export)": "batch",
    "no normalisation layer": "none",
}
# The recipe study of issue 15: features, augmentation, ensembles and mirror averaging, chosen by shifted figures.
OLD = AugmentConfig(mirror=0.5, rotate_deg=10.0)
TURNED = replace(OLD, yaw_deg=60.0, pitch_deg=20.0, limbs=0.15)
XYZV, XY = FeatureConfig(), FeatureConfig(use_z=False, use_visibility=False)
OFFSETS = FeatureConfig(view="offsets", z_weight=0.2)
RECIPES = {
    "A. x, y, z, visibility; mirror + rotate 10° (the old default)": dict(features=XYZV, augment=OLD),
    "B. A + turn 60°/20° + limb lengths 0.15": dict(features=XYZV, augment=TURNED),
    "C. x, y; augmented as B": dict(features=XY, augment=TURNED),
    "D. pairwise offsets (z x0.2); augmented as B": dict(features=OFFSETS, augment=TURNED),
    "E. ensemble of C and D": dict(members=(OFFSETS, XY), augment=TURNED),
    "F. D + mirror averaging": dict(features=OFFSETS, augment=TURNED, mirror_average=True),
    "G. E + mirror averaging": dict(members=(OFFSETS, XY), augment=TURNED, mirror_average=True),
}


def row(name: str, s: dict) -> str:
    def pct(d):
        return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"

    rob = s["robustness"]
    return (f"| {name} | {pct(s['accuracy'])} | {pct(rob['shifted'])} | {100 * rob['wide']['mean']:.1f} | "
            f"{100 * rob['behind']['mean']:.1f} | {pct(s['macro_f1'])} | "
            f"{100 * rob['mirrored']['mean']:.1f} | {100 * rob['rotated']['mean']:.1f} | {100 * rob['stretched']['mean']:.1f} | "
            f"{s['fit_seconds']['mean']:.2f} |")


HEADER = ("| {} | in-set accuracy % | shifted accuracy % | wide % | behind % | macro-F1 % | mirrored % | rotated % | "
          "stretched % | fit s/fold |\n|---|---|---|---|---|---|---|---|---|---|")


FACING_MODELS = {"mlp": "MLP (posenet-cls: world landmarks, body frame)", "svc": "SVC (rbf) on normalised features",
                 "knn": "k-NN on MediaPipe pose embedding", "logreg": "logistic regression on MediaPipe pose embedding"}


def world_logreg(table, split, seed: int) -> tuple[float, float]:
    """Accuracy on ``split.test`` of logistic regression on the world landmarks' body-frame view, mirror-augmented:
    as they are, and seen from behind (:func:`metrics.behind_world`, SHIFT_DRAWS copies)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from posenet_cls.features import world_view
    from posenet_cls.schema import mirror_world
    from posenet_cls.training.metrics import SHIFT_DRAWS, behind_world

    world = table.require_world("logistic regression on world landmarks")
    train = np.concatenate([split.train, split.val])
    x = np.concatenate([world[train], mirror_world(world[train])])
    y = np.concatenate([table.labels[train], table.labels[train]]).astype(str)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000, random_state=seed))
    model.fit(world_view(x), y)
    truth = table.labels[split.test].astype(str)
    rng = np.random.default_rng(seed)
    turned = np.concatenate([behind_world(world[split.test], rng) for _ in range(SHIFT_DRAWS)])
    return (float((model.predict(world_view(world[split.test])) == truth).mean()),
            float((model.predict(world_view(turned)) == np.tile(truth, SHIFT_DRAWS)).mean()))


def facing_table(table, base: TrainConfig, seeds: list[int], what: str) -> str:
    """The markdown table of in-set CV accuracy and its "behind" shift beside the facing split's two directions."""
    from posenet_cls.training.train import IMAGE_FEATURES

    world_name = "logistic regression on world landmarks (body frame)"
    image_name = "MLP on image landmarks (the model before issue 28)"
    rows: dict[str, list[list[float]]] = {name: [[], [], [], []]
                                          for name in [*FACING_MODELS.values(), image_name, world_name]}
    for seed in seeds:
        config = replace(base, seed=seed)
        splits = {"in-set": make_splits(table, config.folds, seed, what), **{k: [v] for k, v in facing_splits(table, seed).items()}}
        for column, (name, parts) in zip((0, 2, 3), splits.items()):
            out = cross_validate(table, config, tuple(FACING_MODELS), what=what, splits=parts)["models"]
            image = cross_validate(table, replace(config, features=IMAGE_FEATURES), ("mlp",), what=what, splits=parts)
            for label, folds in [*((label, out[m]["folds"]) for m, label in FACING_MODELS.items()),
                                 (image_name, image["models"]["mlp"]["folds"])]:
                rows[label][column] += [f["accuracy"] for f in folds]
                if column == 0:
                    rows[label][1] += [f["robustness"]["behind"] for f in folds]
            world = [world_logreg(table, split, seed + i) for i, split in enumerate(parts)]
            rows[world_name][column] += [w[0] for w in world]
            if column == 0:
                rows[world_name][1] += [w[1] for w in world]
    sides = facing_splits(table, seeds[0])
    lines = ["| model | in-set CV % | behind % | facing split front->back % | back->front % |", "|---|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(f"{100 * np.mean(v):.1f}" for v in cells) + " |" for name, cells in rows.items()]
    lines.append(f"\n{len(table)} poses; front->back tests {len(sides['front->back'].test)} poses, back->front "
                 f"{len(sides['back->front'].test)} (classes with at least 3 training poses on the side); "
                 f"{base.folds}-fold CV, seed(s) {' '.join(map(str, seeds))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", help="keypoint table (.csv) made by 'posenet-cls extract'")
    p.add_argument("--cv", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="split and training seeds; several pool their folds (default 0)")
    p.add_argument("--ablation", action="store_true", help="instead: the default MLP with one augmentation or feature changed")
    p.add_argument("--recipes", action="store_true", help="instead: the recipe study (features, turns, ensembles, "
                   "mirror averaging) and the scikit-learn soft-vote anchor")
    p.add_argument("--facing", action="store_true", help="instead: in-set CV beside the facing split (train on poses "
                   "seen from one side, test on the other), every model and logistic regression on world landmarks")
    p.add_argument("--hidden", type=int, nargs="+", help="the MLP's hidden layer sizes (default: TrainConfig's)")
    p.add_argument("--json", help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    from tqdm import tqdm

    try:
        table = read_table(args.table)
        results = {}
        start = time.perf_counter()

        def cv(config, models, desc):
            folds: dict[str, list] = {m: [] for m in models}
            for seed in args.seeds:
                bar = lambda it: tqdm(it, total=args.cv, desc=f"{desc} seed {seed}", unit="fold", leave=False, disable=None)  # noqa: E731
                out = cross_validate(table, replace(config, seed=seed), models, progress=bar, what=args.table)
                for m in models:
                    folds[m] += out["models"][m]["folds"]
            return {m: summarize_folds(f, table.classes) for m, f in folds.items()}

        base = TrainConfig(folds=args.cv)
        if args.hidden:
            base = replace(base, hidden=tuple(args.hidden))
        if args.ablation:
            variants = {k: replace(base, augment=a) for k, a in ABLATION.items()}
            variants.update({k: replace(base, features=f) for k, f in FEATURE_ABLATION.items()})
            variants.update({k: replace(base, norm=n) for k, n in NORM_ABLATION.items()})
            for name, cfg in variants.items():
                results[name] = cv(cfg, ("mlp",), name)["mlp"]
            print(HEADER.format("MLP training variant"))
        elif args.facing:
            print(facing_table(table, base, args.seeds, args.table))
            return 0
        elif args.recipes:
            for name, changes in RECIPES.items():
                results[name] = cv(replace(base, **changes), ("mlp",), name[:2])["mlp"]
            results["anchor: scikit-learn soft vote (embedding LR + x, y, angles MLP; mirrored)"] = cv(
                base, ("softvote",), "anchor")["softvote"]
            print(HEADER.format("recipe"))
        else:
            names = {"mlp": "MLP (posenet-cls)", "softvote": "scikit-learn soft vote (issue 15's anchor)",
                     "svc": "SVC (rbf) on normalised features",
                     "svc-poly": "article: raw coordinates -> SVC(kernel=\"poly\")", "knn": "k-NN on MediaPipe pose embedding"}
            results = {names[m]: s for m, s in cv(base, tuple(names), "cv").items()}
            print(HEADER.format("model"))
        for name, s in results.items():
            print(row(name, s))
        print(f"\n{len(table)} poses, {len(table.classes)} classes, {args.cv}-fold stratified group CV, seed(s) {' '.join(map(str, args.seeds))}; "
              f"{time.perf_counter() - start:.0f} s in all")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    except PosenetError as e:
        print(f"cv_table: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluating a run directory on held-out poses, and the leave-one-class-out test of the "unknown" rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posenet_cls.data.table import PoseTable, read_table
from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig
from posenet_cls.schema import SCHEMA_VERSION
from posenet_cls.training.metrics import Predict, classification_report, robustness
from posenet_cls.training.plots import plot_confusion




# --- run directories ------------------------------------------------------------------------------


def load_run_model(run_dir: str | Path, name: str = "model") -> tuple[Predict, dict]:
    """The predictor ((raw poses, world landmarks or None) -> class indices) and meta of a run's ``model.ckpt`` /
    ``<name>.joblib``."""
    run = Path(run_dir)
    if name == "model" and (run / "model.ckpt").is_file():
        from posenet_cls.training.checkpoint import load_checkpoint
        from posenet_cls.training.train import mlp_predict_proba

        model, meta = load_checkpoint(run / "model.ckpt")
        return (lambda kp, world: mlp_predict_proba(model, kp, world).argmax(axis=1)), meta
    path = run / f"{name}.joblib"
    if not path.is_file():
        raise PosenetError(f"{run}: no model.ckpt or {name}.joblib; is it a run directory made by 'posenet-cls train'?")
    import joblib

    blob = joblib.load(path)  # a pickle: only load run directories you made yourself
    if not isinstance(blob, dict) or "meta" not in blob or "estimator" not in blob:
        raise PosenetError(f"{path}: not a posenet-cls model file")
    meta = blob["meta"]
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise PosenetError(f"{path}: made for landmark schema version {meta.get('schema_version')}, "
                           f"this posenet-cls uses version {SCHEMA_VERSION}; retrain the model")
    classes = np.asarray(meta["classes"])
    est = blob["estimator"]
    return (lambda kp, world: np.searchsorted(classes, est.predict(kp))), meta


def _seen_keys(run: Path) -> tuple[set[str], str | None]:
    """Group keys (sha1 or source) of the photos a run trained or validated on, and its table path."""
    from posenet_cls.data.splits import group_keys

    path = run / "split.json"
    if not path.is_file():
        raise PosenetError(f"{run}: no split.json; is it a run directory made by 'posenet-cls train'?")
    split = json.loads(path.read_text(encoding="utf-8"))
    rows = split["train"] + split["val"]
    table = PoseTable(np.zeros((len(rows), 33, 4), np.float32), np.array([r["label"] for r in rows], dtype=object),
                      np.array([r["source"] for r in rows], dtype=object),
                      np.array([r["sha1"] for r in rows], dtype=object), np.array([""] * len(rows), dtype=object))
    return set(group_keys(table).tolist()), split.get("table")


def evaluate_run(run_dir: str | Path, table_path: str | Path | None = None) -> dict:
    """Evaluate a run on the photos of a table it never trained or validated on (default: its own table's test split).

    Writes ``evaluation/<table>/metrics.json`` and ``confusion.png`` in the run directory and returns the figures.
    For an MLP run the SVC baseline trained on the same split is evaluated too, with how often the two agree.
    """
    from posenet_cls.data.splits import group_keys

    run = Path(run_dir)
    if not run.is_dir():
        raise PosenetError(f"{run}: no such run directory")
    predict, meta = load_run_model(run)
    seen, own_table = _seen_keys(run)
    if table_path is None:
        if not own_table:
            raise PosenetError(f"{run}: split.json names no table; give the table to evaluate on")
        table_path = own_table
    table_path = Path(table_path)
    table = read_table(table_path)
    classes = list(meta["classes"])
    unknown = sorted(set(table.labels.astype(str)) - set(classes))
    if unknown:
        raise PosenetError(f"{table_path}: label '{unknown[0]}' is not one of the model's classes ({', '.join(classes)})")
    keep = np.array([k not in seen for k in group_keys(table)], dtype=bool)
    if not keep.any():
        raise PosenetError(f"{table_path}: every photo in it was used to train or validate this model; nothing to evaluate")
    held = table.subset(keep)
    y = np.searchsorted(np.asarray(classes), held.labels.astype(str))
    reads_world = FeatureConfig.from_dict(meta["features"]).reads_world
    world = held.require_world(f"{table_path}: a model on the world view") if reads_world else None
    pred = predict(held.keypoints, world)
    seed = int(meta.get("run", {}).get("seed", 0))
    result = {
        "run": str(run), "table": str(table_path), "model": meta["model"], "classes": classes,
        "evaluated": int(keep.sum()), "skipped_seen_in_training": int((~keep).sum()),
        "metrics": classification_report(y, pred, classes),
        "robustness": robustness(predict, held.keypoints, y, seed, world),
    }
    if meta["model"] == "mlp" and (run / "baseline_svc.joblib").is_file():
        svc_predict, _ = load_run_model(run, "baseline_svc")
        svc_pred = svc_predict(held.keypoints, None)
        result["baseline_svc"] = classification_report(y, svc_pred, classes)
        result["agreement_mlp_svc"] = float(np.mean(pred == svc_pred))
    out = run / "evaluation" / table_path.stem
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(np.asarray(result["metrics"]["confusion"]), classes, out / "confusion.png",
                   f"{meta['model']} on {table_path.name}: accuracy {result['metrics']['accuracy']:.3f} (n={len(y)})")
    (out / "metrics.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    result["written"] = str(out)
    return result


def leave_one_class_out(table: PoseTable, left_out: str, config, quantiles: tuple[float, ...] = (),
                        margins: tuple[float, ...] = ()) -> dict:
    """Train the MLP without class ``left_out``; how the "unknown" rules treat its poses and the known test poses.

    The novelty threshold is fitted on the validation poses as in training (``config`` is a
    :class:`~posenet_cls.training.train.TrainConfig`); ``quantiles`` adds rows for other threshold quantiles (at
    the shipped margin), ``margins`` rows for other threshold margins (at the shipped quantile).
    Rates: ``left_out_unknown`` (share of the left-out class called unknown, which is right) and
    ``known_accepted`` (share of the known classes' test poses still given a class).
    """
    from posenet_cls.training.export import DEFAULT_UNKNOWN_THRESHOLD as P
    from posenet_cls.training.novelty import DEFAULT_QUANTILE, THRESHOLD_MARGIN, joint_thresholds, score_parts
    from posenet_cls.data.splits import make_splits
    from posenet_cls.training.train import fit_mlp, fit_split_novelty, mlp_predict_proba, model_world

    if left_out not in table.classes:
        raise PosenetError(f"class '{left_out}' is not in the table (classes: {', '.join(table.classes)})")
    known = table.subset(np.flatnonzero(table.labels != left_out))
    out = table.labels == left_out
    world = model_world(table, config)
    other, other_world, known_world = table.keypoints[out], world[out], world[~out]
    classes = known.classes
    split = make_splits(known, config.folds, config.seed, f"table without {left_out}")[config.fold]
    fit = fit_mlp(known, split, classes, config)
    novelty = fit_split_novelty(fit.model, known, split, classes, config)  # thresholds at the shipped quantile
    test_probs = mlp_predict_proba(fit.model, known.keypoints[split.test], known_world[split.test])
    other_probs = mlp_predict_proba(fit.model, other, other_world)
    test_parts = score_parts(novelty, known.keypoints[split.test], test_probs.argmax(1), known_world[split.test])
    other_parts = score_parts(novelty, other, other_probs.argmax(1), other_world)
    rows = []
    settings = [(DEFAULT_QUANTILE, THRESHOLD_MARGIN), *((q, THRESHOLD_MARGIN) for q in quantiles),
                *((DEFAULT_QUANTILE, m) for m in margins)]
    for q, m in settings:
        thresholds = joint_thresholds(novelty.calibration, q) * m  # fit_novelty's rule, same references
        test_novel, other_novel = (test_parts > thresholds).any(1), (other_parts > thresholds).any(1)
        rows.append({"quantile": q, "margin": m, "threshold": round(float(thresholds[0]), 4),
                     "left_out_unknown": round(float(other_novel.mean()), 4),
                     "known_accepted": round(float(1.0 - test_novel.mean()), 4),
                     "left_out_unknown_both": round(float((other_novel | (other_probs.max(1) < P)).mean()), 4),
                     "known_accepted_both": round(float((~test_novel & (test_probs.max(1) >= P)).mean()), 4)})
    return {"left_out": left_out, "n_left_out": int(len(other)), "n_known_test": int(len(split.test)),
            "probability_only": {"left_out_unknown": round(float((other_probs.max(1) < P).mean()), 4),
                                 "known_accepted": round(float((test_probs.max(1) >= P).mean()), 4)},
            "most_often_called": classes[int(np.bincount(other_probs.argmax(1), minlength=len(classes)).argmax())],
            "novelty": rows}

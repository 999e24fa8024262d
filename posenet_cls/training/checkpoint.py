"""Saving and loading models with everything needed to use them: class names, schema, normalisation.

``model.ckpt`` (the MLP) is a plain dict of tensors and JSON-like values, written by ``torch.save`` and
read with ``torch.load(weights_only=True)``: loading runs no pickled code. ``model.joblib`` (the
scikit-learn baselines) is a joblib pickle: like any pickle it can run code when loaded, so load only
files you made yourself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from posenet_cls.io.files import atomic_path
from posenet_cls.errors import PosenetError
from posenet_cls.features import FeatureConfig
from posenet_cls.training.models.mlp import PoseClassifier
from posenet_cls.training.novelty import LearnedSpace, NoveltyModel
from posenet_cls.schema import LANDMARK_NAMES, SCHEMA_VERSION

FORMAT = "posenet-cls-checkpoint"
FORMAT_VERSION = 1
REQUIRED_META = ("classes", "schema_version", "features", "model_args", "model")


def model_meta(model: PoseClassifier, classes: list[str], **extra) -> dict:
    """The meta dict a checkpoint needs for ``model``, plus any JSON-safe ``extra`` entries."""
    return {
        "model": "mlp",
        "classes": [str(c) for c in classes],
        "schema_version": SCHEMA_VERSION,
        "landmarks": list(LANDMARK_NAMES),
        "features": model.features.to_dict(),
        "model_args": dict(model.model_args),
        **extra,
    }


def check_meta(meta: dict, path: str | Path) -> None:
    """Refuse meta that lacks a required entry or was made for another landmark schema."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise PosenetError(f"{path}: checkpoint meta lacks '{missing[0]}'")
    if meta["schema_version"] != SCHEMA_VERSION:
        raise PosenetError(
            f"{path}: made for landmark schema version {meta['schema_version']}, "
            f"this posenet-cls uses version {SCHEMA_VERSION}; retrain the model"
        )
    if "landmarks" in meta and list(meta["landmarks"]) != list(LANDMARK_NAMES):
        raise PosenetError(f"{path}: the checkpoint's landmark names differ from this schema's; retrain the model")
    if not isinstance(meta["classes"], list) or len(meta["classes"]) < 2:
        raise PosenetError(f"{path}: checkpoint meta 'classes' must list at least two class names")


def save_checkpoint(path: str | Path, model: PoseClassifier, meta: dict, novelty: NoveltyModel | None = None) -> None:
    """Write ``model``'s weights, ``meta`` (JSON-safe) and the novelty reference set to ``path`` atomically."""
    path = Path(path)
    meta = json.loads(json.dumps({**meta, **({"novelty": novelty.settings()} if novelty else {})}))
    check_meta(meta, path)
    if len(meta["classes"]) != model.num_classes:
        raise PosenetError(f"{path}: {len(meta['classes'])} class names for a model with {model.num_classes} outputs")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "meta": meta, "state_dict": state}
    if novelty is not None:
        blob["novelty"] = {name: torch.from_numpy(np.ascontiguousarray(getattr(novelty, name)))
                           for name in ("reference", "labels", "scale")}
        if novelty.learned is not None:
            blob["novelty"].update({f"learned.{name}": torch.from_numpy(np.ascontiguousarray(a))
                                    for name, a in novelty.learned.arrays().items()})
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_checkpoint(path: str | Path) -> tuple[PoseClassifier, dict]:
    """The model (eval mode, CPU) and its meta from a checkpoint written by :func:`save_checkpoint`."""
    model, meta, _ = load_checkpoint_full(path)
    return model, meta


def load_checkpoint_full(path: str | Path) -> tuple[PoseClassifier, dict, NoveltyModel | None]:
    """The model, its meta and its novelty model (None for a checkpoint saved without one)."""
    path = Path(path)
    if not path.is_file():
        raise PosenetError(f"{path}: no such checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or foreign files
        raise PosenetError(f"{path}: not a readable posenet-cls checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise PosenetError(f"{path}: not a posenet-cls checkpoint (no '{FORMAT}' marker)")
    meta = blob["meta"]
    check_meta(meta, path)
    if meta["model"] != "mlp":
        raise PosenetError(f"{path}: checkpoint holds model '{meta['model']}', expected 'mlp'")
    features = FeatureConfig.from_dict(meta["features"])
    try:
        model = PoseClassifier(len(meta["classes"]), features, **meta["model_args"])
        # Checkpoints from before ensembles name the one MLP "mlp.*".
        state = {("mlps.0." + k[4:] if k.startswith("mlp.") else k): v for k, v in blob["state_dict"].items()}
        model.load_state_dict(state)
    except (TypeError, RuntimeError) as e:
        raise PosenetError(f"{path}: weights do not fit the model described in its meta ({str(e).splitlines()[0]})") from None
    novelty = None
    if "novelty" in blob and "novelty" in meta:
        settings = meta["novelty"]
        arrays = blob["novelty"]
        learned = None
        if "learned" in settings:
            learned = LearnedSpace.from_parts(settings["learned"], {name[8:]: a.numpy() for name, a in arrays.items()
                                                                    if name.startswith("learned.")})
        novelty = NoveltyModel(arrays["reference"].numpy(), arrays["labels"].numpy(), arrays["scale"].numpy(),
                               int(settings["k"]), float(settings["threshold"]), float(settings["quantile"]),
                               float(settings["torso_multiplier"]), tuple(settings.get("reference_yaws", ())), learned,
                               float(settings.get("margin", 1.0)), space=str(settings.get("space", "image")))
    return model.eval(), meta, novelty

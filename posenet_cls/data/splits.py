"""Seeded, stratified train / validation / test splits of a keypoint table; byte-identical photos stay together."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from posenet_cls.data.table import PoseTable
from posenet_cls.errors import PosenetError
from posenet_cls.schema import Landmark as L


VAL_FOLDS = 6  # the validation set (early stopping, best checkpoint) is 1/6 of the non-test rows


@dataclass
class Split:
    """Row indices of one train / validation / test split of a table."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def to_dict(self, table: PoseTable) -> dict:
        """JSON listing of each part's photos (source, sha1, label)."""
        def rows(idx):
            return [{"source": str(table.sources[i]), "sha1": str(table.sha1[i]), "label": str(table.labels[i])}
                    for i in idx]
        return {"train": rows(self.train), "val": rows(self.val), "test": rows(self.test)}


def group_keys(table: PoseTable) -> np.ndarray:
    """One key per row that byte-identical photos share: the sha1, or the source where sha1 is empty."""
    return np.array([s if s else f"source:{src}" for s, src in zip(table.sha1, table.sources)], dtype=object)


def check_table(table: PoseTable, folds: int, what: str = "table") -> None:
    """Refuse a table a stratified ``folds``-fold split cannot handle, naming the class at fault."""
    classes, counts = np.unique(table.labels.astype(str), return_counts=True)
    if len(classes) < 2:
        raise PosenetError(f"{what}: only one class ('{classes[0]}'); a classifier needs at least two classes")
    small = [(c, n) for c, n in zip(classes, counts) if n < folds]
    if small:
        c, n = small[0]
        raise PosenetError(f"{what}: class '{c}' has {n} pose(s); a {folds}-fold split needs at least {folds} per class")


def _group_folds(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        return list(splitter.split(np.zeros(len(labels)), labels, groups))


def make_splits(table: PoseTable, folds: int = 5, seed: int = 0, what: str = "table") -> list[Split]:
    """All ``folds`` splits: fold i tests on the i-th stratified group fold; validation is carved from the rest.

    Byte-identical photos (same sha1) always land in the same part. Cross-validation uses every split,
    a single training run uses one of them.
    """
    check_table(table, folds, what)
    labels = table.labels.astype(str)
    groups = group_keys(table)
    splits = []
    for rest, test in _group_folds(labels, groups, folds, seed):
        inner_k = min(VAL_FOLDS, int(np.unique(labels[rest], return_counts=True)[1].min()))
        if inner_k < 2:
            raise PosenetError(f"{what}: too few poses per class to hold out a validation set")
        tr, va = _group_folds(labels[rest], groups[rest], inner_k, seed)[0]
        splits.append(Split(np.sort(rest[tr]), np.sort(rest[va]), np.sort(test)))
    return splits


def facing_front(table: PoseTable) -> np.ndarray:
    """Per row, whether the pose is seen from the front: the person's left (hips plus shoulders) at the image's
    right, from the world landmarks where the row has them, from the image otherwise."""
    def left_to_right(points: np.ndarray) -> np.ndarray:
        return (points[:, L.LEFT_HIP, 0] - points[:, L.RIGHT_HIP, 0]
                + points[:, L.LEFT_SHOULDER, 0] - points[:, L.RIGHT_SHOULDER, 0])

    image = left_to_right(table.keypoints) > 0
    if table.world is None:
        return image
    world = left_to_right(table.world)
    return np.where(np.isfinite(world), world > 0, image)


def facing_splits(table: PoseTable, seed: int = 0, min_train: int = 3, what: str = "table") -> dict[str, Split]:
    """The facing split: train on poses seen from one side, test on those seen from the other, both ways
    ("front->back", "back->front"). A class with fewer than ``min_train`` training poses on a side is left out
    of that direction's test (no model can learn it); validation is carved from the training side."""
    labels = table.labels.astype(str)
    front = facing_front(table)
    splits = {}
    for name, train_side in (("front->back", front), ("back->front", ~front)):
        classes, counts = np.unique(labels[train_side], return_counts=True)
        learnable = classes[counts >= min_train]
        rest = np.flatnonzero(train_side & np.isin(labels, learnable))
        test = np.flatnonzero(~train_side & np.isin(labels, learnable))
        if len(learnable) < 2 or not len(test):
            raise PosenetError(f"{what}: too few poses seen from each side for the facing split ({name})")
        inner_k = min(VAL_FOLDS, int(np.unique(labels[rest], return_counts=True)[1].min()))
        tr, va = _group_folds(labels[rest], group_keys(table)[rest], inner_k, seed)[0]
        splits[name] = Split(np.sort(rest[tr]), np.sort(rest[va]), test)
    return splits

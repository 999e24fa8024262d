"""The labelled keypoint table: one row per pose, named columns, validated on read.

Columns, in order: ``source`` (photo path), ``label`` (class name, from the folder),
``sha1`` (of the file's bytes: byte-identical photos share it, so a split can keep them
together), ``attempt`` (which extraction attempt found the pose), then
``<landmark>_<x|y|z|visibility>`` for the 33 landmarks of :mod:`posenet_cls.schema`.
There is no index column: a table that has one is refused on read.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PosenetError
from .schema import NUM_CHANNELS, NUM_LANDMARKS, landmark_columns

META_COLUMNS: tuple[str, ...] = ("source", "label", "sha1", "attempt")
REQUIRED_META = ("source", "label")


def table_columns() -> list[str]:
    """All column names of a keypoint table, in order."""
    return [*META_COLUMNS, *landmark_columns()]


@dataclass
class PoseTable:
    """Poses with their labels: ``keypoints`` float32 (N, 33, 4) and one string per row for the rest."""

    keypoints: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    sha1: np.ndarray
    attempts: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def classes(self) -> list[str]:
        """Sorted class names present in the table."""
        return sorted(set(self.labels.tolist()))

    def subset(self, index: np.ndarray) -> PoseTable:
        """Rows selected by an integer or boolean index."""
        return PoseTable(*(getattr(self, f)[index] for f in ("keypoints", "labels", "sources", "sha1", "attempts")))


def pose_row(source: str, label: str, sha1: str, attempt: str, keypoints: np.ndarray) -> dict[str, object]:
    """One table row as a column -> value mapping."""
    values = np.asarray(keypoints, dtype=np.float32).reshape(-1)
    row: dict[str, object] = {"source": source, "label": label, "sha1": sha1, "attempt": attempt}
    row.update(zip(landmark_columns(), (float(v) for v in values)))
    return row


def write_table(rows: list[dict[str, object]], path: str | Path) -> None:
    """Write rows as a CSV keypoint table atomically (a temp file renamed into place)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise PosenetError(f"{path}: unsupported table format '{path.suffix}' (use .csv)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=table_columns(), extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.7g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)


def _check_header(header: list[str], path: Path) -> None:
    """Refuse a header that is not exactly a keypoint table's, naming the first problem."""
    if header and header[0].strip() in ("", "Unnamed: 0", "index"):
        raise PosenetError(
            f"{path}: the first column is an unnamed index column ('{header[0]}'); "
            "write the table without the index (pandas: to_csv(index=False))"
        )
    if "label" not in header:
        raise PosenetError(f"{path}: no 'label' column; every row needs the class name of its pose")
    missing = [c for c in (*REQUIRED_META, *landmark_columns()) if c not in header]
    if missing:
        raise PosenetError(
            f"{path}: {len(missing)} landmark/meta column(s) missing, first '{missing[0]}' "
            f"(expected {len(table_columns())} columns, found {len(header)})"
        )
    extra = [c for c in header if c not in table_columns()]
    if extra:
        raise PosenetError(
            f"{path}: unexpected column '{extra[0]}' (expected {len(table_columns())} columns, found {len(header)})"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise PosenetError(f"{path}: column '{duplicated[0]}' appears more than once")


def read_table(path: str | Path) -> PoseTable:
    """Read and validate a CSV keypoint table; any deviation from the schema is a PosenetError."""
    path = Path(path)
    if not path.is_file():
        raise PosenetError(f"{path}: no such table file")
    if path.suffix.lower() != ".csv":
        raise PosenetError(f"{path}: unsupported table format '{path.suffix}' (use .csv)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise PosenetError(f"{path}: empty file, expected a header row")
        _check_header(header, path)
        index = {name: i for i, name in enumerate(header)}
        cols = [index[c] for c in landmark_columns()]
        meta: dict[str, list[str]] = {c: [] for c in META_COLUMNS}
        values = []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise PosenetError(f"{path}: line {line_no} has {len(row)} values, the header has {len(header)}")
            for c in META_COLUMNS:
                meta[c].append(row[index[c]] if c in index else "")
            if not meta["label"][-1].strip():
                raise PosenetError(f"{path}: line {line_no} has an empty label")
            try:
                values.append([float(row[i]) for i in cols])
            except ValueError as e:
                raise PosenetError(f"{path}: line {line_no}: not a number ({e})") from None
    if not values:
        raise PosenetError(f"{path}: the table has a header but no rows")
    keypoints = np.asarray(values, dtype=np.float32).reshape(-1, NUM_LANDMARKS, NUM_CHANNELS)
    bad = ~np.isfinite(keypoints).reshape(len(keypoints), -1).all(axis=1)
    if bad.any():
        raise PosenetError(f"{path}: line {int(np.argmax(bad)) + 2} has NaN or infinite landmark values")
    return PoseTable(keypoints, *(np.asarray(meta[c], dtype=object) for c in ("label", "source", "sha1", "attempt")))

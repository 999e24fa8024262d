"""The labelled keypoint table: one row per pose, named columns, validated on read.

Columns, in order: ``source`` (photo path), ``label`` (class name, from the folder),
``sha1`` (of the file's bytes: byte-identical photos share it, so a split can keep them
together), ``attempt`` (which extraction attempt found the pose), then
``<landmark>_<x|y|z|visibility>`` for the 33 landmarks of :mod:`posenet_cls.schema`, then
``<landmark>_world_<x|y|z>``: the 33 world landmarks (metres, hip-centred; empty where the backend
gave none). Tables without the world columns (written before them) still read, with ``world`` None.
A table made with ``extract --max-people N`` also has ``person`` after ``attempt``: which person of
the photo the row is (0 = the largest). There is no index column: a table that has one is refused on read.

A table is a ``.csv`` file, a ``.parquet`` file (strings and float32 columns, needs pyarrow:
``pip install "posenet-cls[parquet]"``) or a folder of ``.parquet`` shards (what
``extract --engine ray`` writes), read in file-name order; all three are validated alike.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_cls.io.files import atomic_path
from posenet_cls.errors import PosenetError
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, NUM_WORLD_CHANNELS, landmark_columns, world_columns

META_COLUMNS: tuple[str, ...] = ("source", "label", "sha1", "attempt")
REQUIRED_META = ("source", "label")
PERSON = "person"  # optional, after the meta columns: the row's person in its photo (0 = the largest)
TABLE_SUFFIXES = (".csv", ".parquet")
PARQUET_INSTALL = 'pip install "posenet-cls[parquet]"'
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def table_columns(person: bool = False, world: bool = True) -> list[str]:
    """All column names of a keypoint table, in order (``person``: with the person column of several people;
    ``world``: with the world landmarks, as every table written now has them)."""
    return [*META_COLUMNS, *([PERSON] if person else []), *landmark_columns(), *(world_columns() if world else [])]


def _has_person(rows: list[dict[str, object]]) -> bool:
    return bool(rows) and PERSON in rows[0]


@dataclass
class PoseTable:
    """Poses with their labels: ``keypoints`` float32 (N, 33, 4), ``world`` float32 (N, 33, 3) (NaN rows where
    the backend gave none; None for a table without world columns) and one string per row for the rest."""

    keypoints: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    sha1: np.ndarray
    attempts: np.ndarray
    world: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def classes(self) -> list[str]:
        """Sorted class names present in the table."""
        return sorted(set(self.labels.tolist()))

    def subset(self, index: np.ndarray) -> PoseTable:
        """Rows selected by an integer or boolean index."""
        return PoseTable(*(getattr(self, f)[index] for f in ("keypoints", "labels", "sources", "sha1", "attempts")),
                         world=None if self.world is None else self.world[index])

    def require_world(self, what: str) -> np.ndarray:
        """The world landmarks, or a one-line error saying that ``what`` needs them and how to get them."""
        if self.world is None or not np.isfinite(self.world).all():
            missing = len(self) if self.world is None else int((~np.isfinite(self.world).all(axis=(1, 2))).sum())
            raise PosenetError(f"{what} needs world landmarks, and {missing} of the table's {len(self)} rows have none; "
                               "extract the table again (posenet-cls extract)")
        return self.world


def pose_row(source: str, label: str, sha1: str, attempt: str, keypoints: np.ndarray,
             person: int | None = None, world: np.ndarray | None = None) -> dict[str, object]:
    """One table row as a column -> value mapping (with ``person``: the person column too; ``world`` None: NaN)."""
    values = np.asarray(keypoints, dtype=np.float32).reshape(-1)
    row: dict[str, object] = {"source": source, "label": label, "sha1": sha1, "attempt": attempt}
    if person is not None:
        row[PERSON] = person
    row.update(zip(landmark_columns(), (float(v) for v in values)))
    world = np.full(NUM_LANDMARKS * NUM_WORLD_CHANNELS, np.nan) if world is None else np.asarray(world, np.float32)
    row.update(zip(world_columns(), (float(v) for v in world.reshape(-1))))
    return row


def table_rows(table: PoseTable) -> list[dict[str, object]]:
    """The rows of a table, as :func:`pose_row` makes them."""
    worlds = [None] * len(table) if table.world is None else table.world
    return [pose_row(s, lb, h, a, k, world=w) for s, lb, h, a, k, w in
            zip(table.sources, table.labels, table.sha1, table.attempts, table.keypoints, worlds)]


def check_table_path(path: str | Path) -> str:
    """The format of a table file to write, 'csv' or 'parquet', from its suffix; anything else is refused."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise PosenetError(f"{path}: unsupported table format '{path.suffix}' (use .csv or .parquet)")
    return path.suffix.lower()[1:]


def _pyarrow(path: Path):
    """(pyarrow, pyarrow.parquet), or a PosenetError saying how to install them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise PosenetError(f"{path}: Parquet tables need pyarrow; {PARQUET_INSTALL}") from None
    return pa, pq


def arrow_table(rows: list[dict[str, object]], path: str | Path = "<table>", metadata: dict[str, str] | None = None):
    """Rows as a pyarrow Table: strings for the meta columns, float32 for the landmarks, optional schema metadata."""
    pa, _ = _pyarrow(Path(path))
    fields = ([pa.field(c, pa.string()) for c in META_COLUMNS] + ([pa.field(PERSON, pa.int32())] if _has_person(rows) else [])
              + [pa.field(c, pa.float32()) for c in landmark_columns() + world_columns()])
    schema = pa.schema(fields, metadata={k.encode(): v.encode() for k, v in (metadata or {}).items()})
    columns = [pa.array([row[f.name] for row in rows], type=f.type) for f in fields]
    return pa.Table.from_arrays(columns, schema=schema)


def write_parquet(rows: list[dict[str, object]], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write rows as one Parquet file atomically (a temp file renamed into place), with optional schema metadata."""
    path = Path(path)
    _, pq = _pyarrow(path)
    table = arrow_table(rows, path, metadata)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_table(rows: list[dict[str, object]], path: str | Path) -> None:
    """Write rows as a CSV or Parquet keypoint table (by suffix) atomically (a temp file renamed into place)."""
    path = Path(path)
    if check_table_path(path) == "parquet":
        write_parquet(rows, path)
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=table_columns(_has_person(rows)), extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ((f"{v:.7g}" if v == v else "") if isinstance(v, float) else v) for k, v in row.items()})


def _check_header(header: list[str], path: Path, writer: str = "to_csv") -> None:
    """Refuse a header that is not exactly a keypoint table's, naming the first problem."""
    if header and header[0].strip() in ("", "Unnamed: 0", "index"):
        raise PosenetError(
            f"{path}: the first column is an unnamed index column ('{header[0]}'); "
            f"write the table without the index (pandas: {writer}(index=False))"
        )
    saved_index = [c for c in header if _PANDAS_INDEX.fullmatch(c)]
    if saved_index:
        raise PosenetError(
            f"{path}: column '{saved_index[0]}' is an unnamed index column; "
            f"write the table without the index (pandas: {writer}(index=False))"
        )
    if "label" not in header:
        raise PosenetError(f"{path}: no 'label' column; every row needs the class name of its pose")
    missing = [c for c in (*REQUIRED_META, *landmark_columns()) if c not in header]
    if missing:
        raise PosenetError(
            f"{path}: {len(missing)} landmark/meta column(s) missing, first '{missing[0]}' "
            f"(expected {len(table_columns())} columns, found {len(header)})"
        )
    world = [c for c in world_columns() if c in header]
    if world and len(world) < len(world_columns()):
        missing_world = next(c for c in world_columns() if c not in header)
        raise PosenetError(f"{path}: {len(world_columns()) - len(world)} world landmark column(s) missing, first "
                           f"'{missing_world}' (a table has all {len(world_columns())} or none)")
    extra = [c for c in header if c not in table_columns() and c != PERSON]
    if extra:
        raise PosenetError(
            f"{path}: unexpected column '{extra[0]}' (expected {len(table_columns())} columns, found {len(header)})"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise PosenetError(f"{path}: column '{duplicated[0]}' appears more than once")


def read_table(path: str | Path) -> PoseTable:
    """Read and validate a keypoint table (.csv, .parquet or a folder of .parquet shards); any deviation is a PosenetError."""
    path = Path(path)
    if path.is_dir():
        return _read_parquet(path)
    if not path.is_file():
        raise PosenetError(f"{path}: no such table file")
    if check_table_path(path) == "parquet":
        return _read_parquet(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise PosenetError(f"{path}: empty file, expected a header row")
        _check_header(header, path)
        index = {name: i for i, name in enumerate(header)}
        cols = [index[c] for c in landmark_columns()]
        world_cols = [index[c] for c in world_columns()] if world_columns()[0] in index else []
        meta: dict[str, list[str]] = {c: [] for c in META_COLUMNS}
        values, worlds = [], []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise PosenetError(f"{path}: line {line_no} has {len(row)} values, the header has {len(header)}")
            for c in META_COLUMNS:
                meta[c].append(row[index[c]] if c in index else "")
            if not meta["label"][-1].strip():
                raise PosenetError(f"{path}: line {line_no} has an empty label")
            try:
                values.append([float(row[i]) for i in cols])
                worlds.append([float(row[i]) if row[i].strip() else np.nan for i in world_cols])
            except ValueError as e:
                raise PosenetError(f"{path}: line {line_no}: not a number ({e})") from None
    if not values:
        raise PosenetError(f"{path}: the table has a header but no rows")
    keypoints = np.asarray(values, dtype=np.float32).reshape(-1, NUM_LANDMARKS, NUM_CHANNELS)
    bad = ~np.isfinite(keypoints).reshape(len(keypoints), -1).all(axis=1)
    if bad.any():
        raise PosenetError(f"{path}: line {int(np.argmax(bad)) + 2} has NaN or infinite landmark values")
    world = _world(np.asarray(worlds, dtype=np.float32), path, "line", 2) if world_cols else None
    return PoseTable(keypoints, *(np.asarray(meta[c], dtype=object) for c in ("label", "source", "sha1", "attempt")),
                     world=world)


def _world(flat: np.ndarray, path: Path, unit: str, first: int) -> np.ndarray:
    """World columns (N, 99) as (N, 33, 3), refusing a row with some values but not all, or an infinite one."""
    finite, empty = np.isfinite(flat), np.isnan(flat)
    bad = ~(finite.all(axis=1) | empty.all(axis=1))
    if bad.any():
        raise PosenetError(f"{path}: {unit} {int(np.argmax(bad)) + first} has some world landmark values but not all")
    return flat.reshape(-1, NUM_LANDMARKS, NUM_WORLD_CHANNELS)


def parquet_shards(folder: Path) -> list[Path]:
    """The ``.parquet`` files of a shard folder in name order (hidden and ``_`` files skipped, as Spark and Ray do)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".parquet" and p.is_file() and p.name[0] not in "._")


def _read_parquet(path: Path) -> PoseTable:
    """Read and validate a Parquet table or a folder of shards, with the CSV reader's checks and messages."""
    pa, pq = _pyarrow(path)
    files = parquet_shards(path) if path.is_dir() else [path]
    if not files:
        raise PosenetError(f"{path}: a folder with no .parquet files; expected a table or a folder of Parquet shards")
    parts = []
    for file in files:
        try:
            _check_header(pq.read_schema(file).names, file, writer="to_parquet")
            table = pq.ParquetFile(file).read()
        except (pa.ArrowException, OSError) as e:
            raise PosenetError(f"{file}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
        parts.append(_parquet_columns(table, file, pa))
    meta = {c: np.concatenate([p[1][c] for p in parts]) for c in META_COLUMNS}
    keypoints = np.concatenate([p[0] for p in parts])
    if not len(keypoints):
        raise PosenetError(f"{path}: the table has its columns but no rows")
    worlds = [p[2] if p[2] is not None else np.full((len(p[0]), NUM_LANDMARKS, NUM_WORLD_CHANNELS), np.nan, np.float32)
              for p in parts]
    world = np.concatenate(worlds) if any(p[2] is not None for p in parts) else None
    return PoseTable(keypoints, *(meta[c] for c in ("label", "source", "sha1", "attempt")), world=world)


def _parquet_columns(table, path: Path, pa) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """(keypoints float32 (N, 33, 4), meta column -> object array, world (N, 33, 3) or None) of one Parquet file,
    refusing bad types and values."""
    meta: dict[str, np.ndarray] = {}
    for c in META_COLUMNS:
        if c not in table.column_names:
            meta[c] = np.full(table.num_rows, "", dtype=object)
            continue
        col = table.column(c)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type)):
            raise PosenetError(f"{path}: column '{c}' is {col.type}, expected strings")
        meta[c] = np.asarray([v if v is not None else "" for v in col.to_pylist()], dtype=object)
    empty = [i for i, v in enumerate(meta["label"]) if not v.strip()]
    if empty:
        raise PosenetError(f"{path}: row {empty[0] + 1} has an empty label")
    def numbers(columns: list[str]) -> np.ndarray:
        values = []
        for c in columns:
            col = table.column(c)
            if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_null(col.type)):
                raise PosenetError(f"{path}: column '{c}' is {col.type}, expected float32 numbers")
            values.append(col.to_numpy(zero_copy_only=False).astype(np.float32))  # nulls become NaN
        return np.stack(values, axis=1)

    flat = numbers(landmark_columns())
    keypoints = flat.reshape(-1, NUM_LANDMARKS, NUM_CHANNELS)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise PosenetError(f"{path}: row {int(np.argmax(bad)) + 1} has NaN, infinite or missing landmark values")
    world = _world(numbers(world_columns()), path, "row", 1) if world_columns()[0] in table.column_names else None
    return keypoints, meta, world


def convert_table(source: str | Path, out: str | Path) -> PoseTable:
    """Read and validate a table (.csv, .parquet or a shard folder) and write it as one .csv or .parquet file."""
    source, out = Path(source), Path(out)
    check_table_path(out)
    if out.is_dir():
        raise PosenetError(f"{out}: is a folder; give a .csv or .parquet file to write")
    table = read_table(source)
    write_table(table_rows(table), out)
    return table

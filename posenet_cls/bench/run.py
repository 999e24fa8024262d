"""Timing behind ``posenet-cls benchmark``: classifier backends, pose extraction and whole runs, side by side.

Figures for the README come from here, never from tests. Each section times our code next to a reference
measured in the same run (a bare MediaPipe loop, the article's ``SVC(kernel="poly")`` recipe), and each
row's ``vs`` is its headline figure over the reference row's: machines are noisy, ratios from one run
much less so. Poses are float32 ``(N, 33, 4)`` raw BlazePose landmarks, as everywhere in posenet_cls.
Nothing here prints; progress goes through a callback that takes one line of text.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path


from posenet_cls.data.dataset import build_dataset, list_photos
from posenet_cls.bench.backends import backend_rows
from posenet_cls.bench.classifiers import classifier_rows, train_classifiers
from posenet_cls.bench.config import BenchConfig, Progress, SECTIONS
from posenet_cls.bench.end_to_end import end_to_end_rows
from posenet_cls.bench.extraction import extraction_rows
from posenet_cls.bench.report import machine_info
from posenet_cls.bench.targets import speed_targets
from posenet_cls.bench.timing import link_photos, skipped_notes, spread
from posenet_cls.errors import PosenetError


def load_poses(data: Path, photo_dir: Path, config: BenchConfig, progress: Progress | None = None):
    """(table path or None, photo tree or None) of ``--data``: a keypoint table or a class-folder tree.

    A table is a .csv or .parquet file or a folder of .parquet shards. A tree is linked, photo by
    photo (``config.limit`` of them, spread over the classes), under ``photo_dir``.
    """
    from posenet_cls.data.table import TABLE_SUFFIXES, parquet_shards

    data = Path(data)
    if data.is_dir() and parquet_shards(data):
        return data, None
    if data.is_dir():
        photos = spread(list_photos(data), config.limit)
        (progress or (lambda _: None))(f"data: {len(photos)} photos of {data}")
        return None, link_photos(data, photos, photo_dir)
    if not data.exists():
        raise PosenetError(f"{data}: no such file or folder (give a keypoint table or a class-folder tree)")
    if data.suffix.lower() not in TABLE_SUFFIXES:
        raise PosenetError(f"{data}: not a keypoint table (.csv, .parquet) or a class-folder tree")
    return data, None


def run_benchmark(data: str | Path, video: str | Path | None, config: BenchConfig = BenchConfig(),
                  progress: Progress | None = None) -> dict:
    """Every section of the benchmark on ``data`` (a keypoint table or a class-folder tree) and ``video`` (or None).

    Returns the report: ``machine``, ``settings``, ``data`` and ``sections`` (name -> rows, notes).
    """
    from posenet_cls.data.table import read_table

    config.check()
    note = progress or (lambda _: None)
    video = Path(video) if video is not None else None
    if video is not None and not video.is_file():
        raise PosenetError(f"{video}: no such video file")
    info = machine_info()
    sections: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="posenet-bench-") as tmp:
        work = Path(tmp)
        table_path, photo_root = load_poses(Path(data), work / "photos", config, note)
        photos = None if photo_root is None else sum(1 for p in photo_root.rglob("*") if p.is_symlink())
        if table_path is not None:
            table = read_table(table_path)  # refuse a bad table before minutes of extraction
        if "extraction" in config.sections:
            kept = work / "poses.csv"
            rows = extraction_rows(photo_root, video, config, kept if photo_root is not None else None, note)
            sections["extraction"] = {"rows": rows, "notes": skipped_notes(photo_root, video, "extraction")}
            if photo_root is not None:
                table_path = kept
        elif photo_root is not None and {"classifiers", "end_to_end"} & set(config.sections):
            note(f"data: extracting keypoints with {config.workers} worker(s)")
            table_path = work / "poses.csv"
            build_dataset(photo_root, table_path, workers=config.workers)
        if "backends" in config.sections:
            rows, notes = backend_rows(photo_root, video, config, note)
            sections["backends"] = {"rows": rows, "notes": notes}
        table = read_table(table_path) if table_path is not None else None  # None: only the backends section ran
        classes = table.classes if table is not None else sorted({label for _, label in list_photos(photo_root)})
        trained = None
        if {"classifiers", "end_to_end"} & set(config.sections):  # end to end runs the MLP trained here
            trained = train_classifiers(table, work, config.epochs, str(data), note)
        if "classifiers" in config.sections:
            rows = classifier_rows(trained, config, note)
            note("classifiers: the speed targets (call floor, batch rates)")
            speed, notes = speed_targets(trained.runtime, trained.test_poses, rows, config)
            sections["classifiers"] = {"rows": rows, "notes": notes, "speed": speed}
        if "end_to_end" in config.sections:
            extracted = sections.get("extraction", {}).get("rows", [])
            bare = {r["stage"]: r for r in extracted if r["what"].startswith("bare")}
            rows = end_to_end_rows(photo_root, video, trained.runtime, config, bare, note)
            sections["end_to_end"] = {"rows": rows, "notes": skipped_notes(photo_root, video, "end_to_end")}
        ordered = {name: sections[name] for name in SECTIONS if name in sections}
    settings = {k: v for k, v in asdict(config).items()}
    settings["batches"], settings["sections"] = list(config.batches), list(config.sections)
    settings["pose_batches"] = list(config.pose_batches)
    return {
        "machine": info,
        "settings": settings,
        "data": {"source": str(data), "photos": photos,
                 "poses": None if table is None else len(table), "classes": classes, "split": trained.split if trained else None,
                 "video": None if video is None else str(video)},
        "sections": ordered,
    }



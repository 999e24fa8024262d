"""Class-named photo folders -> a labelled keypoint table, in worker processes, resumable.

``DATA_DIR/<label>/<photo>`` becomes one table row per photo with a pose; a video in a class
folder becomes one row per frame with a pose (``<label>/<video>#<frame, 6 digits>``, static mode
like a photo, all frames sharing the video's sha1). Every file's outcome is appended to a journal
(``<out>.partial``) as soon as it is known, so an interrupted run continues where it stopped (a
video stopped half-way is redone); the table and its report appear, atomically, only at the end.

BlazePose runs in the worker processes of :mod:`posenet_cls.pose.workers`, which survive a file that
crashes them (it is reported as ``failed``); :mod:`posenet_cls.pose.outcomes` defines the outcomes.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from posenet_cls.pose.outcomes import FileResult, Status, with_videos
from posenet_cls.data.table import check_table_path, pose_row, write_table
from posenet_cls.pose.workers import extract_tasks
from posenet_cls.io.files import atomic_path, list_files, write_text_atomic
from posenet_cls.errors import PosenetError
from posenet_cls.io.video import is_video
from posenet_cls.pose.extract import PoseOptions


@dataclass
class ExtractReport:
    """Summary of a dataset extraction, written beside the table as JSON."""

    data_dir: str
    table: str
    files: int
    poses: int
    attempts: dict[str, int]
    no_pose: list[dict[str, str]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    videos: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    resumed: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


def list_photos(data_dir: str | Path) -> list[tuple[str, str]]:
    """(relative path, label) for every file in ``data_dir/<label>/``, sorted; hidden files skipped."""
    root = Path(data_dir)
    found = [(rel, rel.split("/", 1)[0]) for rel in list_files(root) if "/" in rel]  # files of class folders
    if not found:
        raise PosenetError(f"{root}: found no photos in class sub-folders (expected {root}/<label>/<photo>)")
    return found


class Journal:
    """Append-only JSON-lines record of finished files: what makes a run resumable."""

    def __init__(self, path: Path, settings: dict[str, object]):
        self.path = path
        self.settings = settings

    def load(self) -> dict[str, FileResult]:
        """Results of an earlier, interrupted run with the same settings (a torn last line is dropped)."""
        if not self.path.exists():
            return {}
        lines = self.path.read_text(encoding="utf-8").split("\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            header = None
        if header != {"settings": self.settings}:
            raise PosenetError(
                f"{self.path}: an interrupted run with other settings is here; "
                "rerun with those settings to resume, or delete the file to start over"
            )
        done: dict[str, FileResult] = {}
        for line in lines[1:]:
            try:
                result = FileResult(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # the line a killed run was writing
            done[result.source] = result
        return done

    def open(self, done: dict[str, FileResult]):
        """Rewrite the journal with the kept results and return it open for appending."""
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"settings": self.settings}) + "\n")
            for result in done.values():
                f.write(json.dumps(result.__dict__) + "\n")
        return open(self.path, "a", encoding="utf-8")


def build_dataset(
    data_dir: str | Path,
    out: str | Path,
    options: PoseOptions = PoseOptions(),
    workers: int | None = None,
    progress: Callable[[Iterable[FileResult], int, int], Iterable[FileResult]] | None = None,
    factory: Callable[[], object] | None = None,
) -> ExtractReport:
    """Extract every photo and video frame under ``data_dir/<label>/`` into the table ``out`` and its report; resumable.

    BlazePose runs as ``options`` say (:func:`pose.workers.extract_tasks`): ``mediapipe`` in ``workers``
    processes (at least one, so a file that crashes BlazePose cannot stop the run), each with the extractor
    ``factory`` builds (default: ``options``); ``onnx`` batched on ``options.device``, decoding in ``workers``
    threads. ``progress`` wraps the files' results (a video's frames are not counted). ``options.max_people``
    > 1 finds up to that many people per photo (photos only): one row each, with a ``person`` column.
    """
    out = Path(out)
    check_table_path(out)
    extract_tasks([], options, factory=factory)  # refuse a bad backend before anything is written
    photos = list_photos(data_dir)
    if options.several:
        videos = [rel for rel, _ in photos if is_video(rel)]
        if videos:
            raise PosenetError(f"{Path(data_dir) / videos[0]}: several people per file (max_people "
                               f"{options.max_people}) is for photos; move the videos out or extract them one by one")
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"data_dir": str(Path(data_dir).resolve()), "model": options.model}
    if options.backend != "mediapipe":  # journals of earlier versions have no backend: they stay valid for MediaPipe
        settings["backend"] = options.backend
    if options.several:
        settings["max_people"] = options.max_people
    journal = Journal(out.with_name(out.name + ".partial"), settings)
    wanted = {rel for rel, _ in photos}
    loaded = journal.load()
    done = {k: v for k, v in loaded.items() if not v.video and k in wanted}
    resumed = len(done)
    done.update({k: v for k, v in loaded.items() if v.video and v.video in done})  # frames of finished videos only
    tasks = [(str(data_dir), rel, label) for rel, label in photos if rel not in done]
    workers = max(1, workers or os.cpu_count() or 1)
    if not any(is_video(rel) for _, rel, _ in tasks):  # a video is as many jobs as it has frames
        workers = min(workers, len(tasks) or 1)
    with journal.open(done) as log:

        def record(result: FileResult) -> None:
            log.write(json.dumps(result.__dict__) + "\n")
            log.flush()
            done[result.source] = result

        def files(results: Iterable[FileResult]) -> Iterator[FileResult]:
            for result in results:
                if result.video:
                    record(result)  # a frame: journaled, but not one of the files
                else:
                    yield result

        results = files(with_videos(tasks, lambda jobs: extract_tasks(jobs, options, workers, factory, processes=True)))
        if progress is not None:
            results = progress(results, len(photos), resumed)
        for result in results:
            record(result)
    report = _finish(done, data_dir, out, resumed, options.several)
    journal.path.unlink()
    return report


def _finish(done: dict[str, FileResult], data_dir: str | Path, out: Path, resumed: int,
            people: bool = False) -> ExtractReport:
    """Write the table (sorted by label, then path, so reruns give the same file) and the report.

    With ``people``, a photo gives a row per person, numbered in the ``person`` column (0 = the largest).
    """
    results = sorted(done.values(), key=lambda r: (r.label, r.source))
    rows = [pose_row(r.source, r.label, r.sha1, r.attempt, pose, i if people else None, world)
            for r in results if r.status == Status.POSE for i, (pose, world) in enumerate(r.poses())]
    report = make_report([r for r in results if not r.video], data_dir, out, resumed)
    report = replace(report, poses=len(rows), attempts=dict(Counter(row["attempt"] for row in rows)))
    write_table(rows, out)
    write_report(report, out)
    return report


def make_report(results: list[FileResult], data_dir: str | Path, out: str | Path, resumed: int) -> ExtractReport:
    """The report of every file's result (keypoints not needed); refuses a run where no file had a pose."""
    results = sorted(results, key=lambda r: (r.label, r.source))
    poses = [r for r in results if r.status == Status.POSE]
    if not poses:
        raise PosenetError(f"{data_dir}: no pose found in any of {len(results)} files; nothing written")
    by_hash: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.sha1:
            by_hash[r.sha1].append(r.source)
    listed = {status: [{"source": r.source, "reason": r.reason} for r in results if r.status == status]
              for status in (Status.NO_POSE, Status.UNREADABLE, Status.FAILED)}
    return ExtractReport(
        data_dir=str(data_dir),
        table=str(out),
        files=len(results),
        poses=len(poses),
        attempts=dict(Counter(r.attempt for r in poses)),
        **listed,
        videos=[{"source": r.source, "reason": r.reason} for r in results
                if is_video(r.source) and r.status in (Status.POSE, Status.NO_POSE)],
        duplicates=[group for group in by_hash.values() if len(group) > 1],
        resumed=resumed,
    )


def write_report(report: ExtractReport, table: str | Path) -> Path:
    """Write the report beside its table, atomically; returns its path."""
    return write_text_atomic(report_path_for(table), report.to_json())


def table_or_extract(table: str | Path, data_dir: str | Path, note: Callable[[str], None] | None = None):
    """The keypoint table at ``table``, extracted from the class folders of ``data_dir`` first when it is missing."""
    from posenet_cls.data.table import read_table

    table = Path(table)
    if not table.exists():
        if note is not None:
            note(f"extracting {data_dir} -> {table}")
        build_dataset(data_dir, table)
    return read_table(table)


def report_path_for(table: str | Path) -> Path:
    """Where the extraction report of a table lives: ``poses.csv`` (or ``poses.parquet``) -> ``poses.report.json``."""
    table = Path(table)
    return table.with_name(table.stem + ".report.json")

"""Class-named photo folders -> a labelled keypoint table, in worker processes, resumable.

``DATA_DIR/<label>/<photo>`` becomes one table row per photo with a pose. Every file's outcome
is appended to a journal (``<out>.partial``) as soon as it is known, so an interrupted run
continues where it stopped; the table and its report appear, atomically, only at the end.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import PosenetError
from .extract import ATTEMPTS
from .table import check_table_path, pose_row, write_table


@dataclass
class FileResult:
    """What extraction made of one file: status is 'pose', 'no_pose' or 'unreadable'."""

    source: str
    label: str
    sha1: str
    status: str
    attempt: str = ""
    reason: str = ""
    keypoints: list[float] | None = None


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
    duplicates: list[list[str]] = field(default_factory=list)
    resumed: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


def list_photos(data_dir: str | Path) -> list[tuple[str, str]]:
    """(relative path, label) for every file in ``data_dir/<label>/``, sorted; hidden files skipped."""
    root = Path(data_dir)
    if not root.is_dir():
        raise PosenetError(f"{root}: no such folder")
    found = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
                found.append((path.relative_to(root).as_posix(), class_dir.name))
    if not found:
        raise PosenetError(f"{root}: found no photos in class sub-folders (expected {root}/<label>/<photo>)")
    return found


# Each worker process holds one extractor, built once by the pool initialiser.
_worker_extractor = None


def _init_worker(model: str) -> None:
    global _worker_extractor
    from .extract import PoseExtractor

    _worker_extractor = PoseExtractor(model)


def read_failed(rel: str, label: str, error: OSError) -> FileResult:
    """The result of a file whose bytes could not be read."""
    return FileResult(rel, label, "", "unreadable", reason=f"cannot read file ({error.strerror or error})")


def decode_file(rel: str, label: str, data: bytes) -> tuple[FileResult, np.ndarray | None]:
    """A file's bytes -> (its result so far, with the sha1; 'unreadable' when not a photo) and its RGB image or None."""
    from .extract import decode_image

    sha1 = hashlib.sha1(data).hexdigest()
    try:
        return FileResult(rel, label, sha1, "pending"), decode_image(data, rel)
    except PosenetError as e:
        return FileResult(rel, label, sha1, "unreadable", reason=str(e).split(": ", 1)[-1]), None


def pose_result(pending: FileResult, found) -> FileResult:
    """A decoded file's result completed with what BlazePose found in it (an :class:`extract.PhotoPose`)."""
    if found.keypoints is None:
        return replace(pending, status="no_pose", reason=f"no person found ({len(ATTEMPTS)} attempts: {', '.join(ATTEMPTS)})")
    return replace(pending, status="pose", attempt=found.attempt, keypoints=found.keypoints.ravel().tolist())


def _process(task: tuple[str, str, str]) -> FileResult:
    """Extract one file in the current worker; never raises for a bad file."""
    root, rel, label = task
    try:
        data = (Path(root) / rel).read_bytes()
    except OSError as e:
        return read_failed(rel, label, e)
    result, rgb = decode_file(rel, label, data)
    return result if rgb is None else pose_result(result, _worker_extractor.photo(rgb))


def run_extraction(tasks: list[tuple[str, str, str]], model: str, workers: int) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks; results in completion order, from a pool when workers > 1."""
    if workers <= 1:
        _init_worker(model)
        try:
            yield from map(_process, tasks)
        finally:
            _worker_extractor.close()
        return
    # forkserver: workers start from a clean process, never from one whose MediaPipe threads run.
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    ctx.set_forkserver_preload(["mediapipe", "posenet_cls.extract"])
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(model,))
    try:
        yield from pool.imap_unordered(_process, tasks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


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
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"settings": self.settings}) + "\n")
            for result in done.values():
                f.write(json.dumps(result.__dict__) + "\n")
        os.replace(tmp, self.path)
        return open(self.path, "a", encoding="utf-8")


def extract_tasks(tasks: list[tuple[str, str, str]], model: str, workers: int, backend: str = "mediapipe",
                  batch: int = 16, device: str = "auto") -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks with either backend; results in completion order.

    ``mediapipe``: ``workers`` processes (:func:`run_extraction`). ``onnx``: BlazePose on onnxruntime,
    ``batch`` photos per network call on ``device``, decoding in ``workers`` threads. A bad backend
    is refused here, at the call, not when the first result is asked for.
    """
    from .extract import check_backend

    check_backend(backend, model)
    if not tasks:
        return iter(())
    if backend == "onnx":
        from .blazepose.batch import extract_files

        return extract_files(tasks, batch=batch, device=device, workers=workers)
    return run_extraction(tasks, model, workers)


def build_dataset(
    data_dir: str | Path,
    out: str | Path,
    model: str = "full",
    workers: int | None = None,
    progress: Callable[[Iterable[FileResult], int, int], Iterable[FileResult]] | None = None,
    backend: str = "mediapipe",
    batch: int = 16,
    device: str = "auto",
) -> ExtractReport:
    """Extract every photo under ``data_dir/<label>/`` into the table ``out`` and its report; resumable.

    ``backend`` ``onnx`` runs BlazePose full on onnxruntime (:mod:`posenet_cls.blazepose`), ``batch``
    photos per network call on ``device``, decoding in ``workers`` threads.
    """
    out = Path(out)
    check_table_path(out)
    extract_tasks([], model, 1, backend)  # refuse a bad backend before anything is written
    photos = list_photos(data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"data_dir": str(Path(data_dir).resolve()), "model": model}
    if backend != "mediapipe":  # journals of earlier versions have no backend: they stay valid for MediaPipe
        settings["backend"] = backend
    journal = Journal(out.with_name(out.name + ".partial"), settings)
    wanted = {rel for rel, _ in photos}
    done = {k: v for k, v in journal.load().items() if k in wanted}
    resumed = len(done)
    tasks = [(str(data_dir), rel, label) for rel, label in photos if rel not in done]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    with journal.open(done) as log:
        results = extract_tasks(tasks, model, workers, backend, batch, device)
        if progress is not None:
            results = progress(results, len(photos), resumed)
        for result in results:
            log.write(json.dumps(result.__dict__) + "\n")
            log.flush()
            done[result.source] = result
    report = _finish(done, data_dir, out, resumed)
    journal.path.unlink()
    return report


def _finish(done: dict[str, FileResult], data_dir: str | Path, out: Path, resumed: int) -> ExtractReport:
    """Write the table (sorted by label, then path, so reruns give the same file) and the report."""
    results = sorted(done.values(), key=lambda r: (r.label, r.source))
    rows = [pose_row(r.source, r.label, r.sha1, r.attempt, np.asarray(r.keypoints)) for r in results if r.status == "pose"]
    report = make_report(results, data_dir, out, resumed)
    write_table(rows, out)
    write_report(report, out)
    return report


def make_report(results: list[FileResult], data_dir: str | Path, out: str | Path, resumed: int) -> ExtractReport:
    """The report of every file's result (keypoints not needed); refuses a run where no file had a pose."""
    results = sorted(results, key=lambda r: (r.label, r.source))
    poses = [r for r in results if r.status == "pose"]
    if not poses:
        raise PosenetError(f"{data_dir}: no pose found in any of {len(results)} files; nothing written")
    by_hash: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.sha1:
            by_hash[r.sha1].append(r.source)
    return ExtractReport(
        data_dir=str(data_dir),
        table=str(out),
        files=len(results),
        poses=len(poses),
        attempts=dict(Counter(r.attempt for r in poses)),
        no_pose=[{"source": r.source, "reason": r.reason} for r in results if r.status == "no_pose"],
        unreadable=[{"source": r.source, "reason": r.reason} for r in results if r.status == "unreadable"],
        duplicates=[group for group in by_hash.values() if len(group) > 1],
        resumed=resumed,
    )


def write_report(report: ExtractReport, table: str | Path) -> Path:
    """Write the report beside its table, atomically; returns its path."""
    report_path = report_path_for(table)
    tmp = report_path.with_name(report_path.name + ".tmp")
    tmp.write_text(report.to_json(), encoding="utf-8")
    os.replace(tmp, report_path)
    return report_path


def table_or_extract(table: str | Path, data_dir: str | Path, note: Callable[[str], None] | None = None):
    """The keypoint table at ``table``, extracted from the class folders of ``data_dir`` first when it is missing."""
    from .table import read_table

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

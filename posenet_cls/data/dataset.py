"""Class-named photo folders -> a labelled keypoint table, in worker processes, resumable.

``DATA_DIR/<label>/<photo>`` becomes one table row per photo with a pose; a video in a class
folder becomes one row per frame with a pose (``<label>/<video>#<frame, 6 digits>``, static mode
like a photo, all frames sharing the video's sha1). Every file's outcome is appended to a journal
(``<out>.partial``) as soon as it is known, so an interrupted run continues where it stopped (a
video stopped half-way is redone); the table and its report appear, atomically, only at the end.

Crashes: BlazePose runs in worker processes. When one dies (a segfault, a kill), the files that
were in flight become suspects and run again one at a time; a file that kills its worker
:data:`MAX_CRASHES` times while running alone is reported as ``failed`` and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.pose.extract import ATTEMPTS, is_video
from posenet_cls.data.table import check_table_path, pose_row, write_table

MAX_CRASHES = 2  # a file that kills the pose backend this many times while running alone is reported as failed


@dataclass
class FileResult:
    """What extraction made of one file or video frame: status is 'pose', 'no_pose', 'unreadable' or 'failed'.

    ``video`` is set on a video's frame rows (the video's path); a video's own result has it empty.
    """

    source: str
    label: str
    sha1: str
    status: str
    attempt: str = ""
    reason: str = ""
    keypoints: list[float] | None = None
    video: str = ""


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


@dataclass
class Decoded:
    """A file (or video frame) already read in this process: its result so far and its RGB image, None when final."""

    result: FileResult
    rgb: np.ndarray | None = None


Task = tuple[str, str, str]  # (root, path relative to root, label): read and decoded by the worker
Job = Task | Decoded


@dataclass(frozen=True)
class ExtractorFactory:
    """Builds one worker's static-mode BlazePose (a process or a Ray actor); picklable, so it travels to them.

    ``mediapipe``: :func:`extract.make_extractor`; ``onnx``: ``blazepose.pipeline.OnnxPoseExtractor``
    (``device``, ``batch``, ``model_dir``, ``threads`` apply to onnx only). The extractor has
    ``photo(rgb)``, ``close()`` and, when batched, ``photos(images)``.
    """

    backend: str = "mediapipe"
    model: str = "full"
    min_confidence: float = 0.5
    device: str = "auto"
    batch: int = 16
    model_dir: str | None = None
    threads: int | None = None

    def __call__(self):
        if self.backend == "onnx":
            try:
                from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor
            except ImportError as e:
                raise PosenetError(f"the onnx backend is not available here ({e})") from None
            return OnnxPoseExtractor(self.model_dir, device=self.device, batch=self.batch,
                                     min_confidence=self.min_confidence, threads=self.threads)
        from posenet_cls.pose.extract import make_extractor

        return make_extractor(self.backend, self.model, min_confidence=self.min_confidence)


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
_worker_error: PosenetError | None = None


def _init_worker(factory: Callable[[], object]) -> None:
    """Pool initialiser: build the extractor; an error is kept for the first task to raise (a failing
    initialiser would only break the pool, which reads as a crash)."""
    global _worker_extractor, _worker_error
    try:
        _worker_extractor = factory()
    except PosenetError as e:
        _worker_error = e
    except Exception as e:  # the backend's own error, in one line
        _worker_error = PosenetError(f"the pose backend could not start ({type(e).__name__}: {e})")


def read_failed(rel: str, label: str, error: OSError) -> FileResult:
    """The result of a file whose bytes could not be read."""
    return FileResult(rel, label, "", "unreadable", reason=f"cannot read file ({error.strerror or error})")


def decode_file(rel: str, label: str, data: bytes) -> tuple[FileResult, np.ndarray | None]:
    """A file's bytes -> (its result so far, with the sha1; 'unreadable' when not a photo) and its RGB image or None."""
    from posenet_cls.pose.extract import decode_image

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


def crash_reason(crashes: int) -> str:
    """The reason of a file reported as failed because the pose backend died on it."""
    return f"the pose backend crashed on this file ({crashes} times)"


def video_result(rel: str, label: str, sha1: str, frames: Iterable[str]) -> FileResult:
    """A video's own outcome from its frames' statuses: 'pose' when a person is in any frame."""
    statuses = list(frames)
    found, crashed = statuses.count("pose"), statuses.count("failed")
    note = f"; the pose backend crashed on {crashed} of them" if crashed else ""
    if found:
        return FileResult(rel, label, sha1, "pose", reason=f"a person in {found} of {len(statuses)} frames{note}")
    return FileResult(rel, label, sha1, "no_pose", reason=f"no person found in any of {len(statuses)} frames{note}")


def _file_sha1(path: Path) -> str:
    """The sha1 of a file's bytes, read in pieces (a video may be large)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def video_frames(root: str, rel: str, label: str, ends: dict[str, tuple[str, str, int]]) -> Iterator[Decoded]:
    """A video's frames as pending jobs (static mode, like photos); then ``ends[rel]`` = (label, sha1, frame count).

    A video that cannot be read is one final, unreadable job.
    """
    from posenet_cls.pose.extract import VideoReader

    path = Path(root) / rel
    try:
        sha1 = _file_sha1(path)
    except OSError as e:
        yield Decoded(read_failed(rel, label, e))
        return
    frames = 0
    try:
        with VideoReader(path) as video:
            for index, _t, rgb in video:
                yield Decoded(FileResult(f"{rel}#{index:06d}", label, sha1, "pending", video=rel), rgb)
                frames += 1
    except PosenetError as e:
        if not frames:
            yield Decoded(FileResult(rel, label, sha1, "unreadable", reason=str(e).split(": ", 1)[-1]))
            return
    ends[rel] = (label, sha1, frames)  # a video that breaks off keeps the frames already read


def with_videos(tasks: Iterable[Task],
                extract: Callable[[Iterator[Job]], Iterable[FileResult]]) -> Iterator[FileResult]:
    """``extract``'s results for ``tasks``, every video run as its frames: the frames' results, then the video's own."""
    ends: dict[str, tuple[str, str, int]] = {}
    frames: dict[str, dict[str, str]] = defaultdict(dict)

    def jobs() -> Iterator[Job]:
        for root, rel, label in tasks:
            if is_video(rel):
                yield from video_frames(root, rel, label, ends)
            else:
                yield root, rel, label

    def finished() -> Iterator[FileResult]:
        for rel, (label, sha1, count) in list(ends.items()):
            if len(frames[rel]) == count:
                del ends[rel]
                yield video_result(rel, label, sha1, frames.pop(rel).values())

    for result in extract(jobs()):
        yield result
        if result.video:
            frames[result.video][result.source] = result.status
        yield from finished()
    yield from finished()


def _job_result(job: Job) -> FileResult:
    """The result a job starts from (sha1 read here for a file the worker never got to hash)."""
    if isinstance(job, Decoded):
        return job.result
    root, rel, label = job
    try:
        return FileResult(rel, label, _file_sha1(Path(root) / rel), "pending")
    except OSError as e:
        return read_failed(rel, label, e)


def _process(job: Job) -> FileResult:
    """Extract one file or frame in the current worker; never raises for a bad file."""
    if _worker_error is not None:
        raise _worker_error
    if isinstance(job, Decoded):
        result, rgb = job.result, job.rgb
    else:
        root, rel, label = job
        try:
            data = (Path(root) / rel).read_bytes()
        except OSError as e:
            return read_failed(rel, label, e)
        result, rgb = decode_file(rel, label, data)
    return result if rgb is None else pose_result(result, _worker_extractor.photo(rgb))


def run_extraction(tasks: Iterable[Job], model: str = "full", workers: int = 1,
                   factory: Callable[[], object] | None = None, processes: bool | None = None) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks (or :class:`Decoded` frames); results in completion order.

    ``factory`` builds each worker's extractor (default: MediaPipe's ``model``). With ``processes``
    (default: when ``workers`` > 1) they run in a pool of ``workers`` processes that survives a
    crashing file (:func:`_pool_results`); otherwise in this process.
    """
    factory = factory or ExtractorFactory(model=model)
    if not (workers > 1 if processes is None else processes):
        global _worker_extractor
        _worker_extractor = factory()
        try:
            yield from map(_process, tasks)
        finally:
            _worker_extractor.close()
            _worker_extractor = None
        return
    yield from _pool_results(iter(tasks), factory, max(1, workers))


def _pool_results(jobs: Iterator[Job], factory: Callable[[], object], workers: int) -> Iterator[FileResult]:
    """Jobs through a pool of worker processes, at most ``workers + 1`` in flight; a dead worker costs no file.

    When the pool breaks, the jobs that were in flight become suspects: a new pool runs them one at a
    time, so only a job that breaks it while running alone has a crash counted; after
    :data:`MAX_CRASHES` of those it is 'failed' and never run again. Innocent jobs are never counted.
    """
    # forkserver: workers start from a clean process, never from one whose MediaPipe threads run.
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    ctx.set_forkserver_preload(["mediapipe", "posenet_cls.pose.extract"])
    suspects: deque[Job] = deque()
    crashes: Counter[str] = Counter()
    running: dict[Future, Job] = {}
    pool: ProcessPoolExecutor | None = None
    more = True

    def submit(job: Job) -> bool:
        """Hand a job to the pool; False, the job kept as a suspect, when the pool is already broken."""
        try:
            running[pool.submit(_process, job)] = job
            return True
        except BrokenProcessPool:
            suspects.appendleft(job)
            return False

    try:
        while True:
            if pool is None:
                pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(factory,))
            alone = bool(suspects)
            if alone:
                if not running:
                    submit(suspects.popleft())
            else:
                while more and len(running) <= workers:  # one more than the workers: none waits for the next job
                    job = next(jobs, None)
                    more = job is not None
                    if not more or not submit(job):
                        break
            if not running:
                if not suspects:
                    return
                pool.shutdown(wait=True)  # broken before it ran anything
                pool = None
                continue
            done = wait(running, return_when=FIRST_COMPLETED).done
            if any(isinstance(future.exception(), BrokenProcessPool) for future in done):
                done = wait(running).done  # the pool is broken: every job in flight ends at once
            crashed: list[Job] = []
            for future in done:
                job = running.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    crashed.append(job)
                else:
                    yield future.result()  # or the worker's own error, raised here
            if not crashed:
                continue
            pool.shutdown(wait=True)
            pool = None
            if not alone:
                suspects.extend(crashed)
                continue
            for job in crashed:  # ran alone: this job broke the pool
                pending = _job_result(job)
                crashes[pending.source] += 1
                if crashes[pending.source] >= MAX_CRASHES:
                    yield replace(pending, status="failed", reason=crash_reason(crashes[pending.source]))
                else:
                    suspects.appendleft(job)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


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


def extract_tasks(tasks: Iterable[Job], model: str, workers: int, backend: str = "mediapipe",
                  batch: int = 16, device: str = "auto", factory: Callable[[], object] | None = None,
                  processes: bool | None = None) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks (or :class:`Decoded` frames) with either backend; completion order.

    ``mediapipe``: :func:`run_extraction` (``workers`` processes, or this one; ``factory`` and
    ``processes`` as there). ``onnx``: BlazePose on onnxruntime, ``batch`` photos per network call on
    ``device``, decoding in ``workers`` threads. A bad backend is refused here, at the call, not when
    the first result is asked for.
    """
    from posenet_cls.pose.extract import check_backend

    check_backend(backend, model)
    if backend == "onnx" and factory is not None:
        raise PosenetError("an extractor factory runs in worker processes: the mediapipe backend only")
    if isinstance(tasks, list | tuple) and not tasks:
        return iter(())
    if backend == "onnx":
        from posenet_cls.pose.blazepose.batch import extract_files

        return extract_files(tasks, batch=batch, device=device, workers=workers)
    return run_extraction(tasks, model, workers, factory, processes)


def build_dataset(
    data_dir: str | Path,
    out: str | Path,
    model: str = "full",
    workers: int | None = None,
    progress: Callable[[Iterable[FileResult], int, int], Iterable[FileResult]] | None = None,
    backend: str = "mediapipe",
    batch: int = 16,
    device: str = "auto",
    factory: Callable[[], object] | None = None,
) -> ExtractReport:
    """Extract every photo and video frame under ``data_dir/<label>/`` into the table ``out`` and its report; resumable.

    ``backend`` ``onnx`` runs BlazePose full on onnxruntime (:mod:`posenet_cls.pose.blazepose`), ``batch``
    photos per network call on ``device``, decoding in ``workers`` threads. ``mediapipe`` runs in
    ``workers`` processes (at least one, so a file that crashes BlazePose cannot stop the run), each
    with the extractor ``factory`` builds (default: :class:`ExtractorFactory` of ``model``).
    ``progress`` wraps the files' results (a video's frames are not counted).
    """
    out = Path(out)
    check_table_path(out)
    extract_tasks([], model, 1, backend, factory=factory)  # refuse a bad backend before anything is written
    photos = list_photos(data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"data_dir": str(Path(data_dir).resolve()), "model": model}
    if backend != "mediapipe":  # journals of earlier versions have no backend: they stay valid for MediaPipe
        settings["backend"] = backend
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

        if tasks:
            results = files(with_videos(tasks, lambda jobs: extract_tasks(
                jobs, model, workers, backend, batch, device, factory, processes=True)))
        else:
            results = iter(())
        if progress is not None:
            results = progress(results, len(photos), resumed)
        for result in results:
            record(result)
    report = _finish(done, data_dir, out, resumed)
    journal.path.unlink()
    return report


def _finish(done: dict[str, FileResult], data_dir: str | Path, out: Path, resumed: int) -> ExtractReport:
    """Write the table (sorted by label, then path, so reruns give the same file) and the report."""
    results = sorted(done.values(), key=lambda r: (r.label, r.source))
    rows = [pose_row(r.source, r.label, r.sha1, r.attempt, np.asarray(r.keypoints))
            for r in results if r.status == "pose" and r.keypoints is not None]
    report = make_report([r for r in results if not r.video], data_dir, out, resumed)
    report = replace(report, poses=len(rows), attempts=dict(Counter(row["attempt"] for row in rows)))
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
    listed = {status: [{"source": r.source, "reason": r.reason} for r in results if r.status == status]
              for status in ("no_pose", "unreadable", "failed")}
    return ExtractReport(
        data_dir=str(data_dir),
        table=str(out),
        files=len(results),
        poses=len(poses),
        attempts=dict(Counter(r.attempt for r in poses)),
        **listed,
        videos=[{"source": r.source, "reason": r.reason} for r in results
                if is_video(r.source) and r.status in ("pose", "no_pose")],
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

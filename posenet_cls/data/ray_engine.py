"""Class-folder trees -> a Parquet keypoint table on Ray Data: decoding in tasks, BlazePose in an actor pool.

``extract_ray(SOURCE, OUT)`` lists ``SOURCE/<label>/<file>`` (a local folder, or a URI of any
filesystem pyarrow opens: ``file://``, ``s3://``, ``gs://``, ``hdfs://``, ...), sorts it and cuts it
into chunks of ``shard_files`` files. Ray Data streams the files through decoding tasks (bytes,
sha1, :func:`io.images.decode_image`) and a pool of actors that each hold one BlazePose
(``mediapipe``: :class:`pose.mediapipe_backend.PoseExtractor`; ``onnx``: ``blazepose.pipeline.OnnxPoseExtractor``,
batched, on a GPU when the actor has one). The driver collects the results and, as soon as every
file of chunk ``i`` is in, writes ``OUT/part-<i>.parquet`` atomically (temp file, rename): the
chunk's pose rows, sorted by label then source, and every file's outcome (pose, no_pose,
unreadable) in the shard's schema metadata. ``OUT/_manifest.json`` holds the settings.

Resume: a rerun keeps each shard whose metadata lists exactly its chunk's files with the same
settings and extracts the other chunks only; rows are keyed by source, so none is lost or doubled.
Faults: a dead actor is restarted and its batch retried by Ray Data (its actor pools run with
``max_restarts=-1``, ``max_task_retries=-1``); a result that arrives twice replaces, never adds.
A :class:`CrashLedger` actor hears from every :class:`PoseActor` which files it is about to run and
when it is done: a file begun and never finished was running when its actor died. Such files run
one at a time from then on, and one that killed its actor :data:`outcomes.MAX_CRASHES` times while
running alone comes back ``failed`` without being run again, as in the local engine.

Videos: every frame becomes a row ``<label>/<video>#<frame, 6 digits>`` extracted in static mode
like a photo (with the same retries), so a video's frames spread over the pool and a retried batch
gives the same rows; all frames of a video share the video's sha1 (a split keeps them together).
Ray is imported only here, and only when this engine is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from posenet_cls.data.dataset import ExtractReport, list_photos, make_report, write_report
from posenet_cls.pose.outcomes import (
    MAX_CRASHES,
    FileResult,
    Status,
    crash_reason,
    decode_file,
    pose_result,
    read_failed,
    video_frames,
    video_result,
)
from posenet_cls.errors import PosenetError
from posenet_cls.io.files import write_text_atomic
from posenet_cls.io.video import is_video
from posenet_cls.pose.extract import PoseOptions, check_backend
from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, NUM_WORLD_CHANNELS
from posenet_cls.data.table import parquet_shards, pose_row, read_table, write_parquet

RAY_INSTALL = 'pip install "posenet-cls[ray]"'
SHARD_FILES = 100  # files per shard: the unit of resuming
DECODE_CPUS = 0.5  # logical CPUs of one decoding task; what the actors leave free for decoding
BATCH = {"mediapipe": 8, "onnx": 16}  # images per actor call
FRAMES_PER_BATCH = 16  # a video's decoded frames leave its task in batches of this many
CONNECT_TIMEOUT_S = 5.0
MANIFEST = "_manifest.json"
META_KEY = "posenet_cls"
_SHARD = re.compile(r"part-(\d{5,})\.parquet")


@dataclass(frozen=True)
class RayConfig:
    """How to run: where (``address``: None starts a local Ray), the backend and the size of the actor pool."""

    address: str | None = None
    backend: str = "mediapipe"
    model: str = "full"
    min_confidence: float = 0.5
    workers: int | None = None  # actors; default: the cluster's CPUs, or GPUs / num_gpus_per_worker
    num_gpus_per_worker: float = 0.0
    shard_files: int = SHARD_FILES
    onnx_dir: str | None = None  # onnx: the networks' folder as every node sees it (default: blazepose.files.default_dir)

    def check(self) -> None:
        """Refuse settings that cannot run, naming the option."""
        check_backend(self.backend, self.model)
        if self.workers is not None and self.workers < 1:
            raise PosenetError(f"--workers must be at least 1, got {self.workers}")
        if self.num_gpus_per_worker < 0:
            raise PosenetError(f"--num-gpus-per-worker must be 0 or more, got {self.num_gpus_per_worker}")
        if self.shard_files < 1:
            raise PosenetError(f"--shard-files must be at least 1, got {self.shard_files}")


# --- the source: a local folder or a pyarrow filesystem URI ---------------------------------------


def _is_uri(source: str) -> bool:
    return "://" in source


def _open_uri(uri: str):
    """(pyarrow filesystem, path inside it) of a URI."""
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(uri)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for unknown schemes and bad URIs
        raise PosenetError(f"{uri}: cannot open ({str(e).splitlines()[0]})") from None
    return fs, root.rstrip("/")


def list_source(source: str) -> list[tuple[str, str]]:
    """(relative path, label) of every file of a class-folder tree, local or behind a URI, sorted by label then path."""
    if not _is_uri(source):
        files = list_photos(source)
    else:
        import pyarrow.fs as pafs

        fs, root = _open_uri(source)
        info = fs.get_file_info(root)
        if info.type != pafs.FileType.Directory:
            raise PosenetError(f"{source}: no such folder")
        files = []
        for entry in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
            parts = entry.path[len(root) + 1:].split("/")
            if entry.type == pafs.FileType.File and len(parts) > 1 and not any(p.startswith(".") for p in parts):
                files.append(("/".join(parts), parts[0]))
        if not files:
            raise PosenetError(f"{source}: found no photos in class sub-folders (expected {source}/<label>/<photo>)")
    return sorted(files, key=lambda f: (f[1], f[0]))


_uri_cache: dict[str, tuple] = {}


def _read_bytes(source: str, rel: str) -> bytes:
    """The bytes of ``source/rel`` (OSError when unreadable)."""
    if not _is_uri(source):
        return (Path(source) / rel).read_bytes()
    if source not in _uri_cache:
        _uri_cache[source] = _open_uri(source)
    fs, root = _uri_cache[source]
    with fs.open_input_stream(f"{root}/{rel}") as f:
        return f.read()


# --- the two stages: decoding (tasks) and BlazePose (actors) ------------------------------------


def _empty_image() -> np.ndarray:
    return np.zeros((0, 0, 3), np.uint8)


def _record(chunk: int, result: FileResult, image: np.ndarray | None = None, video: str = "", frames: int = -1) -> dict:
    """One row between the stages: a file's (or frame's) result so far and its image, if it still needs BlazePose."""
    return {"chunk": chunk, "source": result.source, "label": result.label, "sha1": result.sha1, "status": result.status,
            "attempt": result.attempt, "reason": result.reason, "video": video, "frames": frames,
            "image": _empty_image() if image is None else image}


def _batch(records: list[dict]) -> dict[str, np.ndarray]:
    """Rows -> a column batch; images as an object array (their shapes differ)."""
    out = {k: np.array([r[k] for r in records]) for k in records[0] if k != "image"}
    out["image"] = np.empty(len(records), dtype=object)
    out["image"][:] = [r["image"] for r in records]
    return out


def _video_records(source: str, chunk: int, rel: str, label: str) -> Iterator[list[dict]]:
    """A video's frames as pending rows (in batches), then one row for the video itself with its frame count.

    The frames come from :func:`outcomes.video_frames`, as in the local engine; a video behind a URI is
    copied to a local file first (OpenCV reads videos from files only).
    """
    tmp = None
    try:
        path = None
        if _is_uri(source):
            try:
                data = _read_bytes(source, rel)
            except OSError as e:
                yield [_record(chunk, read_failed(rel, label, e))]
                return
            with tempfile.NamedTemporaryFile(suffix=Path(rel).suffix, delete=False) as tmp:
                tmp.write(data)
            del data
            path = Path(tmp.name)
        ends: dict[str, tuple[str, str, int]] = {}
        pending: list[dict] = []
        for job in video_frames(source, rel, label, ends, path=path):
            if job.rgb is None:  # unreadable: the video's one, final row
                yield [_record(chunk, job.result)]
                return
            pending.append(_record(chunk, job.result, job.rgb, video=rel))
            if len(pending) == FRAMES_PER_BATCH:
                yield pending
                pending = []
        if pending:
            yield pending
        _, sha1, frames = ends[rel]  # a video that breaks off keeps the frames already sent
        yield [_record(chunk, FileResult(rel, label, sha1, Status.VIDEO), video=rel, frames=frames)]
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


def decode_batch(batch: dict[str, np.ndarray], source: str) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data task: files -> decoded photos and video frames, or their final result when unreadable."""
    photos: list[dict] = []
    for chunk, rel, label in zip(batch["chunk"], batch["source"], batch["label"]):
        chunk, rel, label = int(chunk), str(rel), str(label)
        if is_video(rel):
            for records in _video_records(source, chunk, rel, label):
                yield _batch(records)
            continue
        try:
            data = _read_bytes(source, rel)
        except OSError as e:
            photos.append(_record(chunk, read_failed(rel, label, e)))
            continue
        result, rgb = decode_file(rel, label, data)
        photos.append(_record(chunk, result, rgb))
    if photos:
        yield _batch(photos)


class CrashLedger:
    """Ray actor, one per run: which files the pose actors began and finished, so a file that kills its actor is known.

    An entry still open when the same file is planned again belongs to an attempt whose actor died.
    Only a death while the file ran alone counts against it; after ``max_crashes`` of those it fails.
    """

    def __init__(self, max_crashes: int = MAX_CRASHES):
        self.max_crashes = max_crashes
        self.open: dict[str, bool] = {}  # source -> whether it runs alone
        self.crashes: Counter[str] = Counter()
        self.suspects: set[str] = set()

    def plan(self, sources: list[str]) -> list[str]:
        """For each file of a batch: 'batch' (begun now, together), 'alone' (one at a time) or 'failed'."""
        plan = []
        for source in sources:
            alone = self.open.pop(source, None)
            if alone is not None:  # the attempt that began it never finished: its actor died
                self.suspects.add(source)
                if alone:
                    self.crashes[source] += 1
            if self.crashes[source] >= self.max_crashes:
                plan.append(Status.FAILED)
            elif source in self.suspects:
                plan.append("alone")
            else:
                plan.append("batch")
                self.open[source] = False
        return plan

    def begin(self, source: str) -> None:
        """A suspect file is about to run alone."""
        self.open[source] = True

    def finish(self, sources: list[str]) -> None:
        """These files are done (their actor lived to return)."""
        for source in sources:
            self.open.pop(source, None)


class PoseActor:
    """Ray Data actor: one BlazePose, built by ``factory``; fills in the pose of each pending photo or frame of a batch.

    Every pending file is announced to the run's :class:`CrashLedger` first; the ones it names run
    one at a time, or come back failed.
    """

    def __init__(self, factory: Callable[[], object], ledger):
        os.environ.setdefault("GLOG_minloglevel", "2")
        extractor = factory()
        batched = getattr(extractor, "photos", None)
        self._photos = batched or (lambda images: [extractor.photo(rgb) for rgb in images])
        self._extractor = extractor
        self._ledger = ledger

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ray

        n = len(batch["source"])
        status, attempt, reason = ([str(v) for v in batch[k]] for k in ("status", "attempt", "reason"))
        source = {i: str(batch["source"][i]) for i in range(n) if status[i] == Status.PENDING}
        pending = list(source)
        plan = dict(zip(pending, ray.get(self._ledger.plan.remote(list(source.values()))))) if pending else {}
        together = [i for i in pending if plan[i] == "batch"]
        found = dict(zip(together, self._photos([batch["image"][i] for i in together]))) if together else {}
        if together:
            ray.get(self._ledger.finish.remote([source[i] for i in together]))
        for i in pending:
            if plan[i] == "alone":
                ray.get(self._ledger.begin.remote(source[i]))
                found[i] = self._photos([batch["image"][i]])[0]
                ray.get(self._ledger.finish.remote([source[i]]))
            elif plan[i] == Status.FAILED:
                status[i], reason[i] = Status.FAILED, crash_reason(MAX_CRASHES)
        keypoints = np.zeros((n, NUM_LANDMARKS * NUM_CHANNELS), np.float32)
        world = np.full((n, NUM_LANDMARKS * NUM_WORLD_CHANNELS), np.nan, np.float32)
        for i, pose in found.items():
            r = pose_result(FileResult(source[i], str(batch["label"][i]), str(batch["sha1"][i]), Status.PENDING), pose)
            status[i], attempt[i], reason[i] = r.status, r.attempt, r.reason
            if r.keypoints is not None:
                keypoints[i] = r.keypoints
            if r.world is not None:
                world[i] = r.world
        out = {k: v for k, v in batch.items() if k != "image"}
        out.update(status=np.array(status), attempt=np.array(attempt), reason=np.array(reason), keypoints=keypoints,
                   world=world)
        return out


# --- the driver: chunks, shards, resume ---------------------------------------------------------


@dataclass
class _Chunk:
    """The files of one shard and what has come back for them."""

    index: int
    files: list[tuple[str, str]]
    results: dict[str, FileResult] = field(default_factory=dict)  # file source -> its outcome
    rows: dict[str, dict] = field(default_factory=dict)  # row source (a photo, or a video's frame) -> table row
    frames: dict[str, dict[str, str]] = field(default_factory=dict)  # video -> frame source -> its status
    videos: dict[str, FileResult] = field(default_factory=dict)  # video -> its end row (frame count in `reason`)

    def add(self, row: dict) -> None:
        """One result row from the actors; a row that arrives twice (a retried batch) replaces the first."""
        source, label, sha1, status = row["source"], row["label"], row["sha1"], row["status"]
        if status == Status.POSE:
            self.rows[source] = pose_row(source, label, sha1, row["attempt"], row["keypoints"], world=row["world"])
        if status == "video":
            self.videos[source] = FileResult(source, label, sha1, Status.VIDEO, reason=str(row["frames"]))
        elif row[Status.VIDEO]:
            self.frames.setdefault(row[Status.VIDEO], {})[source] = status
        else:
            self.results[source] = FileResult(source, label, sha1, status, attempt=row["attempt"], reason=row["reason"])
        self._finish_videos()

    def _finish_videos(self) -> None:
        """A video's outcome once its end row and all of its frames are in."""
        for video, end in self.videos.items():
            frames = self.frames.get(video, {})
            if video in self.results or len(frames) != int(end.reason):
                continue
            self.results[video] = video_result(video, end.label, end.sha1, frames.values())

    def complete(self) -> bool:
        """Whether every file (and every frame of every video) has its result."""
        return len(self.results) == len(self.files)


def _plain(value):
    """A numpy scalar as its Python value; arrays (keypoints) as they are."""
    return value.item() if isinstance(value, np.generic) else value


def _shard_path(out: Path, index: int) -> Path:
    return out / f"part-{index:05d}.parquet"


def _shard_meta(path: Path) -> dict | None:
    """The metadata a shard was written with, or None when the file is not a shard of ours."""
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY.encode())
        return json.loads(raw) if raw else None
    except Exception:  # a torn or foreign file is redone, whatever pyarrow says about it
        return None


def _write_shard(out: Path, chunk: _Chunk, settings: dict) -> None:
    """The chunk's rows (sorted by label, then source) and every file's outcome, as one Parquet file, atomically."""
    rows = sorted(chunk.rows.values(), key=lambda r: (r["label"], r["source"]))
    files = [asdict(replace(chunk.results[rel], keypoints=None, world=None)) for rel, _ in chunk.files]
    meta = {"settings": settings, "chunk": chunk.index, "files": files}
    write_parquet(rows, _shard_path(out, chunk.index), metadata={META_KEY: json.dumps(meta)})


def _prepare_out(out: Path, settings: dict, chunks: list[_Chunk]) -> dict[int, dict]:
    """Check OUT's manifest, clear stale and partial files; the metadata of the shards that can be kept."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8")).get("settings")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        if previous != settings:
            raise PosenetError(f"{out}: holds a run with other settings; rerun with those settings to resume, "
                               "or delete the folder to start over")
    else:
        stray = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        if stray:
            raise PosenetError(f"{out}: the folder exists and is not an extract --engine ray output ('{stray[0]}')")
    write_text_atomic(manifest, json.dumps({"settings": settings}, indent=1))
    for leftover in out.glob("part-*.parquet.tmp"):
        leftover.unlink()
    kept: dict[int, dict] = {}
    for path in out.glob("part-*.parquet"):
        m = _SHARD.fullmatch(path.name)
        index = int(m.group(1)) if m else -1
        meta = _shard_meta(path)
        ok = (0 <= index < len(chunks) and meta is not None and meta.get("settings") == settings
              and [f["source"] for f in meta.get("files", [])] == [rel for rel, _ in chunks[index].files])
        if ok:
            kept[index] = meta
        else:
            path.unlink()
    return kept


def _check_address(address: str) -> None:
    """Refuse within seconds an address where no Ray cluster answers (ray.init would retry for minutes).

    Ray's GCS (and the Ray Client server) speak gRPC: an HTTP/2 server answers the client preface
    with a SETTINGS frame at once; anything else listening on the port does not.
    """
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:
            address = canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError) as e:
            raise PosenetError(f"--address auto: no running Ray cluster found ({str(e).strip().splitlines()[0]})") from None
    hostport = address.rpartition("://")[2].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise PosenetError(f"--address {address}: expected HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as conn:
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            reply = conn.recv(9)
    except TimeoutError:
        reply = b""
    except OSError as e:
        raise PosenetError(f"--address {address}: no Ray cluster reachable there ({e.strerror or e})") from None
    if len(reply) < 4 or reply[3] != 4:  # the frame type of an HTTP/2 SETTINGS frame
        raise PosenetError(f"--address {address}: something listens there but it is not a Ray cluster "
                           f"(no gRPC answer within {CONNECT_TIMEOUT_S:g} s)")


def connect(address: str | None):
    """Ray, connected to ``address`` or to a new local instance; (ray module, whether this call started it)."""
    try:
        import ray
    except ImportError:
        raise PosenetError(f"--engine ray needs Ray; {RAY_INSTALL}") from None
    if address:
        _check_address(address)
    if ray.is_initialized():
        return ray, False
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ warnings; its errors still raise
    kwargs = {"address": address, "logging_level": logging.ERROR, "log_to_driver": False}
    if not address:  # "local": a new instance, never a cluster found in /tmp/ray or $RAY_ADDRESS
        kwargs.update(address="local", include_dashboard=False)
    from posenet_cls.io.native import quiet_native_output

    try:
        with quiet_native_output():  # the C++ core's start-up lines, printed before its log level applies
            ray.init(**kwargs)
    except Exception as e:  # ConnectionError, RuntimeError, ray's AuthenticationError, ...: the root cause, in one line
        while e.__cause__ is not None:
            e = e.__cause__
        where = f"--address {address}" if address else "local Ray"
        reason = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        hint = " (token auth: export RAY_AUTH_MODE=token and the cluster's token)" if "Token" in reason else ""
        raise PosenetError(f"{where}: cannot connect to a Ray cluster: {reason}{hint}") from None
    return ray, True


def _pool(ray, config: RayConfig, batches: int) -> tuple[int, float]:
    """(actors, CPUs per actor): by default one actor per CPU (or per GPU share), leaving room for decoding;
    never more actors than batches."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    if config.num_gpus_per_worker > 0:
        if gpus < config.num_gpus_per_worker:
            raise PosenetError(f"--num-gpus-per-worker {config.num_gpus_per_worker}: the cluster has {gpus:g} GPU(s)")
        workers = min(config.workers or int(gpus // config.num_gpus_per_worker), batches)
        return workers, min(1.0, max(0.1, (cpus - DECODE_CPUS) / workers))
    workers = min(config.workers or max(1, int(cpus)), batches)
    return workers, min(1.0, max(0.1, (cpus - DECODE_CPUS) / workers))


def _quiet_ray_data(ray) -> None:
    """No progress bars, execution plans or deprecation notices from Ray Data itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Ray Data's own, about its own settings
        ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
    for name in ("ray", "ray.data", "ray.data._internal"):
        logging.getLogger(name).setLevel(logging.ERROR)


def extract_ray(
    source: str | Path,
    out: str | Path,
    config: RayConfig = RayConfig(),
    progress: Callable[[int, int, int], Callable[[int], None]] | None = None,
    factory: Callable[[], object] | None = None,
) -> ExtractReport:
    """Extract ``source/<label>/<file>`` into the shard folder ``out`` and its report on Ray; resumable.

    ``progress(total files, files already done, chunks to run)`` may return a callback that is
    given the number of files finished each time a shard is written. ``factory`` builds each
    actor's extractor (picklable; default: :class:`pose.extract.PoseOptions` of the config).
    """
    config.check()
    source, out = str(source), Path(out)
    if (out.exists() and not out.is_dir()) or out.suffix.lower() == ".csv":
        raise PosenetError(f"{out}: --engine ray writes a folder of Parquet shards; give a new folder name such as poses.parquet")
    listing = list_source(source)
    chunks = [_Chunk(i // config.shard_files, listing[i:i + config.shard_files])
              for i in range(0, len(listing), config.shard_files)]
    resolved = source if _is_uri(source) else str(Path(source).resolve())
    settings = {"source": resolved, "backend": config.backend, "model": config.model,
                "min_confidence": config.min_confidence, "shard_files": config.shard_files}
    kept = _prepare_out(out, settings, chunks)
    todo = [c for c in chunks if c.index not in kept]
    resumed = sum(len(chunks[i].files) for i in kept)
    tick = progress(len(listing), resumed, len(todo)) if progress else None
    if todo:
        _run(todo, resolved, out, settings, config, tick, factory)
    results = [FileResult(**f) for path in parquet_shards(out) for f in _shard_meta(path)["files"]]
    report = make_report(results, source, out, resumed)
    table = read_table(out)  # the table as train reads it: validated
    if len(set(table.sources.tolist())) != len(table):
        raise PosenetError(f"{out}: a source appears in more than one row; delete the folder and run again")
    report = replace(report, poses=len(table), attempts=dict(Counter(table.attempts.tolist())))
    write_report(report, out)
    return report


def _run(todo: list[_Chunk], source: str, out: Path, settings: dict, config: RayConfig,
         tick: Callable[[int], None] | None, factory: Callable[[], object] | None = None) -> None:
    """Stream the chunks' files through Ray Data and write each chunk's shard as soon as it is complete."""
    ray, started = connect(config.address)
    ledger = None
    try:
        _quiet_ray_data(ray)
        items = [{"chunk": c.index, "source": rel, "label": label} for c in todo for rel, label in c.files]
        videos = any(is_video(item["source"]) for item in items)  # a video gives many batches
        workers, actor_cpus = _pool(ray, config, len(items) if videos else -(-len(items) // BATCH[config.backend]))
        device = "cuda" if config.num_gpus_per_worker > 0 else "cpu"
        if factory is None:
            factory = PoseOptions(config.backend, config.model, config.min_confidence, device=device, batch=BATCH["onnx"],
                                  model_dir=config.onnx_dir, threads=1 if device == "cpu" else None)  # an actor: one core
        ledger = ray.remote(num_cpus=0, max_restarts=0)(CrashLedger).remote(MAX_CRASHES)
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * workers, 1000)))
        ds = ds.map_batches(decode_batch, fn_kwargs={"source": source}, batch_size=BATCH[config.backend],
                            batch_format="numpy", num_cpus=DECODE_CPUS)
        ds = ds.map_batches(PoseActor, fn_constructor_kwargs={"factory": factory, "ledger": ledger},
                            batch_size=BATCH[config.backend], batch_format="numpy", concurrency=workers,
                            num_cpus=actor_cpus, num_gpus=config.num_gpus_per_worker or None)
        by_index = {c.index: c for c in todo}
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            touched = set()
            for i in range(len(batch["source"])):
                row = {k: _plain(batch[k][i]) for k in batch}
                if row["chunk"] in by_index:  # a late copy of a retried batch of a written shard is dropped
                    by_index[row["chunk"]].add(row)
                    touched.add(row["chunk"])
            for index in sorted(touched):
                chunk = by_index.get(index)
                if chunk is not None and chunk.complete():
                    _write_shard(out, chunk, settings)
                    del by_index[index]
                    if tick:
                        tick(len(chunk.files))
        if by_index:
            missing = min(by_index)
            raise PosenetError(f"{out}: Ray returned no result for some files of shard {missing}; run again to resume")
    except PosenetError:
        raise
    except Exception as e:  # a task or actor that failed past its retries: Ray's error, in one line
        raise PosenetError(f"{out}: the Ray run failed ({type(e).__name__}: {str(e).strip().splitlines()[0]}); "
                           "run again to resume") from None
    finally:
        if ledger is not None and not started:
            ray.kill(ledger)
        if started:
            ray.shutdown()

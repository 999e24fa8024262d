"""Photo files -> :class:`posenet_cls.pose.outcomes.FileResult` on the onnxruntime BlazePose, batched.

The same ``(root, relative path, label)`` tasks and the same results (sha1, status ``pose`` /
``no_pose`` / ``unreadable``, reason, attempt, keypoints as a flat list of 33 x 4 floats) as
:func:`posenet_cls.pose.workers.run_extraction`, so a table or a prediction can switch backends with
nothing else changed. Results come in completion order (``build_dataset`` sorts; ``predict``
reorders).

Three stages overlap: decode workers read, hash and decode files ahead of need (at most
``batch + 2 x workers`` decoded photos wait for the network); the main thread gathers decoded
photos into batches; network threads run :meth:`OnnxPoseExtractor.photos` on whole batches, each
on one core, one batch per thread at a time. Memory stays bounded by about
``(threads + 1) x batch + prefetch`` decoded photos.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from posenet_cls.pose.outcomes import FileResult, Job, Task, pose_result, read_and_decode
from posenet_cls.errors import PosenetError

POOLS = ("thread", "process")
# Decoding in threads of this process, one per core, beside one network thread per core: the fastest split
# measured on a 2-core CPU (all 483 yoga8 photos, batch 16, best of 2): 2 decode threads 70.5 photos/s, 1 thread
# 66.8, 2 decode processes 64.1, 1 process 60.9; with one network thread ~41 whatever decodes. cv2.imdecode,
# Pillow and hashlib release the GIL and a thread hands its image over without pickling it through a pipe:
# decoding alone runs at ~600 photos/s in 2 threads (~320 in 2 processes), 8x the networks, so they never wait.
DECODE_POOL = "thread"


def network_threads(device: str) -> int:
    """Batches :func:`extract_files` runs side by side by default on ``device`` (cpu or cuda): one per core, one on CUDA."""
    return 1 if device == "cuda" else os.cpu_count() or 1


def _decode_pool(pool: str, workers: int) -> Executor:
    if pool not in POOLS:
        raise PosenetError(f"unknown decode pool {pool!r}; choose from {', '.join(POOLS)}")
    if pool == "thread":
        return ThreadPoolExecutor(workers, thread_name_prefix="decode")
    from posenet_cls.pose.lifetime import process_pool

    return process_pool(workers)  # from a forkserver: never a fork of this process, whose network threads run


def decode_files(
    tasks: Iterable[Job], workers: int | None = None, ahead: int | None = None, pool: str = DECODE_POOL
) -> Iterator[tuple[FileResult, np.ndarray | None]]:
    """:func:`read_and_decode` of every task, in task order, by ``workers`` decode workers (default: one per core).

    At most ``ahead`` tasks (default ``2 x workers``) are decoded ahead of the consumer, so memory
    stays bounded however slowly the results are taken. ``pool`` is ``thread`` or ``process``.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    if not isinstance(workers, int) or workers < 1:
        raise PosenetError(f"decode workers must be at least 1, got {workers}")
    ahead = max(ahead or 2 * workers, 1)
    todo = iter(tasks)
    executor = _decode_pool(pool, workers)
    running: deque[Future] = deque()
    try:
        for task in todo:
            running.append(executor.submit(read_and_decode, task))
            if len(running) >= ahead:
                break
        while running:
            done = running.popleft().result()
            for task in todo:  # keep the window full before handing the photo over
                running.append(executor.submit(read_and_decode, task))
                break
            yield done
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def time_decoding(tasks: Sequence[Task], workers: int | None = None, pool: str = DECODE_POOL) -> tuple[float, int, int]:
    """Seconds, files and decoded photos for reading, hashing and decoding ``tasks`` alone (pool start included)."""
    start = time.perf_counter()
    files = decoded = 0
    for _, rgb in decode_files(tasks, workers, pool=pool):
        files += 1
        decoded += rgb is not None
    return time.perf_counter() - start, files, decoded


def extract_files(
    tasks: Iterable[Job],
    *,
    batch: int = 16,
    device: str = "auto",
    workers: int | None = None,
    threads: int | None = None,
    model_dir: str | Path | None = None,
    pool: str = DECODE_POOL,
    attempts: tuple[str, ...] | None = None,
) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks with the ONNX BlazePose; results in completion order.

    ``batch`` photos per network call; ``workers`` decode workers (default: one per core);
    ``threads`` batches run side by side, one core each (default: one per core, one on CUDA);
    ``device`` auto, cpu or cuda; ``model_dir`` the converted networks (default:
    :func:`posenet_cls.pose.blazepose.files.default_dir`). Photos in which no person is found get the
    retries of :mod:`posenet_cls.pose.extract` (pad, mirror; ``attempts`` when given), batched too.
    """
    from posenet_cls.pose.blazepose.files import require_networks
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

    if not isinstance(batch, int) or batch < 1:
        raise PosenetError(f"batch must be a whole number >= 1, got {batch!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise PosenetError(f"threads must be a whole number >= 1, got {threads!r}")
    require_networks(model_dir)
    decoders = (os.cpu_count() or 1) if workers is None else workers
    tasks = iter(tasks)  # taken lazily: video frames are made as they are needed
    first = next(tasks, None)
    if first is None:
        return
    tasks = itertools.chain([first], tasks)
    # threads=1: the extractor runs each call on the calling thread; the batches run side by side here instead
    with OnnxPoseExtractor(model_dir, device, batch=batch, threads=1, attempts=attempts) as extractor:
        threads = threads or network_threads(extractor.device)
        net = ThreadPoolExecutor(threads, thread_name_prefix="blazepose")
        running: set[Future] = set()
        results: list[FileResult] = []
        images: list[np.ndarray] = []

        def run(pending: list[FileResult], rgbs: list[np.ndarray]) -> list[FileResult]:
            return [pose_result(r, found) for r, found in zip(pending, extractor.photos(rgbs))]

        photos = decode_files(tasks, workers, batch + 2 * decoders, pool)
        try:
            for result, rgb in photos:
                if rgb is None:
                    yield result
                    continue
                results.append(result)
                images.append(rgb)
                if len(images) < batch:
                    continue
                while len(running) >= threads:  # every network thread busy: wait for one batch
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.remove(future)
                        yield from future.result()
                running.add(net.submit(run, results, images))
                results, images = [], []
            if images:
                running.add(net.submit(run, results, images))
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    running.remove(future)
                    yield from future.result()
        finally:  # also when the consumer stops early: pending decodes are cancelled, running batches finish
            photos.close()
            net.shutdown(wait=True, cancel_futures=True)


def extract_people(tasks: Iterable[Task], options) -> Iterator[FileResult]:
    """Photo files -> results with up to ``options.max_people`` poses each (``keypoints``: the largest person,
    ``others``: the rest, largest first), on the onnxruntime BlazePose in this process, in task order."""
    from dataclasses import replace

    from posenet_cls.pose.outcomes import Status
    from posenet_cls.pose.extract import make_extractor
    from posenet_cls.pose.people import make_tracker

    with make_extractor(replace(options, tracking=False)) as extractor:
        people = make_tracker(extractor, options.max_people)
        for task in tasks:
            pending, rgb = read_and_decode(task)
            if rgb is None:
                yield pending
                continue
            found = people.photo(rgb)
            if not found:
                yield replace(pending, status=Status.NO_POSE, reason="no person found")
                continue
            poses = [p.keypoints.ravel().tolist() for p in found]
            worlds = [None if p.world is None else p.world.ravel().tolist() for p in found]
            yield replace(pending, status=Status.POSE, attempt="people", keypoints=poses[0], others=poses[1:],
                          world=worlds[0], others_world=worlds[1:])

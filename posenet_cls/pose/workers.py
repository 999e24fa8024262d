"""The local engine: BlazePose in worker processes that survive a file that crashes them, or in this process.

Each worker holds one extractor, built once from picklable options (:class:`pose.extract.PoseOptions`
or any factory). When a worker dies (a segfault, a kill), the files that were in flight become
suspects and run again one at a time; a file that kills its worker :data:`outcomes.MAX_CRASHES`
times while running alone is reported as failed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from posenet_cls.pose.outcomes import (
    MAX_CRASHES,
    FileResult,
    Job,
    Status,
    crash_reason,
    job_result,
    pose_result,
    read_and_decode,
)
from posenet_cls.errors import PosenetError
from posenet_cls.pose.extract import PoseOptions
from posenet_cls.pose.lifetime import process_pool


# What the forkserver imports once, so that each new worker (a fork of it) has MediaPipe loaded already.
PRELOAD = ("mediapipe", "posenet_cls.pose.mediapipe_backend")

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


def _process(job: Job) -> FileResult:
    """Extract one file or frame in the current worker; never raises for a bad file."""
    if _worker_error is not None:
        raise _worker_error
    result, rgb = read_and_decode(job)
    return result if rgb is None else pose_result(result, _worker_extractor.photo(rgb))


def run_extraction(tasks: Iterable[Job], factory: Callable[[], object] = PoseOptions(), workers: int = 1,
                   processes: bool | None = None) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks (or :class:`Decoded` frames); results in completion order.

    ``factory`` builds each worker's extractor (default: MediaPipe's BlazePose full, trying each photo
    with :data:`posenet_cls.pose.common.ATTEMPTS`). With ``processes`` (default: when ``workers`` > 1)
    they run in a pool of ``workers`` processes that survives a crashing file (:func:`_pool_results`);
    otherwise in this process.
    """
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
                pool = process_pool(workers, _init_worker, (factory,), PRELOAD)
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
                pending = job_result(job)
                crashes[pending.source] += 1
                if crashes[pending.source] >= MAX_CRASHES:
                    yield replace(pending, status=Status.FAILED, reason=crash_reason(crashes[pending.source]))
                else:
                    suspects.appendleft(job)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def extract_tasks(tasks: Iterable[Job], options: PoseOptions = PoseOptions(), workers: int = 1,
                  factory: Callable[[], object] | None = None, processes: bool | None = None) -> Iterator[FileResult]:
    """Extract (root, relative path, label) tasks (or :class:`Decoded` frames) as ``options`` say; completion order.

    ``mediapipe``: :func:`run_extraction` (``workers`` processes, or this one; ``factory`` and
    ``processes`` as there). ``onnx``: BlazePose on onnxruntime, ``options.batch`` photos per network
    call on ``options.device``, decoding in ``workers`` threads. Several people (``options.max_people``
    > 1): photos only, each result's ``keypoints`` the largest person and ``others`` the rest. A bad
    backend is refused here, at the call, not when the first result is asked for.
    """
    options.check()
    if options.backend == "onnx" and factory is not None:
        raise PosenetError("an extractor factory runs in worker processes: the mediapipe backend only")
    if isinstance(tasks, list | tuple) and not tasks:
        return iter(())
    if options.several:
        from posenet_cls.pose.onnx_batch import extract_people

        return extract_people(tasks, options)
    if options.backend == "onnx":
        from posenet_cls.pose.onnx_batch import extract_files

        return extract_files(tasks, batch=options.batch, device=options.device, workers=workers,
                             attempts=options.attempts)
    return run_extraction(tasks, factory or options, workers, processes)

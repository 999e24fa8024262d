"""Worker pools whose processes end with the process that started them, however it ends (``kill -9`` included).

A pool worker blocks on a queue that it holds both ends of, so nothing tells it that its owner died;
left alone it would wait forever, and keep the forkserver alive with it. Each worker therefore
watches its owner from a thread and kills itself when the owner is gone. The forkserver and
multiprocessing's resource tracker need nothing more: each exits by itself once every process
holding its pipe (the owner and the workers) has ended.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

POLL_S = 1.0  # how often the portable watch looks for its owner, where Linux's pidfd is missing


def process_pool(workers: int, initializer: Callable[..., object] | None = None, initargs: tuple = (),
                 preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that end when this process ends; ``initializer(*initargs)`` runs in each.

    Workers start from a forkserver (spawn where there is none), never as a fork of a process whose
    threads run; ``preload`` names modules the forkserver imports once for all workers (only the
    first pool of a process starts the forkserver, so only its ``preload`` counts).
    """
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    if preload:
        ctx.set_forkserver_preload(list(preload))
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def _start_worker(owner: int, initializer: Callable[..., object] | None, initargs: tuple) -> None:
    """Pool initialiser: watch ``owner`` first (a slow initialiser must not outlive it), then run ``initializer``."""
    end_with(owner)
    if initializer is not None:
        initializer(*initargs)


def end_with(owner: int) -> None:
    """Kill this process as soon as process ``owner`` has ended (Linux: at once; other POSIX: within :data:`POLL_S`)."""
    if os.name != "posix" or owner == os.getpid():  # Windows: no watch (os.kill there would terminate ``owner``)
        return
    try:
        pidfd = os.pidfd_open(owner)  # Linux >= 5.3: readable once the owner has exited
    except ProcessLookupError:  # already gone
        _die()
    except (AttributeError, OSError):  # older kernel, or not Linux: poll instead
        pidfd = None
    threading.Thread(target=_watch, args=(owner, pidfd), name=f"end-with-{owner}", daemon=True).start()


def _watch(owner: int, pidfd: int | None) -> None:
    """Wait for ``owner`` to end, then die."""
    if pidfd is not None:
        select.select([pidfd], [], [])
    else:
        while _alive(owner):
            time.sleep(POLL_S)
    _die()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _die() -> None:
    """End this process at once, as its owner did: no cleanup that could wait on the owner's pipes."""
    os.kill(os.getpid(), signal.SIGKILL)

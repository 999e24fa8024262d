"""Worker processes end with the process that started them, however it ends (kill -9 included)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import Proc, descendants, describe, in_session, still_alive

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")

# Extraction in 2 worker processes, or decoding in a pool of 2 processes; one line per file, as it is done, taken
# slowly so that the pool still works when the test kills the driver.
DRIVER = """
import sys, time
from pathlib import Path

root, pool = sys.argv[1], sys.argv[2]
tasks = [(root, str(p.relative_to(root)), p.parent.name) for p in sorted(Path(root).glob("*/*"))]
if pool == "extract":
    from posenet_cls.pose.workers import run_extraction
    results = run_extraction(tasks, workers=2, processes=True)
else:
    from posenet_cls.pose.onnx_batch import decode_files
    results = (result for result, _ in decode_files(tasks, workers=2, pool="process"))
for result in results:
    print(result.source, flush=True)
    time.sleep(0.2)
"""
ENDS_WITHIN_S = 20  # the workers notice at once; this is room for a loaded 2-core machine


@pytest.fixture
def photos(yoga8, tmp_path) -> Path:
    """A class-folder tree of 48 real photos (links): more than the extraction finishes while the test looks."""
    root = tmp_path / "photos"
    for label in ("Downward_dog", "Triangle", "Vrukshasana"):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:16]:
            (root / label / photo.name).symlink_to(photo)
    return root


@pytest.mark.parametrize("pool", ["extract", "decode"])
def test_workers_end_when_their_parent_is_killed(photos, tmp_path, pool):
    log = tmp_path / "done.txt"
    with log.open("w") as out:
        # its own session: whatever it starts, and does not move elsewhere, is found by session id after the kill
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(photos), pool], stdout=out,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    tree: list[Proc] = []
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline and log.read_text().count("\n") < 2:
            time.sleep(0.05)
        assert proc.poll() is None, f"the driver ended (exit {proc.returncode}) before it could be killed"
        assert log.read_text().count("\n") >= 2, "no file done in 240 s"
        tree = descendants(proc.pid)
        pool_workers = [p for p in tree if p.ppid != proc.pid]  # forkserver children: the pool's workers
        assert len(pool_workers) >= 2, f"expected 2 pool workers below the driver, found:\n{describe(tree)}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + ENDS_WITHIN_S
        while (left := still_alive(tree + in_session(proc.pid))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"alive {ENDS_WITHIN_S} s after their parent was killed:\n{describe(left)}"
    finally:  # a failed run leaves nothing behind either
        proc.kill()
        proc.wait()
        for p in still_alive(tree + in_session(proc.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)


@pytest.mark.parametrize("case", ["pidfd", "polled", "gone"])
def test_a_watcher_dies_with_its_owner(case):
    """:func:`end_with` on Linux (pidfd), as elsewhere (polled), and for an owner that ended before the watch began."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    if case == "gone":
        owner.kill()
        owner.wait()
    code = ("import os, sys, time\nfrom posenet_cls.pose import lifetime\n"
            + ("del os.pidfd_open\n" if case == "polled" else "")
            + "lifetime.end_with(int(sys.argv[1]))\nprint('watching', flush=True)\ntime.sleep(120)\n")
    watcher = subprocess.Popen([sys.executable, "-c", code, str(owner.pid)], stdout=subprocess.PIPE, text=True)
    try:
        if case != "gone":
            assert watcher.stdout.readline() == "watching\n"
            owner.kill()
            owner.wait()
        assert watcher.wait(timeout=20) == -signal.SIGKILL
    finally:
        for proc in (owner, watcher):
            proc.kill()
            proc.wait()
        watcher.stdout.close()

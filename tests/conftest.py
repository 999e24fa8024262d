"""Shared fixtures: the real example data (never skipped) and its keypoint table, extracted once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from procs import Proc, descendants, describe

os.environ.setdefault("GLOG_minloglevel", "2")

from posenet_cls.config import data_dir  # noqa: E402


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = data_dir()
    assert (root / "yoga8").is_dir(), f"example data missing at {root} (set POSENET_CLS_DATA)"
    return root


@pytest.fixture(scope="session")
def yoga8(data_root: Path) -> Path:
    return data_root / "yoga8"


@pytest.fixture(scope="session")
def videos(data_root: Path) -> Path:
    return data_root / "video"


@pytest.fixture(scope="session")
def yoga8_csv(yoga8: Path, tmp_path_factory) -> Path:
    """The real yoga8 keypoint table, made by the real extraction once per test session."""
    from posenet_cls.data.dataset import build_dataset

    out = tmp_path_factory.mktemp("yoga8") / "poses.csv"
    build_dataset(yoga8, out, workers=os.cpu_count())
    return out


@pytest.fixture(scope="session")
def yoga8_table(yoga8_csv: Path):
    from posenet_cls.data.table import read_table

    return read_table(yoga8_csv)


@pytest.fixture(scope="session")
def blazepose_dir(tmp_path_factory) -> Path:
    """BlazePose's two networks converted to ONNX from the installed mediapipe wheel, once per test session."""
    from posenet_cls.pose.blazepose.convert import convert_all

    out = tmp_path_factory.mktemp("blazepose")
    convert_all(out)
    return out


@pytest.fixture
def cli_json():
    """Run ``posenet-cls ARGV`` in this process (it must succeed) and return its stdout's JSON lines."""
    import contextlib
    import io
    import json

    from posenet_cls.cli import main

    def run(argv: list[str]) -> list[dict]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(argv) == 0
        return [json.loads(line) for line in buf.getvalue().splitlines()]

    return run


def _leftovers() -> list[Proc]:
    """Processes this one started that are still alive, except multiprocessing's forkserver and resource tracker,
    which serve the whole session and end with it (the forkserver's children, pool workers, do count)."""
    from multiprocessing import forkserver, resource_tracker

    keep = {getattr(forkserver._forkserver, "_forkserver_pid", None),
            getattr(resource_tracker._resource_tracker, "_pid", None)}
    return [p for p in descendants(os.getpid()) if p.pid not in keep]


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """After the last test, no pool worker or test subprocess is left running (Linux: read from /proc)."""
    yield
    if not Path("/proc/self/stat").exists():
        return
    deadline = time.monotonic() + 30  # a pool that was just shut down, or Ray that just stopped, takes a moment
    while (left := _leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "processes left behind by the tests:\n" + describe(left)


@pytest.fixture(scope="session")
def clips(videos: Path) -> dict[str, list[tuple]]:
    """Each example clip's frames tracked once (MediaPipe, tracking mode): (time, keypoints, world, aspect)."""
    from posenet_cls.io.video import VideoReader
    from posenet_cls.pose.mediapipe_backend import PoseExtractor

    out = {}
    for name in ("squat_1rep", "squat_1rep_head_cut", "plank_hold"):
        frames = []
        with VideoReader(videos / f"{name}.mp4") as video, PoseExtractor(tracking=True) as extractor:
            for _, t, rgb in video:
                found = extractor.frame(rgb, t)
                kp, world = found if found is not None else (None, None)
                frames.append((t, kp, world, rgb.shape[1] / rgb.shape[0]))
        out[name] = frames
    return out

"""Errors on the terminal are exactly one line of ours: no FFmpeg, OpenCV or MediaPipe lines before it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real command in its own process, so that native libraries write to real file descriptors."""
    return subprocess.run([sys.executable, "-m", "posenet_cls", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


@pytest.mark.parametrize("verb", ["predict", "extract"])
@pytest.mark.parametrize("make, expected", [
    ("empty", "empty.mp4: cannot open as a video (the file is empty)"),
    ("truncated", "truncated.mp4: cannot open as a video"),  # FFmpeg: "moov atom not found"
    ("webcam", "webcam 99: no camera with that index"),  # OpenCV: V4L2 and obsensor warnings
])
def test_video_errors_are_one_line(tmp_path, videos, verb, make, expected):
    clip = (videos / "squat_1rep.mp4").read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "truncated.mp4").write_bytes(clip[: len(clip) // 2])  # its index (moov) is at the end
    source = ["--webcam", "99"] if make == "webcam" else [f"{make}.mp4"]
    out = ["--no-show", "--no-annotate"] if verb == "predict" else ["-o", "frames.jsonl"]
    run = _cli([verb, *source, *out], tmp_path)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [f"posenet-cls {verb}: error: {expected}"]
    assert run.stdout == "" and not (tmp_path / "frames.jsonl").exists()


def test_a_reader_that_stops_early_gets_no_traceback(yoga8, tmp_path):
    """`posenet-cls predict DIR --json | head -1`: the command stops quietly when stdout's reader goes away."""
    import subprocess
    import sys

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted((yoga8 / "Triangle").iterdir())[:6]:
        (folder / photo.name).symlink_to(photo)
    proc = subprocess.Popen([sys.executable, "-m", "posenet_cls", "predict", str(folder), "--json", "--no-annotate"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as head does
    _, err = proc.communicate(timeout=120)
    assert first.startswith(b"{") and b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-500:]

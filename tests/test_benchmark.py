"""`posenet-cls benchmark` as a user runs it, on a tiny real input: the report's shape, never its timings."""

from __future__ import annotations

import json
import math
import os

import pytest

from posenet_cls.cli import main

CLASSES = ("Downward_dog", "Triangle", "Vrukshasana")
PHOTOS_PER_CLASS = 6
BACKENDS = ["onnxruntime", "onnxruntime-novelty", "onnxruntime-default", "torch", "svc", "svc-poly", "knn"]
EXTRACTION = [("photos, static mode", 1), ("photos, static mode", 1), ("photos, static mode", 2),
              ("video frames, tracking mode", 1), ("video frames, tracking mode", 1)]
POSE_BACKENDS = [("photos, static mode", "mediapipe", None), ("photos, static mode", "decode", None),
                 ("photos, static mode", "onnx", 1), ("photos, static mode", "onnx", 16),
                 ("video frames, tracking mode", "mediapipe", None), ("video frames, tracking mode", "onnx", None),
                 ("several people, tracking mode", "onnx", None), ("several people, tracking mode", "onnx", None),
                 ("several people, tracking mode", "onnx", None)]
END_TO_END = [("photos: file -> label", 1), ("photos: file -> label", 1), ("photos: file -> label", 2),
              ("video: file -> label", 1), ("video: file -> label", 1), ("video: file -> label", 1),
              ("video: file -> label", 1)]  # the last: --backend onnx (the quick run has the networks)


@pytest.fixture(scope="module")
def tiny_tree(yoga8, tmp_path_factory):
    """18 real yoga8 photos, 6 in each of 3 classes, as a class-folder tree of symlinks."""
    root = tmp_path_factory.mktemp("tiny") / "photos"
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for photo in sorted((yoga8 / c).iterdir())[:PHOTOS_PER_CLASS]:
            os.symlink(photo.resolve(), root / c / photo.name)
    return root


@pytest.fixture(scope="module")
def quick_run(tiny_tree, videos, blazepose_dir, tmp_path_factory):
    """One quick benchmark run on the tiny tree and the squat clip: (exit code, stdout, stderr, out folder)."""
    from posenet_cls.pose.blazepose.files import DIR_ENV

    out = tmp_path_factory.mktemp("bench") / "out"
    capture = pytest.MonkeyPatch()
    import io
    import sys

    capture.setenv(DIR_ENV, str(blazepose_dir))
    stdout, stderr = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    try:
        code = main(["benchmark", "--data", str(tiny_tree), "--video", str(videos / "squat_1rep.mp4"),
                     "--out", str(out), "--workers", "2", "--quick", "--json"])
    finally:
        capture.undo()
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["benchmark", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "posenet-cls benchmark --quick" in out


def test_writes_markdown_and_json(quick_run):
    code, stdout, stderr, out = quick_run
    assert code == 0, stderr
    printed = json.loads(stdout)  # --json: nothing but the report on stdout
    written = json.loads((out / "benchmark.json").read_text())
    assert printed["sections"].keys() == written["sections"].keys() == {"classifiers", "extraction", "backends",
                                                                        "end_to_end"}
    assert "--quick" in written["command"] and written["command"].startswith("posenet-cls benchmark --data ")
    assert written["machine"]["cores"] >= 1 and written["machine"]["gpu"]
    assert written["data"]["photos"] == len(CLASSES) * PHOTOS_PER_CLASS
    assert written["data"]["classes"] == list(CLASSES)
    assert not list(out.glob("*.tmp"))
    assert "benchmark [" in stderr and "written:" in stderr  # progress, one line per stage


def test_every_section_has_its_rows(quick_run):
    report = json.loads((quick_run[3] / "benchmark.json").read_text())["sections"]
    assert [r["backend"] for r in report["classifiers"]["rows"]] == BACKENDS
    assert [(r["stage"], r["workers"]) for r in report["extraction"]["rows"]] == EXTRACTION
    assert [(r["stage"], r["workers"]) for r in report["end_to_end"]["rows"]] == END_TO_END
    backends = report["backends"]["rows"]
    assert [(r["stage"], r["backend"], r.get("batch")) for r in backends] == POSE_BACKENDS
    assert all(r["vs"] == 1.0 for r in backends if r["backend"] == "mediapipe")  # the reference of its stage
    devices = {(r["device"], r["provider"]) for r in backends if r["backend"] == "onnx"}
    assert devices in ({("cpu", "CPUExecutionProvider")}, {("cuda", "CUDAExecutionProvider")})
    notes = report["backends"]["notes"]
    assert notes[0].startswith("onnx backend: device ") and "network thread(s), 2 decode thread(s)" in notes[0]
    assert notes[1].startswith("parity, onnx (batch 1) vs MediaPipe on 18 photos: a pose in ")
    assert notes[2].startswith("two people cost ") and notes[2].endswith(("target at most 1.6x: met", "not met"))
    several = [r for r in backends if r["stage"] == "several people, tracking mode"]
    assert [r["max_people"] for r in several] == [1, 2, 2]
    assert [r["poses"] for r in several] == [r["items"] for r in several[:2]] + [2 * several[2]["items"]]
    assert [n.split(":")[0] for n in notes[3:]] == ["photos, static mode", "video frames, tracking mode"]
    assert all(n.endswith(("target 1.3x: met", "target 1.3x: not met", "target 1.5x: met", "target 1.5x: not met"))
               for n in notes[3:])
    for row in (r for r in backends if r["backend"] == "onnx" and r["stage"].startswith("photos")):
        parity = row["parity"]  # the same real photos through both backends: the parity targets
        assert parity["photos"] == 18 and parity["differ"] <= 2 and parity["pose_other"] >= 16
        assert parity["xy_median"] <= 0.001 and parity["xy_p95"] <= 0.005 and parity["visibility_p95"] <= 0.01
    for section in report.values():
        for row in section["rows"]:
            if row.get("what", "").startswith(("bare", "the article")):
                assert row["vs"] == 1.0  # the reference of its stage


def test_classifier_speed_targets_are_noted(quick_run):
    # Issue 28's targets: the call floor, then each target with its verdict, from the same run.
    section = json.loads((quick_run[3] / "benchmark.json").read_text())["sections"]["classifiers"]
    notes, speed = section["notes"], section["speed"]
    assert notes[0].startswith("onnxruntime's call floor: ") and notes[0].endswith("IO binding, one thread)")
    assert [n.split(" (")[0] for n in notes[1:]] == ["single pose", "single pose", "batch 4096", "batch 4096 with the novelty score"]
    targets = ("target at most 4x: ", "target at least 4x: ", "target at least 1 M: ", "target at least 100 k: ")
    for note, target in zip(notes[1:], targets):
        assert note.endswith((target + "met", target + "not met")), note
    assert set(speed) == {"call_floor_us", "single_pose_us", "single_over_floor", "batch", "batch_poses_per_s",
                          "novelty_batch_poses_per_s", "article_over_single"}
    assert all(math.isfinite(v) and v > 0 for v in speed.values()) and speed["batch"] == 4096
    md = (quick_run[3] / "benchmark.md").read_text()
    assert all(n in md for n in notes)


def test_every_number_positive_and_finite(quick_run):
    report = json.loads((quick_run[3] / "benchmark.json").read_text())["sections"]
    batches = {f"poses_per_s_batch_{b}" for b in (1, 64, 4096)}
    checked = 0
    for section in report.values():
        for row in section["rows"]:
            assert batches <= row.keys() if section is report["classifiers"] else True
            for key, value in row.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                assert math.isfinite(value), (key, row)
                if key == "accuracy":
                    assert 0.0 <= value <= 1.0
                else:
                    assert value > 0, (key, row)
                checked += 1
    assert checked > 100


def test_markdown_tables(quick_run):
    md = (quick_run[3] / "benchmark.md").read_text()
    assert md.startswith("`posenet-cls benchmark --data ")
    assert "Machine: " in md and " cores, GPU: " in md and "onnxruntime providers: " in md
    heads = ["### Classifiers", "### Extraction", "### Pose backends", "### End to end"]
    assert [md.index(h) for h in heads] == sorted(md.index(h) for h in heads)
    tables = [[line for line in part.splitlines() if line.startswith("| ")] for part in md.split("### ")[1:]]
    assert [len(t) - 1 for t in tables] == [len(BACKENDS), len(EXTRACTION), len(POSE_BACKENDS),
                                            len(END_TO_END)]  # less the header
    assert all(len(t[0].split("|")) == len(line.split("|")) for t in tables for line in t)
    assert "| the article's SVC(kernel='poly') on raw landmarks |" in md


def test_backends_without_networks_are_skipped_with_the_fix(tiny_tree, tmp_path, monkeypatch):
    from posenet_cls.bench.backends import backend_rows
    from posenet_cls.bench.config import QUICK
    from posenet_cls.bench.report import render_markdown
    from posenet_cls.pose.blazepose.files import DIR_ENV

    monkeypatch.setenv(DIR_ENV, str(tmp_path))  # no networks here: nothing is converted or timed
    rows, notes = backend_rows(tiny_tree, None, QUICK)
    assert rows == [] and len(notes) == 1
    assert notes[0].startswith(f"onnx backend rows skipped: {tmp_path / 'pose_detection.onnx'}: BlazePose ONNX networks "
                               "not found; make them from the installed mediapipe wheel with: "
                               f"posenet-cls convert-blazepose --out {tmp_path}")
    report = {"machine": {"cpu": "cpu", "cores": 2, "gpu": "none", "python": "3", "onnxruntime_providers": ["CPU"]},
              "settings": {"calls": 1, "seconds": 1, "repeats": 1, "max_frames": None},
              "data": {"source": "x", "photos": 2, "poses": None, "classes": ["a"], "split": None, "video": None},
              "sections": {"backends": {"rows": rows, "notes": notes}}}
    md = render_markdown(report, "posenet-cls benchmark --only backends")
    assert "### Pose backends" in md and "| stage |" not in md and "\nonnx backend rows skipped: " in md


def test_video_default_and_skip(tmp_path):
    from posenet_cls.commands.benchmark import resolve_video
    from posenet_cls.errors import PosenetError

    assert resolve_video(None, False, tmp_path) is None  # no clip in the data folder: the video rows are skipped
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "squat_1rep.mp4").write_bytes(b"")
    assert resolve_video(None, False, tmp_path) == tmp_path / "video" / "squat_1rep.mp4"
    assert resolve_video(None, True, tmp_path) is None
    with pytest.raises(PosenetError, match="nothere.mp4: no such video file"):
        resolve_video(str(tmp_path / "nothere.mp4"), False, tmp_path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "missing: no such file or folder"),
        (lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt", "notes.txt: not a keypoint table (.csv, .parquet)"),
        (lambda p: (p / "bad.csv").write_text("a,b\n1,2\n") and p / "bad.csv", "bad.csv: no 'label' column"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "found no photos in class sub-folders"),
    ],
)
def test_bad_data_is_one_line(make, message, tmp_path, capsys):
    data = make(tmp_path)
    assert main(["benchmark", "--data", str(data), "--no-video", "--quick", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("posenet-cls benchmark: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_bad_option_is_one_line(tmp_path, capsys):
    assert main(["benchmark", "--calls", "0", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == "posenet-cls benchmark: error: --calls must be at least 1, got 0"

"""Several people (``--max-people``): tracking IDs, per-person labels, reps and holds, on footage made from real clips."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cls.cli import main

HALF = (640, 360)  # each clip is scaled to this, two side by side make 1280x360


def _frames(videos: Path, name: str) -> list[np.ndarray]:
    from posenet_cls.io.video import VideoReader

    with VideoReader(videos / f"{name}.mp4") as video:
        return [cv2.resize(rgb, HALF, interpolation=cv2.INTER_AREA) for _, _, rgb in video]


@pytest.fixture(scope="module")
def halves(videos) -> tuple[list[np.ndarray], list[np.ndarray]]:
    squat, plank = _frames(videos, "squat_1rep"), _frames(videos, "plank_hold")
    n = min(len(squat), len(plank))
    return squat[:n], plank[:n]


def _write(frames: list[np.ndarray], path: Path) -> Path:
    from posenet_cls.io.writer import VideoWriter

    writer = VideoWriter(path, 30.0, frames[0].shape[1], frames[0].shape[0])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.close(keep=True)
    return path


@pytest.fixture(scope="module")
def side_by_side(halves, tmp_path_factory) -> Path:
    """The squat clip on the left, the plank clip on the right, as one 1280x360 H.264 video."""
    squat, plank = halves
    return _write([np.hstack([a, b]) for a, b in zip(squat, plank)], tmp_path_factory.mktemp("people") / "two.mp4")


def _track(frames: list[np.ndarray], max_people: int = 2) -> list[list]:
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor
    from posenet_cls.pose.people import PeopleTracker, TrackerConfig

    with OnnxPoseExtractor(tracking=True) as extractor:
        tracker = PeopleTracker(extractor, TrackerConfig(max_people=max_people))
        return [tracker.frame(np.ascontiguousarray(f), i / 30.0) for i, f in enumerate(frames)]


def _centre_x(person) -> float:
    return (person.box[0] + person.box[2]) / 2


def test_two_people_two_ids_a_squat_on_one_and_a_plank_on_the_other(side_by_side, tmp_path, cli_json):
    squat = cli_json(["predict", str(side_by_side), "--max-people", "2", "--exercise", "squat", "--json",
                       "-o", str(tmp_path), "--no-show"])
    frames, summary = squat[:-1], squat[-1]
    people = {p["id"]: p for p in summary["people"]}
    assert len(people) == 2 and summary["frames"] == len(frames)
    left, right = sorted(people, key=lambda i: frames[-1]["people"][[p["id"] for p in frames[-1]["people"]].index(i)]["box"][0])
    for person_id in (left, right):
        assert people[person_id]["frames"] >= 0.9 * len(frames)
    assert people[left]["reps"] == 1 and people[right]["reps"] == 0
    for frame in frames:
        for p in frame["people"]:
            assert {"id", "box", "label", "confidence", "probabilities", "reps"} <= set(p)
            assert (p["box"][0] + p["box"][2]) / 2 < 0.5 if p["id"] == left else (p["box"][0] + p["box"][2]) / 2 > 0.5
    assert {"id", "first_frame", "last_frame", "frames", "reps", "rep_log", "segments", "holds"} <= set(people[left])
    assert (tmp_path / "two.mp4").is_file()

    plank = cli_json(["predict", str(side_by_side), "--max-people", "2", "--exercise", "plank", "--json",
                       "-o", str(tmp_path), "--no-show"])[-1]
    holds = {p["id"]: p["holds"]["longest_hold_s"] for p in plank["people"]}
    assert holds[right] >= 2.0 and holds[left] < 0.5


def test_one_person_leaves_briefly_and_keeps_the_id_longer_and_gets_a_new_one(halves):
    squat, plank = halves
    black = np.zeros_like(squat[0])

    def gone(start: int, stop: int) -> list[np.ndarray]:
        return [np.hstack([black if start <= i < stop else a, b]) for i, (a, b) in enumerate(zip(squat, plank))]

    short = _track(gone(30, 37))  # 0.23 s out of view; the detector looks for him every 3rd frame meanwhile
    left_ids = {p.id for frame in short for p in frame if _centre_x(p) < 0.5}
    assert len(left_ids) == 1 and all(any(_centre_x(p) < 0.5 for p in f) for i, f in enumerate(short) if not 30 <= i < 40)
    long = _track(gone(20, 50))  # 1 s: the ID is retired, the person comes back as someone new
    before = {p.id for f in long[:20] for p in f if _centre_x(p) < 0.5}
    after = {p.id for f in long[52:] for p in f if _centre_x(p) < 0.5}
    assert len(before) == 1 and len(after) == 1 and before != after
    right = {p.id for f in long for p in f if _centre_x(p) > 0.5}
    assert len(right) == 1  # the other person is untouched


def test_ids_never_swap_when_one_person_passes_in_front_of_another(halves):
    """The squatting man, cut out of his clip, slides across the plank clip and over the planking man."""
    squat, plank = halves
    frames, where = [], []
    for i, (a, b) in enumerate(zip(squat, plank)):
        canvas = np.hstack([np.full_like(b, 40), b])
        x = int(60 + i * (1280 - 300) / len(squat))
        canvas[:, x : x + 240] = a[:, 200:440]
        frames.append(canvas)
        where.append((x + 120) / 1280)
    tracked = _track(frames)
    first = {p.id: _centre_x(p) for p in tracked[0]}
    assert len(first) == 2
    mover_id = min(first, key=lambda i: abs(first[i] - where[0]))
    still_id = max(first, key=lambda i: abs(first[i] - where[0]))
    still_x = first[still_id]
    for frame, x in zip(tracked, where):
        for p in frame:
            assert p.id in (mover_id, still_id)  # nobody new, nobody renamed
            if p.id == mover_id:
                assert abs(_centre_x(p) - x) < 0.1  # the mover's ID stays on the mover...
            else:
                assert abs(_centre_x(p) - still_x) < 0.1  # ...and the other's on the planking man, also while passed
    for person_id in (mover_id, still_id):
        assert sum(any(p.id == person_id for p in f) for f in tracked) >= 0.9 * len(tracked)


def test_photos_side_by_side_one_label_each(yoga8, tmp_path, capsys):
    from posenet_cls.infer.photos import classify_people
    from posenet_cls.pose.people import make_tracker
    from posenet_cls.infer.photos import load_model
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor

    runtime = load_model()
    classes = sorted(p.name for p in yoga8.iterdir() if p.is_dir())
    pairs = [(sorted((yoga8 / classes[i]).iterdir())[k], sorted((yoga8 / classes[(i + 3) % 8]).iterdir())[k])
             for i in range(8) for k in (2, 7)]
    right = found = 0
    folder = tmp_path / "pairs"
    folder.mkdir()
    with OnnxPoseExtractor() as extractor:
        for n, (a, b) in enumerate(pairs):
            images = [load_image(a), load_image(b)]
            height = 480
            images = [cv2.resize(im, (int(im.shape[1] * height / im.shape[0]), height)) for im in images]
            pair = np.ascontiguousarray(np.hstack(images))
            cv2.imwrite(str(folder / f"pair{n:02d}.png"), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
            people = classify_people(make_tracker(extractor, 2).photo(pair), runtime)
            if len(people) != 2:
                continue
            found += 1
            left, rightmost = sorted(people, key=lambda p: p.box[0])
            right += (left.label == a.parent.name) + (rightmost.label == b.parent.name)
    assert found >= 0.9 * len(pairs) and right >= 0.85 * 2 * len(pairs), (found, right)
    # the same through the CLI: one entry per person, annotated copies written
    code = main(["predict", str(folder), "--max-people", "2", "--json", "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0 and "using --backend onnx" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(pairs) and sum(len(r["people"]) == 2 for r in lines) == found
    assert {"person", "box", "label", "confidence", "best", "probabilities", "novelty"} <= set(lines[0]["people"][0])
    assert (tmp_path / "out" / "pair00.png").is_file()


def test_bad_max_people_is_one_line(side_by_side, capsys):
    assert main(["predict", str(side_by_side), "--max-people", "0", "--no-show"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max_people must be a whole number >= 1, got 0" in err[0]


def test_extract_max_people_table_and_video_lines(halves, side_by_side, tmp_path, capsys):
    """A class-folder tree -> one row per person with a 'person' column (read back like any table); a video -> IDs."""
    from posenet_cls.data.table import read_table

    squat, plank = halves
    for label, image in (("Two", np.hstack([squat[0], plank[0]])), ("One", squat[0])):
        (tmp_path / "tree" / label).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "tree" / label / "photo.png"), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    table = tmp_path / "poses.csv"
    assert main(["extract", str(tmp_path / "tree"), "-o", str(table), "--max-people", "2"]) == 0
    header, *rows = table.read_text().splitlines()
    assert header.split(",")[:5] == ["source", "label", "sha1", "attempt", "person"]
    assert sorted((r.split(",")[1], r.split(",")[4]) for r in rows) == [("One", "0"), ("Two", "0"), ("Two", "1")]
    assert len(read_table(table)) == 3
    lines = tmp_path / "people.jsonl"
    assert main(["extract", str(side_by_side), "-o", str(lines), "--max-people", "2"]) == 0
    frames = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(frames) == 75 and all({p["id"] for p in f["people"]} == {0, 1} for f in frames[5:])
    assert "using --backend onnx" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["extract", str(tmp_path / "tree"), "-o", str(tmp_path / "r.parquet"), "--max-people", "2",
                 "--engine", "ray"]) == 1
    assert "--max-people N > 1 runs with --engine local only" in capsys.readouterr().err
    (tmp_path / "tree" / "One" / "clip.mp4").symlink_to(side_by_side)  # a video in a tree: photos only
    assert main(["extract", str(tmp_path / "tree"), "-o", str(tmp_path / "v.csv"), "--max-people", "2"]) == 1
    err = capsys.readouterr().err
    assert "One/clip.mp4: several people per file (max_people 2) is for photos" in err and not (tmp_path / "v.csv").exists()

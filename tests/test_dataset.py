"""Keypoint tables from class folders: rows, report, duplicates, resume after a kill, crashes, videos, validation."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import cv2
import numpy as np
import pytest
from crashing_backend import CrashingFactory

from posenet_cls.commands.extract import _print_report
from posenet_cls.pose.extract import PoseOptions
from posenet_cls.data.dataset import build_dataset, list_photos, report_path_for
from posenet_cls.errors import PosenetError
from posenet_cls.schema import Landmark as L
from posenet_cls.data.table import read_table, table_columns


def test_yoga8_table_rows_columns_and_report(yoga8_csv, yoga8_table):
    assert len(yoga8_table) >= 480
    assert yoga8_table.keypoints.shape == (len(yoga8_table), 33, 4) and yoga8_table.keypoints.dtype == np.float32
    assert len(yoga8_table.classes) == 8
    with open(yoga8_csv, newline="") as f:
        assert next(csv.reader(f)) == table_columns()  # named columns, no index column
    report = json.loads(report_path_for(yoga8_csv).read_text())
    assert report["files"] == 483 and report["poses"] == len(yoga8_table)
    assert [r["source"] for r in report["no_pose"]] == ["ArdhaChandrasana/v8.jpeg"]
    assert "no person found" in report["no_pose"][0]["reason"]
    assert sorted(map(sorted, report["duplicates"])) == [
        ["Veerabhadrasana/Veerabhadrasana_18.jpeg", "Veerabhadrasana/images (10).jpeg"],
        ["Veerabhadrasana/Veerabhadrasana_24.jpeg", "Veerabhadrasana/images (9).jpeg"],
    ]
    rescued = {s: a for s, a in zip(yoga8_table.sources, yoga8_table.attempts) if a != "plain"}
    assert set(rescued) == {"ArdhaChandrasana/v49.jpeg", "Vrukshasana/v1.jpeg"}
    # identical photos share the hash a split groups by
    by_source = dict(zip(yoga8_table.sources, yoga8_table.sha1))
    assert by_source["Veerabhadrasana/Veerabhadrasana_18.jpeg"] == by_source["Veerabhadrasana/images (10).jpeg"]


def test_table_labels_come_from_folders(yoga8_table):
    assert all(src.split("/")[0] == label for src, label in zip(yoga8_table.sources, yoga8_table.labels))
    dog = yoga8_table.keypoints[yoga8_table.labels == "Downward_dog"]
    hips = dog[:, [L.LEFT_HIP, L.RIGHT_HIP], 1].mean(axis=1)
    assert np.mean(hips < dog[:, [L.LEFT_ANKLE, L.RIGHT_ANKLE], 1].mean(axis=1)) > 0.9


@pytest.fixture
def small_tree(yoga8, tmp_path) -> Path:
    """A class-folder tree of 12 real photos, plus a file that is not a photo."""
    root = tmp_path / "data"
    for label in ("Downward_dog", "Vrukshasana"):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:6]:
            os.symlink(photo, root / label / photo.name)
    (root / "Vrukshasana" / "readme.txt").write_text("not a photo")
    (root / ".hidden").mkdir()
    return root


def test_unreadable_files_are_reported_not_fatal(small_tree, tmp_path):
    report = build_dataset(small_tree, tmp_path / "out.csv", workers=1)
    assert report.files == 13 and report.poses == 12
    assert report.unreadable == [{"source": "Vrukshasana/readme.txt", "reason": "not an image file"}]


def _kill_extract(source: Path, out: Path, lines: int) -> Path:
    """Run ``posenet-cls extract SOURCE -o OUT`` and SIGKILL it once its journal holds ``lines`` lines; the journal."""
    journal = out.with_name(out.name + ".partial")
    proc = subprocess.Popen(
        [sys.executable, "-m", "posenet_cls", "extract", str(source), "-o", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= lines:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return journal


def test_resume_after_kill_gives_the_same_table(small_tree, tmp_path):
    clean = tmp_path / "clean.csv"
    build_dataset(small_tree, clean, workers=1)
    out = tmp_path / "killed.csv"
    journal = _kill_extract(small_tree, out, lines=5)
    assert not out.exists() and journal.exists()  # no half-written table, the journal survives
    done_before = journal.read_text().count("\n") - 1
    assert 0 < done_before < 13
    report = build_dataset(small_tree, out, workers=1)
    assert report.resumed >= done_before - 1  # a line torn by the kill is redone
    assert out.read_bytes() == clean.read_bytes()
    assert not journal.exists()


DEADLY_SHAPE = (211, 317)  # (height, width) of the photo the crashing test backend dies on; no yoga8 photo has it


@pytest.fixture
def deadly_tree(yoga8, tmp_path) -> Path:
    """4 real photos, copied, and a real photo resized to DEADLY_SHAPE (``Triangle/deadly.png``)."""
    root = tmp_path / "deadly"
    for label in ("Downward_dog", "Triangle"):
        (root / label).mkdir(parents=True)
        for photo in sorted((yoga8 / label).iterdir())[:2]:
            shutil.copy(photo, root / label / photo.name)
    photo = cv2.imread(str(sorted((yoga8 / "Triangle").iterdir())[2]))
    cv2.imwrite(str(root / "Triangle" / "deadly.png"), cv2.resize(photo, DEADLY_SHAPE[::-1]))
    return root


def test_a_worker_that_dies_once_loses_nothing(small_tree, tmp_path):
    """A worker killed mid-run: the pool is restarted, the files in flight run again, none is failed."""
    clean = tmp_path / "clean.csv"
    build_dataset(small_tree, clean, workers=2)
    hook = tmp_path / "kill-one-worker"
    hook.write_text("kill")  # the first worker to delete it SIGKILLs itself
    report = build_dataset(small_tree, tmp_path / "out.csv", workers=2, factory=CrashingFactory(once=str(hook)))
    assert not hook.exists() and report.failed == [] and report.poses == 12
    assert (tmp_path / "out.csv").read_bytes() == clean.read_bytes()


def test_a_file_that_always_crashes_is_failed_journaled_and_printed(deadly_tree, tmp_path, capsys):
    """Failed after 2 crashes alone, the run goes on; an interrupted run keeps that outcome, never to retry it."""
    deaths = tmp_path / "deaths"
    deaths.mkdir()
    factory = CrashingFactory(shape=DEADLY_SHAPE, deaths=str(deaths))
    out = tmp_path / "out.csv"
    seen = []

    def stop_after_the_failure(results, total, resumed):
        for result in results:
            seen.append(result.source)
            yield result
            if result.status == "failed":
                raise KeyboardInterrupt  # as Ctrl-C would, once the outcome is journaled

    with pytest.raises(KeyboardInterrupt):
        build_dataset(deadly_tree, out, workers=2, factory=factory, progress=stop_after_the_failure)
    assert len(list(deaths.iterdir())) == 3  # once among others, twice alone
    report = build_dataset(deadly_tree, out, workers=2, factory=factory)
    assert len(list(deaths.iterdir())) == 3 and report.resumed == len(seen)
    failed = [{"source": "Triangle/deadly.png", "reason": "the pose backend crashed on this file (2 times)"}]
    assert report.failed == failed and report.files == 5 and report.poses == 4
    assert json.loads(report_path_for(out).read_text())["failed"] == failed
    assert "Triangle/deadly.png" not in read_table(out).sources
    _print_report(report, out, Namespace(json=False))
    assert "  failed: Triangle/deadly.png: the pose backend crashed on this file (2 times)\n" in capsys.readouterr().out


def test_a_backend_that_cannot_start_is_one_error_not_a_crash(small_tree, tmp_path):
    with pytest.raises(PosenetError, match=r"no-such-model\.task"):
        build_dataset(small_tree, tmp_path / "out.csv", PoseOptions(model=str(tmp_path / "no-such-model.task")), workers=2)


def test_video_interrupted_midway_is_redone(yoga8, videos, tmp_path):
    """A video in a class folder: frames are journaled as they come; a kill mid-video redoes the video, nothing else."""
    data = tmp_path / "data"
    (data / "Squat").mkdir(parents=True)
    for photo in sorted((yoga8 / "UtkataKonasana").iterdir())[:2]:
        shutil.copy(photo, data / "Squat" / photo.name)
    os.symlink(videos / "squat_1rep.mp4", data / "Squat" / "squat.mp4")
    clean = tmp_path / "clean.csv"
    build_dataset(data, clean, workers=2)
    out = tmp_path / "killed.csv"
    journal = _kill_extract(data, out, lines=20)  # the 2 photos and some frames
    lines = []
    for line in journal.read_text().splitlines()[1:]:
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # the line the kill tore
    assert not out.exists() and any(r["video"] for r in lines)
    assert "Squat/squat.mp4" not in [r["source"] for r in lines]  # stopped mid-video
    report = build_dataset(data, out, workers=2)
    assert report.resumed == len([r for r in lines if not r["video"]])  # the photos done before the kill
    assert report.videos == [{"source": "Squat/squat.mp4", "reason": "a person in 75 of 75 frames"}]
    assert out.read_bytes() == clean.read_bytes()


def test_journal_from_other_settings_is_not_mixed_in(small_tree, tmp_path):
    out = tmp_path / "out.csv"
    journal = out.with_name(out.name + ".partial")
    journal.write_text(json.dumps({"settings": {"data_dir": "/elsewhere", "model": "full"}}) + "\n")
    with pytest.raises(PosenetError, match=r"out\.csv\.partial: an interrupted run with other settings"):
        build_dataset(small_tree, out, workers=1)


def test_folder_errors(tmp_path):
    with pytest.raises(PosenetError, match=r"nowhere: no such folder"):
        list_photos(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    with pytest.raises(PosenetError, match=r"found no photos in class sub-folders"):
        list_photos(tmp_path / "flat")
    with pytest.raises(PosenetError, match=r"out\.xlsx: unsupported table format"):
        build_dataset(tmp_path / "flat", tmp_path / "out.xlsx")


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    with open(dst, "w", newline="") as f:
        csv.writer(f).writerows(edit(rows))
    return dst


@pytest.mark.parametrize(
    "name, edit, message",
    [
        ("index", lambda rows: [[""] + rows[0]] + [[str(i)] + r for i, r in enumerate(rows[1:])],
         r"unnamed index column"),
        ("nolabel", lambda rows: [[c for j, c in enumerate(r) if j != 1] for r in rows], r"no 'label' column"),
        ("nan", lambda rows: [rows[0], rows[1][:10] + ["nan"] + rows[1][11:]] + rows[2:], r"line 2 has NaN"),
        ("short", lambda rows: [r[:-103] for r in rows], r"missing, first 'right_foot_index_x' .*found 132"),
        ("worldshort", lambda rows: [r[:-4] for r in rows],
         r"4 world landmark column\(s\) missing, first 'left_foot_index_world_z' \(a table has all 99 or none\)"),
        ("worldpart", lambda rows: [rows[0], rows[1][:-1] + [""]] + rows[2:], r"line 2 has some world landmark values but not all"),
        ("extra", lambda rows: [r + ["1"] for r in rows[:1]] + [r + ["1"] for r in rows[1:]], r"unexpected column '1'"),
        ("ragged", lambda rows: rows[:3] + [rows[3][:-1]] + rows[4:], r"line 4 has 234 values, the header has 235"),
        ("text", lambda rows: [rows[0], rows[1][:20] + ["abc"] + rows[1][21:]], r"line 2: not a number"),
        ("empty", lambda rows: rows[:1], r"header but no rows"),
    ],
)
def test_bad_tables_are_refused(yoga8_csv, tmp_path, name, edit, message):
    bad = _rewrite(yoga8_csv, tmp_path / f"{name}.csv", edit)
    with pytest.raises(PosenetError, match=rf"{name}\.csv: .*{message}"):
        read_table(bad)


def test_tables_without_world_columns_still_read(yoga8_csv, yoga8_table, tmp_path):
    old = _rewrite(yoga8_csv, tmp_path / "old.csv", lambda rows: [r[:-99] for r in rows])
    table = read_table(old)
    assert table.world is None and np.array_equal(table.keypoints, yoga8_table.keypoints)
    n = len(table)
    with pytest.raises(PosenetError, match=rf"the 3D view needs world landmarks, and {n} of the table's {n} rows have "
                                           r"none; extract the table again"):
        table.require_world("the 3D view")
    world = yoga8_table.require_world("the 3D view")  # extracted now: every row has them, in metres about the hips
    assert world.shape == (len(yoga8_table), 33, 3) and np.abs(world).max() < 2.5
    hips = (world[:, L.LEFT_HIP] + world[:, L.RIGHT_HIP]) / 2
    assert np.abs(hips).max() < 0.05


def test_table_round_trip_is_lossless_enough(yoga8_csv, yoga8_table, tmp_path):
    from posenet_cls.data.table import pose_row, write_table

    t = yoga8_table
    rows = [pose_row(s, l, h, a, k, world=w) for s, l, h, a, k, w in
            zip(t.sources, t.labels, t.sha1, t.attempts, t.keypoints, t.world)]
    write_table(rows, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == yoga8_csv.read_bytes()

"""`posenet-cls extract` as a user runs it: outputs, --json, one-line errors."""

from __future__ import annotations

import json

import pytest

from posenet_cls.cli import main


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["extract", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "posenet-cls extract ../shared/data/yoga8 -o poses.csv" in out


def test_photo_json(yoga8, capsys):
    photo = sorted((yoga8 / "Triangle").iterdir())[0]
    assert main(["extract", str(photo), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert record["pose"] is True and record["attempt"] == "plain"
    assert len(record["keypoints"]) == 33 and len(record["keypoints"][0]) == 4
    assert record["landmarks"][0] == "nose"


def test_video_jsonl(videos, tmp_path, capsys):
    out = tmp_path / "plank.jsonl"
    assert main(["extract", str(videos / "plank_hold.mp4"), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 90 and lines[30]["frame"] == 30 and lines[30]["timestamp_s"] == pytest.approx(1.0)
    assert sum(line["pose"] for line in lines) >= 85
    assert "person in" in capsys.readouterr().err
    assert not out.with_name("plank.jsonl.tmp").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["extract", "missing_dir"], "missing_dir: no such file or folder"),
        (["extract"], "give either a SOURCE path or --webcam N"),
        (["extract", "--webcam", "97"], "webcam 97: no camera with that index"),
        (["extract", "{photo}", "--pose-model", "heavy"], "BlazePose heavy model not found"),
    ],
)
def test_errors_are_one_line(argv, message, yoga8, capsys):
    photo = sorted((yoga8 / "Triangle").iterdir())[0]
    assert main([a.format(photo=photo) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("posenet-cls extract: error: ") and message in err and "\n" not in err


def test_corrupt_video_leaves_no_output(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    out = tmp_path / "broken.jsonl"
    assert main(["extract", str(bad), "-o", str(out)]) == 1
    assert "broken.mp4" in capsys.readouterr().err
    assert not out.exists() and not out.with_name("broken.jsonl.tmp").exists()

"""`--backend onnx` through the commands: extract (table, photo, video) and predict (photos, video), and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from posenet_cls.cli import main
from posenet_cls.data.table import read_table

CLASSES = ("Downward_dog", "Triangle", "Vrukshasana")


@pytest.fixture()
def onnx_networks(blazepose_dir, monkeypatch) -> Path:
    monkeypatch.setenv("POSENET_CLS_BLAZEPOSE_DIR", str(blazepose_dir))
    return blazepose_dir


@pytest.fixture(scope="module")
def small_tree(yoga8, tmp_path_factory) -> Path:
    """Three real photos of each of three classes."""
    root = tmp_path_factory.mktemp("small") / "photos"
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for photo in sorted(p for p in (yoga8 / label).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:3]:
            shutil.copy(photo, root / label / photo.name)
    return root


def test_extract_table_with_onnx_matches_mediapipe(onnx_networks, small_tree, tmp_path, capsys):
    assert main(["extract", str(small_tree), "-o", str(tmp_path / "mp.csv"), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["extract", str(small_tree), "-o", str(tmp_path / "onnx.csv"), "--backend", "onnx", "--batch", "4",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["poses"] == 9
    mp, ox = read_table(tmp_path / "mp.csv"), read_table(tmp_path / "onnx.csv")
    assert list(mp.sources) == list(ox.sources) and list(mp.labels) == list(ox.labels)
    assert np.abs(mp.keypoints[..., :2] - ox.keypoints[..., :2]).max() < 0.01


def test_predict_photos_and_video_with_onnx(onnx_networks, small_tree, videos, capsys):
    assert main(["predict", str(small_tree), "--json", "--no-annotate", "--workers", "1"]) == 0
    mp = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(small_tree), "--json", "--no-annotate", "--backend", "onnx"]) == 0
    ox = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in ox] == [r["source"] for r in mp]
    assert [r["best"] for r in ox] == [r["best"] for r in mp]
    clip = videos / "squat_1rep.mp4"
    assert main(["predict", str(clip), "--json", "--no-annotate", "--backend", "onnx", "--exercise", "squat"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"] and lines[-1]["frames_with_pose"] == lines[-1]["frames"] > 0
    assert lines[-1]["reps"] == 1


def test_extract_one_photo_and_a_video_with_onnx(onnx_networks, small_tree, videos, tmp_path, capsys):
    photo = next((small_tree / "Triangle").iterdir())
    assert main(["extract", str(photo), "--json", "--backend", "onnx"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["pose"] and len(record["keypoints"]) == 33
    out = tmp_path / "plank.jsonl"
    assert main(["extract", str(videos / "plank_hold.mp4"), "-o", str(out), "--backend", "onnx"]) == 0
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(frames) == 90 and all(f["pose"] for f in frames)


@pytest.mark.parametrize("argv, message", [
    (["--backend", "onnx", "--device", "cuda"], "--device cuda: onnxruntime has no CUDA provider here"),
    (["--backend", "onnx", "--pose-model", "lite"], "--backend onnx runs BlazePose full only"),
    (["--backend", "onnx", "--batch", "0"], "batch must be a whole number >= 1"),
])
def test_backend_errors_are_one_line(onnx_networks, small_tree, argv, message, capsys):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers() and "cuda" in argv:
        pytest.skip("this machine has CUDA")
    assert main(["predict", str(small_tree), "--no-annotate", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_missing_networks_say_how_to_make_them(small_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSENET_CLS_BLAZEPOSE_DIR", str(tmp_path / "none"))
    assert main(["extract", str(small_tree), "-o", str(tmp_path / "t.csv"), "--backend", "onnx"]) == 1
    err = capsys.readouterr().err.strip()
    assert "BlazePose ONNX networks not found" in err and "posenet-cls convert-blazepose" in err and "\n" not in err
    assert not (tmp_path / "t.csv").exists()


def test_an_unknown_backend_is_refused_before_anything_is_written(small_tree, tmp_path):
    from posenet_cls.data.dataset import build_dataset
    from posenet_cls.errors import PosenetError
    from posenet_cls.pose.extract import PoseOptions

    with pytest.raises(PosenetError, match="unknown backend 'tflite'; choose from mediapipe, onnx"):
        build_dataset(small_tree, tmp_path / "t.csv", PoseOptions(backend="tflite"))
    assert not list(tmp_path.iterdir())

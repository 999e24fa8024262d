"""The wheel: it lists every package, carries the shipped model and BlazePose networks, and runs from anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from posenet_cls.config import PROJECT_ROOT

WEB = ("static/index.html", "static/app.js", "static/posenet.js", "static/blazepose.js", "static/coaching.js",
       "static/test.html", "static/style.css", "vendor/VERSION", "vendor/NOTICE", "vendor/ort.webgpu.min.mjs",
       "vendor/ort-wasm-simd-threaded.asyncify.mjs", "vendor/ort-wasm-simd-threaded.asyncify.wasm", "package.json",
       "package-lock.json")
SHIPPED = ("pose_mlp.onnx", "pose_mlp.card.json", "pose_mlp.split.json",
           "blazepose/pose_detection.onnx", "blazepose/pose_landmark_full.onnx", "blazepose/NOTICE")


def test_pyproject_lists_every_package_of_the_tree():
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {".".join(p.parent.relative_to(PROJECT_ROOT).parts) for p in (PROJECT_ROOT / "posenet_cls").rglob("__init__.py")}
    assert set(config["packages"]) == tree | {"posenet_cls.checkpoints", "posenet_cls.checkpoints.blazepose"}
    assert config["package-dir"] == {"posenet_cls.checkpoints": "checkpoints"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project built as a wheel (not editable), the way `pip install .` builds it."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools leaves build/ in the source folder, and stale files there end up in wheels.
    for name in ("posenet_cls", "checkpoints"):
        shutil.copytree(PROJECT_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True)
    (path,) = out.glob("posenet_cls-*.whl")
    return path


def test_wheel_carries_the_model_and_the_networks(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"posenet_cls/checkpoints/{name}" in names
    assert not any(n.startswith(("tests/", "scripts/", "checkpoints/")) for n in names)
    for name in WEB:  # the page and the vendored onnxruntime-web, byte for byte
        assert zipfile.ZipFile(wheel).read(f"posenet_cls/web/{name}") == (PROJECT_ROOT / "posenet_cls" / "web" / name).read_bytes()
    assert not any("node_modules" in n for n in names)
    for name in SHIPPED[:2] + SHIPPED[3:5]:  # byte for byte the files of this checkout
        assert zipfile.ZipFile(wheel).read(f"posenet_cls/checkpoints/{name}") == (PROJECT_ROOT / "checkpoints" / name).read_bytes()


def test_installed_wheel_predicts_from_another_folder(wheel: Path, tmp_path: Path, yoga8: Path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "POSENET_CLS_BLAZEPOSE_DIR"}
    env["PYTHONPATH"] = str(site)  # ahead of this checkout's editable install
    photo = str(yoga8 / "Triangle" / "triangle1.jpg")
    where = subprocess.run([sys.executable, "-c", "import posenet_cls.infer.photos as p, posenet_cls.pose.blazepose.files as f;"
                            "print(p.DEFAULT_MODEL); print(f.default_dir())"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert where == [str(site / "posenet_cls" / "checkpoints" / "pose_mlp.onnx"),
                     str(site / "posenet_cls" / "checkpoints" / "blazepose")]
    for backend in ("mediapipe", "onnx"):
        run = subprocess.run([sys.executable, "-m", "posenet_cls", "predict", photo, "--json", "--no-annotate",
                              "--backend", backend], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.splitlines()[0])
        assert (result["status"], result["label"]) == ("pose", "Triangle"), backend
    run = subprocess.run([sys.executable, "-m", "posenet_cls", "export", "--web", "www"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "www" / "index.html").is_file() and (tmp_path / "www" / "models" / "pose_landmark_full.onnx").is_file()

"""BlazePose TFLite -> ONNX: the interface contract, raw parity with the TFLite interpreter, batching, determinism."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from posenet_cls.pose.blazepose import convert as conv
from posenet_cls.pose.blazepose.files import DIR_ENV, SHIPPED_DIR, cache_dir, default_dir, network_paths, require_networks
from posenet_cls.errors import PosenetError

CONTRACT = {
    "detector": ((224, 224, 3), {"boxes": (2254, 12), "scores": (2254, 1)}),
    "landmark": ((256, 256, 3), {"landmarks": (195,), "presence": (1,), "heatmap": (64, 64, 39), "world": (117,)}),
}
# Max |onnxruntime - TFLite (XNNPACK, as MediaPipe runs it)| allowed on real photos; measured in brackets on the
# 8 test photos / all 295 yoga8 jpgs. Both are float32 with other summation orders (XNNPACK differs from TFLite's
# reference kernels by as much): ~1e-5 of each output's range (pixels to ~900, logits to ~600, heatmap to ~110).
TOLERANCE = {
    "boxes": 1e-2,  # [1.4e-3 / 2.9e-3]
    "scores": 5e-3,  # [4.0e-4 / 1.1e-3]
    "landmarks": 2e-2,  # [1.7e-3 / 9.9e-3]
    "presence": 2e-4,  # [6.8e-6 / 6.5e-5]
    "heatmap": 3e-3,  # [3.9e-4 / 1.0e-3]
    "world": 2e-4,  # [3.0e-5 / 5.5e-5]
}


@pytest.fixture(scope="module")
def photos(yoga8: Path) -> list[Path]:
    """The first photo of each yoga8 class."""
    return [min(p for p in folder.iterdir() if p.suffix.lower() == ".jpg") for folder in sorted(yoga8.iterdir())]


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_networks_keep_the_interface_contract(blazepose_dir: Path):
    paths = network_paths(blazepose_dir)
    sources = conv.source_paths()
    for key, (image_shape, outputs) in CONTRACT.items():
        model = onnx.load(paths[key])
        onnx.checker.check_model(model, full_check=True)
        assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
        session = _session(paths[key])
        (inp,) = session.get_inputs()
        assert (inp.name, inp.type, inp.shape) == ("image", "tensor(float)", ["N", *image_shape])
        assert [(o.name, o.shape) for o in session.get_outputs()] == [(k, ["N", *v]) for k, v in outputs.items()]
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["source_tflite"] == sources[key].name
        assert meta["source_sha256"] == hashlib.sha256(sources[key].read_bytes()).hexdigest()
        assert meta["mediapipe_version"] == metadata.version("mediapipe")
        assert meta["network"] == key


@pytest.mark.parametrize("key", ["detector", "landmark"])
def test_raw_outputs_match_the_tflite_interpreter_on_photos(blazepose_dir: Path, photos: list[Path], key: str):
    images = conv.simple_inputs(photos, key)
    diffs = conv.parity(key, network_paths(blazepose_dir)[key], images)
    assert set(diffs) == set(CONTRACT[key][1])
    for name, diff in diffs.items():
        assert diff <= TOLERANCE[name], f"{key} {name}: max abs diff {diff:.3g} > {TOLERANCE[name]:g}"


@pytest.mark.parametrize("key", ["detector", "landmark"])
def test_batch_of_four_equals_four_batches_of_one_and_empty_batch_runs(blazepose_dir: Path, key: str):
    net = conv.NETWORKS[key]
    size = net.input_size
    x = np.random.default_rng(1).uniform(*net.input_range, size=(4, size, size, 3)).astype(np.float32)
    session = _session(network_paths(blazepose_dir)[key])
    batch = session.run(None, {"image": x})
    single = [session.run(None, {"image": x[i : i + 1]}) for i in range(4)]
    for k, out in enumerate(batch):
        np.testing.assert_allclose(out, np.concatenate([s[k] for s in single]), rtol=0, atol=1e-5)
    empty = session.run(None, {"image": np.zeros((0, size, size, 3), np.float32)})
    assert [e.shape for e in empty] == [(0, *shape) for shape in CONTRACT[key][1].values()]


def test_conversion_is_deterministic_and_float16_weights_are_lossless(blazepose_dir: Path, tmp_path: Path):
    again = conv.convert_all(tmp_path / "again")
    for key, path in network_paths(blazepose_dir).items():
        assert again[key].read_bytes() == path.read_bytes(), f"{key}: a second conversion gave other bytes"
    f32 = conv.convert(
        conv.source_paths()["landmark"], tmp_path / "f32.onnx", conv.NETWORKS["landmark"].outputs, weights="float32"
    )
    assert f32.stat().st_size > 1.8 * again["landmark"].stat().st_size
    x = np.random.default_rng(2).uniform(0, 1, size=(2, 256, 256, 3)).astype(np.float32)
    for a, b in zip(_session(f32).run(None, {"image": x}), _session(again["landmark"]).run(None, {"image": x})):
        np.testing.assert_array_equal(a, b)


def test_missing_networks_name_the_file_and_the_fix(tmp_path: Path):
    with pytest.raises(PosenetError) as err:
        require_networks(tmp_path)
    assert str(err.value).startswith(
        f"{tmp_path / 'pose_detection.onnx'}: BlazePose ONNX networks not found; make them from the installed "
        "mediapipe wheel with: posenet-cls convert-blazepose"
    )


def test_default_dir_follows_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    assert default_dir() == tmp_path
    monkeypatch.delenv(DIR_ENV)
    assert default_dir() == SHIPPED_DIR  # the networks that ship with the package: no manual step
    monkeypatch.setattr("posenet_cls.pose.blazepose.files.SHIPPED_DIR", tmp_path / "none")
    assert default_dir() == cache_dir() and cache_dir().name == f"mediapipe-{metadata.version('mediapipe')}"


def test_shipped_networks_are_this_converter_on_the_pinned_wheel(blazepose_dir: Path):
    """checkpoints/blazepose holds exactly what the converter makes from the installed mediapipe wheel."""
    shipped, fresh = network_paths(SHIPPED_DIR), network_paths(blazepose_dir)
    for key in shipped:
        assert hashlib.sha256(shipped[key].read_bytes()).digest() == hashlib.sha256(fresh[key].read_bytes()).digest(), key
    assert "Apache License" in (SHIPPED_DIR / "NOTICE").read_text()


def test_unknown_output_name_is_refused(tmp_path: Path):
    with pytest.raises(PosenetError, match=r"pose_detection\.tflite: no TFLite output named Identity_9"):
        conv.convert(conv.source_paths()["detector"], tmp_path / "x.onnx", {"Identity_9": "boxes"})
    assert not (tmp_path / "x.onnx").exists()


def test_importing_the_package_loads_no_conversion_or_runtime_library():
    code = (
        "import sys, posenet_cls, posenet_cls.pose.blazepose, posenet_cls.pose.blazepose.files, posenet_cls.pose.blazepose.convert;"
        "print(sorted({'tflite', 'ai_edge_litert', 'onnxruntime', 'mediapipe', 'onnx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

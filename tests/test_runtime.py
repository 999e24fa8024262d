"""The torch-free runtime on the shipped model: parity batch vs single, thresholds, clear errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posenet_cls.errors import PosenetError
from posenet_cls.infer.photos import DEFAULT_MODEL
from posenet_cls.runtime import UNKNOWN, PoseRuntime, default_providers
from posenet_cls.schema import LANDMARK_NAMES, SCHEMA_VERSION

from models import two_input_model


@pytest.fixture(scope="module")
def runtime() -> PoseRuntime:
    return PoseRuntime(DEFAULT_MODEL)


def test_shipped_model_carries_what_it_needs(runtime, yoga8):
    assert runtime.classes == tuple(sorted(p.name for p in yoga8.iterdir() if p.is_dir()))
    assert runtime.schema_version == SCHEMA_VERSION
    assert runtime.landmarks == LANDMARK_NAMES
    assert 0.0 < runtime.unknown_threshold < 1.0
    assert runtime.features["torso_multiplier"] > 0


def test_single_pose_matches_batch(runtime, yoga8_table):
    assert runtime.reads_world  # the shipped model reads world landmarks beside the image landmarks
    poses, world = yoga8_table.keypoints[::7], yoga8_table.world[::7]
    batch = runtime.probabilities(poses, world)
    assert batch.shape == (len(poses), len(runtime.classes))
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-5)
    single = np.stack([runtime.pose_probabilities(p, w).copy() for p, w in zip(poses, world)])
    np.testing.assert_allclose(single, batch, atol=1e-6)
    preds = runtime.classify_batch(poses, world=world)
    singles = [runtime.classify(p, world=w) for p, w in zip(poses, world)]
    assert [(p.label, p.best, p.reason) for p in preds] == [(p.label, p.best, p.reason) for p in singles]
    np.testing.assert_allclose([p.confidence for p in preds], [p.confidence for p in singles], atol=1e-6)
    # onnxruntime runs a batch and a single pose through different MatMul kernels, and the novelty's
    # nearest-neighbour distances lose digits to cancellation: 5e-4 apart here, 1.8e-3 on an AVX2-only
    # CPU, against a threshold near 5. What a user relies on is the decision, checked exactly above.
    np.testing.assert_allclose([p.novelty for p in preds], [p.novelty for p in singles], atol=1e-2)
    assert [p.best for p in preds] == [runtime.classes[i] for i in batch.argmax(axis=1)]


def test_large_batch_uses_the_threaded_session_with_the_same_answers(runtime, yoga8_table):
    poses = np.concatenate([yoga8_table.keypoints] * 2)  # over BATCH_SESSION_MIN
    world = np.concatenate([yoga8_table.world] * 2)
    big = runtime.probabilities(poses, world)
    small = np.concatenate([runtime.probabilities(poses[i : i + 100], world[i:i + 100])
                            for i in range(0, len(poses), 100)])
    np.testing.assert_allclose(big, small, atol=1e-6)


def test_a_batch_larger_than_the_novelty_heads_chunk_gives_each_poses_own_novelty(runtime, yoga8_table):
    from posenet_cls.runtime import HEAD_CHUNK

    poses = np.resize(yoga8_table.keypoints, (2 * HEAD_CHUNK + 17, 33, 4))
    world = np.resize(yoga8_table.world, (len(poses), 33, 3))
    probs, novelty = runtime.scores(poses, world)
    assert novelty.shape == (len(poses),)
    pieces = [runtime.scores(poses[i:i + 100], world[i:i + 100]) for i in range(0, len(poses), 100)]
    assert np.allclose(novelty, np.concatenate([n for _, n in pieces]), atol=1e-5)
    assert np.allclose(probs, np.concatenate([p for p, _ in pieces]), atol=1e-6)


def test_float64_and_list_input_are_accepted(runtime, yoga8_table):
    pose, world = yoga8_table.keypoints[3], yoga8_table.world[3]
    assert runtime.classify(pose.astype(np.float64), world=world.astype(np.float64)) == runtime.classify(pose, world=world)
    np.testing.assert_allclose(runtime.probabilities(pose[None].tolist(), world[None].tolist()),
                               runtime.probabilities(pose[None], world[None]), atol=1e-7)


def test_threshold_turns_low_confidence_into_unknown(runtime, yoga8_table):
    pose, world = yoga8_table.keypoints[0], yoga8_table.world[0]
    pred = runtime.classify(pose, world=world)
    sure = runtime.classify(pose, threshold=0.0, world=world)
    never = runtime.classify(pose, threshold=1.01, world=world)
    assert sure.label == sure.best == pred.best
    assert never.label == UNKNOWN and never.best == pred.best and never.confidence == pred.confidence
    five = runtime.classify_batch(yoga8_table.keypoints[:5], threshold=1.01, world=yoga8_table.world[:5])
    assert {p.label for p in five} == {UNKNOWN}


@pytest.mark.parametrize("shape", [(33, 3), (32, 4), (1, 33, 4), (132,)])
def test_wrong_single_pose_shape_is_a_clear_error(runtime, shape):
    with pytest.raises(PosenetError, match=r"expected one pose of shape \(33, 4\), got \(.*\); use probabilities"):
        runtime.classify(np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(33, 4), (5, 33, 3), (5, 4, 33)])
def test_wrong_batch_shape_is_a_clear_error(runtime, shape):
    with pytest.raises(PosenetError, match=r"expected poses of shape \(N, 33, 4\)"):
        runtime.probabilities(np.zeros(shape, np.float32))


def test_nan_pose_is_refused(runtime, yoga8_table):
    pose, world = yoga8_table.keypoints[0], yoga8_table.world[0].copy()
    world[:] = np.nan
    with pytest.raises(PosenetError, match="non-finite"):
        runtime.classify(pose, world=world)
    with pytest.raises(PosenetError, match="pose 1 gives non-finite"):
        runtime.probabilities(yoga8_table.keypoints[:2], np.stack([yoga8_table.world[0], world]))


def test_non_onnx_and_missing_files_are_clear_errors(tmp_path, yoga8):
    photo = next((yoga8 / "Triangle").iterdir())
    with pytest.raises(PosenetError, match=rf"{photo.name}: not a usable ONNX model"):
        PoseRuntime(photo)
    text = tmp_path / "model.onnx"
    text.write_text("not a model", encoding="utf-8")
    with pytest.raises(PosenetError, match=r"model.onnx: not a usable ONNX model"):
        PoseRuntime(text)
    with pytest.raises(PosenetError, match=r"nothing.onnx: no such model file"):
        PoseRuntime(tmp_path / "nothing.onnx")


def test_onnx_without_our_metadata_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["batch", 33, 4])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 33, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["landmarks"], ["probabilities"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "foreign.onnx"
    onnx.save(model, str(path))
    with pytest.raises(PosenetError, match=r"foreign.onnx: no 'posenet_cls' metadata"):
        PoseRuntime(path)
    model.metadata_props.add(key="posenet_cls", value=json.dumps({"classes": ["a", "b"], "schema_version": 1,
                                                                   "landmarks": ["x"] * 33}))
    onnx.save(model, str(path))
    with pytest.raises(PosenetError, match=r"model has 4 outputs but 2 class names"):
        PoseRuntime(path)


def test_providers_prefer_cuda_then_cpu(runtime):
    import onnxruntime as ort

    providers = default_providers()
    assert providers[-1] == "CPUExecutionProvider"
    assert ("CUDAExecutionProvider" in providers) == ("CUDAExecutionProvider" in ort.get_available_providers())
    assert runtime._single.get_providers()[0] == providers[0]


def test_runtime_imports_neither_torch_nor_opencv(yoga8_csv):
    code = f"""
import sys, json
from posenet_cls.runtime import PoseRuntime
from posenet_cls.data.table import read_table
rt = PoseRuntime({str(DEFAULT_MODEL)!r})
t = read_table({str(yoga8_csv)!r})
kp, w = t.keypoints, t.world
labels = [rt.classify(p, world=x).best for p, x in zip(kp[:3], w[:3])] + [p.best for p in rt.classify_batch(kp[:3], world=w[:3])]
heavy = sorted(m for m in ("torch", "cv2", "mediapipe", "sklearn", "pytorch_lightning") if m in sys.modules)
print(json.dumps({{"heavy": heavy, "labels": labels}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["labels"][:3] == result["labels"][3:] and len(result["labels"]) == 6


def test_decisions_survive_cross_cpu_landmark_noise(runtime, yoga8_table):
    """Landmarks moved by 1e-3 of the image and world landmarks by 2 mm (the spread seen between CPUs) change a
    decision only at a threshold's edge."""
    poses, world = yoga8_table.keypoints, yoga8_table.world
    base = runtime.classify_batch(poses, world=world)
    rng = np.random.default_rng(0)
    for _ in range(3):
        noisy = poses.copy()
        noisy[..., :2] += rng.normal(0, 1e-3, noisy[..., :2].shape).astype(np.float32)
        noisy[..., 3] = np.clip(noisy[..., 3] + rng.normal(0, 1e-3, noisy[..., 3].shape), 0, 1)
        moved = world + rng.normal(0, 2e-3, world.shape).astype(np.float32)
        again = runtime.classify_batch(noisy, world=moved)
        changed = [(a, b) for a, b in zip(base, again) if (a.label, a.reason) != (b.label, b.reason)]
        assert len(changed) <= 0.01 * len(poses)
        for a, b in changed:
            at_edge = (abs(a.confidence - runtime.unknown_threshold) < 0.05
                       or abs(a.novelty - runtime.novelty_threshold) < 0.1 * runtime.novelty_threshold)
            assert at_edge and a.best == b.best, (a, b)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter
def test_a_model_that_reads_world_landmarks_is_fed_them_everywhere(yoga8_table, tmp_path):
    from posenet_cls.training.export import export_model
    from posenet_cls.training.models import PoseClassifier
    from posenet_cls.training.train import IMAGE_FEATURES

    two = PoseRuntime(two_input_model(tmp_path / "two.onnx"))
    image = PoseClassifier(3, IMAGE_FEATURES).eval()  # a model on image landmarks only, as every one before issue 28
    export_model(image, ["A", "B", "C"], IMAGE_FEATURES.to_dict(), tmp_path / "image.onnx", yoga8_table.keypoints[:16])
    runtime = PoseRuntime(tmp_path / "image.onnx")
    assert two.reads_world and not runtime.reads_world
    poses, world = yoga8_table.keypoints[:300], yoga8_table.require_world("this model")[:300]
    batch = two.probabilities(poses, world)  # 300 poses: the threaded session
    single = np.stack([two.pose_probabilities(p, w).copy() for p, w in zip(poses[:20], world[:20])])
    assert batch.shape == (300, 3) and np.allclose(single, batch[:20], atol=1e-6)
    assert [p.label for p in two.classify_batch(poses[:20], world=world[:20])] == \
        [two.classify(p, world=w).label for p, w in zip(poses[:20], world[:20])]
    # the world landmarks matter: the same image landmarks with others' world landmarks answer differently
    assert not np.allclose(two.probabilities(poses, world[::-1]), batch, atol=1e-3)
    with pytest.raises(PosenetError, match=r"two\.onnx: this model reads world landmarks too; pass world \(1, 33, 3\)"):
        two.pose_probabilities(poses[0])
    with pytest.raises(PosenetError, match=r"expected world landmarks of shape \(300, 33, 3\), got \(300, 33, 4\)"):
        two.probabilities(poses, poses)
    # a model that reads none ignores them: exported before, it keeps running as it did
    assert np.array_equal(runtime.probabilities(poses, world), runtime.probabilities(poses))


def test_the_runtimes_sizes_are_the_schemas():
    from posenet_cls import runtime as rt
    from posenet_cls.schema import NUM_CHANNELS, NUM_LANDMARKS, NUM_WORLD_CHANNELS

    assert (rt.NUM_LANDMARKS, rt.NUM_CHANNELS, rt.NUM_WORLD_CHANNELS) == (NUM_LANDMARKS, NUM_CHANNELS, NUM_WORLD_CHANNELS)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_predict_feeds_world_landmarks_to_a_model_that_reads_them(yoga8, videos, tmp_path, capsys):
    from posenet_cls.cli import main

    model = str(two_input_model(tmp_path / "two.onnx"))
    photo = sorted((yoga8 / "Triangle").iterdir())[0]
    assert main(["predict", str(photo), "--model", model, "--json", "--no-annotate"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "pose" and record["label"] in ("A", "B", "C", "unknown")
    assert main(["predict", str(videos / "squat_1rep.mp4"), "--model", model, "--json", "--no-annotate",
                 "--no-show"]) == 0
    frames = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert frames[-1]["summary"] and sum(f.get("pose", False) for f in frames[:-1]) == 75


def test_a_world_input_of_the_wrong_shape_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["batch", 33, 4]),
              helper.make_tensor_value_info("world", TensorProto.FLOAT, ["batch", 33, 4])]
    graph = helper.make_graph([helper.make_node("Add", ["landmarks", "world"], ["probabilities"])], "bad", inputs,
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 33, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    meta = {"classes": ["A", "B", "C", "D"], "schema_version": SCHEMA_VERSION, "landmarks": list(LANDMARK_NAMES)}
    model.metadata_props.add(key="posenet_cls", value=json.dumps(meta))
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(PosenetError, match=r"bad\.onnx: input 'world' is tensor\(float\) \['batch', 33, 4\], "
                                           r"expected float \(batch, 33, 3\)"):
        PoseRuntime(tmp_path / "bad.onnx")

"""ONNX export: parity torch / onnxruntime / OpenCV DNN on real keypoints, metadata round trip, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenet_cls.cli import main
from posenet_cls.errors import PosenetError
from posenet_cls.training.export import PARITY_TOLERANCE, build_metadata, export_model, export_run, torch_probabilities
from posenet_cls.runtime import METADATA_KEY, PoseRuntime
from posenet_cls.schema import LANDMARK_NAMES, SCHEMA_VERSION


def _model(classes: int, seed: int, norm: str = "layer", **features):
    """A PoseClassifier with seeded random weights, non-trivial norm affine parameters and BatchNorm statistics."""
    import torch

    from posenet_cls.features import FeatureConfig
    from posenet_cls.training.models.mlp import PoseClassifier

    torch.manual_seed(seed)
    model = PoseClassifier(classes, FeatureConfig(**features), hidden=(32, 16), norm=norm)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.3, 3.0)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, yoga8_table):
    model = _model(len(yoga8_table.classes), seed=1)
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    report = export_model(model, yoga8_table.classes, model.features.to_dict(), path, yoga8_table.keypoints, 0.4)
    return model, path, report


def test_export_parity_onnxruntime_vs_torch(exported, yoga8_table):
    model, path, report = exported
    assert report.max_abs_diff <= PARITY_TOLERANCE and report.same_top_class
    assert report.poses_checked == len(yoga8_table)
    ort_probs = PoseRuntime(path).probabilities(yoga8_table.keypoints)
    torch_probs = torch_probabilities(model, yoga8_table.keypoints)
    assert np.abs(ort_probs - torch_probs).max() <= 1e-5
    assert (ort_probs.argmax(1) == torch_probs.argmax(1)).all()
    assert len(np.unique(torch_probs.argmax(1))) > 1  # the random model is not constant: the check can fail


def test_graph_signature_and_checker(exported):
    import onnx

    _, path, _ = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    (inp,) = proto.graph.input
    (out,) = proto.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, inp.type.tensor_type.elem_type, dims) == ("landmarks", onnx.TensorProto.FLOAT, ["batch", 33, 4])
    assert out.name == "probabilities"
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.node[-1].op_type == "Softmax"


@pytest.mark.parametrize("batch", [1, 3, 500])
def test_dynamic_batch(exported, yoga8_table, batch):
    _, path, _ = exported
    poses = np.resize(yoga8_table.keypoints, (batch, 33, 4))
    assert PoseRuntime(path).probabilities(poses).shape == (batch, len(yoga8_table.classes))


def test_metadata_round_trip(exported, yoga8_table):
    import onnx

    model, path, _ = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props[METADATA_KEY])
    assert meta == build_metadata(yoga8_table.classes, model.features.to_dict(), 0.4)
    assert meta["classes"] == yoga8_table.classes
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["landmarks"] == list(LANDMARK_NAMES)
    assert meta["unknown_threshold"] == 0.4
    from posenet_cls.features import FeatureConfig

    assert FeatureConfig.from_dict(meta["features"]) == model.features
    runtime = PoseRuntime(path)
    assert runtime.metadata == meta and runtime.unknown_threshold == 0.4


def test_update_metadata_changes_only_the_metadata(exported, yoga8_table, tmp_path):
    """A new angle profile, say: the graph answers as before; a file without our metadata is refused."""
    import shutil

    import onnx
    from onnx import TensorProto, helper

    from posenet_cls.training.export import update_metadata

    _, path, _ = exported
    copy = tmp_path / "copy.onnx"
    shutil.copy(path, copy)
    update_metadata(copy, angle_profile={"version": 2, "classes": {}})
    before, after = PoseRuntime(path), PoseRuntime(copy)
    assert after.metadata == {**before.metadata, "angle_profile": {"version": 2, "classes": {}}}
    np.testing.assert_array_equal(after.probabilities(yoga8_table.keypoints[:8]), before.probabilities(yoga8_table.keypoints[:8]))
    plain = tmp_path / "plain.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(plain))
    with pytest.raises(PosenetError, match="plain.onnx: no 'posenet_cls' metadata; not a posenet_cls model"):
        update_metadata(plain, angle_profile={})


@pytest.mark.parametrize("features", [{"use_z": False}, {"use_visibility": False, "torso_multiplier": 2.0}])
def test_feature_settings_export_with_parity(tmp_path, yoga8_table, features):
    model = _model(len(yoga8_table.classes), seed=2, **features)
    report = export_model(model, yoga8_table.classes, model.features.to_dict(), tmp_path / "m.onnx",
                          yoga8_table.keypoints[::3])
    assert report.max_abs_diff <= PARITY_TOLERANCE


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_batchnorm_folds_into_the_layers_and_no_norm_exports(tmp_path, yoga8_table, norm):
    import onnx

    model = _model(len(yoga8_table.classes), seed=3, norm=norm)
    report = export_model(model, yoga8_table.classes, model.features.to_dict(), tmp_path / "m.onnx",
                          yoga8_table.keypoints[::3])
    assert report.max_abs_diff <= PARITY_TOLERANCE and report.same_top_class
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert not ops & {"BatchNormalization", "LayerNormalization"}
    assert len(np.unique(torch_probabilities(model, yoga8_table.keypoints[::3]).argmax(1))) > 1


def test_an_ensemble_with_mirror_averaging_exports_with_parity(tmp_path, yoga8_table):
    import torch

    from posenet_cls.features import FeatureConfig, mirror
    from posenet_cls.training.models.mlp import PoseClassifier

    torch.manual_seed(3)
    members = [FeatureConfig(view="offsets"), FeatureConfig(use_z=False, use_visibility=False)]
    model = PoseClassifier(len(yoga8_table.classes), hidden=(16,), members=members, mirror_average=True).eval()
    poses = yoga8_table.keypoints[::3]
    report = export_model(model, yoga8_table.classes, model.features.to_dict(), tmp_path / "e.onnx", poses)
    assert report.max_abs_diff <= PARITY_TOLERANCE
    runtime = PoseRuntime(tmp_path / "e.onnx")
    probs = runtime.probabilities(poses)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(runtime.probabilities(mirror(poses)), probs, atol=1e-5)  # mirror averaging
    with torch.no_grad():  # the mean of the members' probabilities on the pose and on its mirror image
        members_probs = [torch.softmax(z, 1) for z in model.member_logits(torch.from_numpy(poses))
                         + model.member_logits(torch.from_numpy(mirror(poses)))]
    np.testing.assert_allclose(probs, torch.stack(members_probs).mean(0).numpy(), atol=1e-5)


def _opencv_probabilities(path: Path, poses: np.ndarray) -> np.ndarray:
    import cv2

    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(np.ascontiguousarray(poses, dtype=np.float32), "landmarks")
    return net.forward("probabilities")


def test_opencv_dnn_gives_the_same_classes_and_probabilities(exported, yoga8_table):
    # A graph without the novelty branch (OpenCV's DNN reads no ONNX If; see test_novelty for --no-novelty).
    path = exported[1]
    runtime = PoseRuntime(path)
    poses = yoga8_table.keypoints[::5]
    ref = runtime.probabilities(poses)
    got = np.concatenate([_opencv_probabilities(path, poses[i : i + 32]) for i in range(0, len(poses), 32)])
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert np.abs(_opencv_probabilities(path, poses[:1]) - ref[:1]).max() <= 1e-4  # a single pose too


def test_export_refuses_bad_arguments(tmp_path, yoga8_table):
    model = _model(len(yoga8_table.classes), seed=3)
    with pytest.raises(PosenetError, match=r"model.pt: the output file must end in .onnx"):
        export_model(model, yoga8_table.classes, {}, tmp_path / "model.pt", yoga8_table.keypoints)
    with pytest.raises(PosenetError, match=r"real poses of shape \(N, 33, 4\), got \(4, 33, 3\)"):
        export_model(model, yoga8_table.classes, {}, tmp_path / "m.onnx", yoga8_table.keypoints[:4, :, :3])
    with pytest.raises(PosenetError, match="gives 8 outputs but has 2 class names"):
        export_model(model, ["a", "b"], {}, tmp_path / "m.onnx", yoga8_table.keypoints)
    from posenet_cls.features import FeatureConfig
    from posenet_cls.training.models import PoseClassifier

    world_model = PoseClassifier(len(yoga8_table.classes), FeatureConfig(view="world")).eval()
    out = tmp_path / "w.onnx"
    with pytest.raises(PosenetError, match=r"w\.onnx: the parity check of a model on world landmarks: this model reads "
                                           "world landmarks; none were given"):
        export_model(world_model, yoga8_table.classes, {}, out, yoga8_table.keypoints)
    with pytest.raises(PosenetError, match=r"w\.onnx: the parity check of a model on world landmarks: expected world "
                                           r"landmarks of shape \(482, 33, 3\), got \(482, 33, 4\)"):
        export_model(world_model, yoga8_table.classes, {}, out, yoga8_table.keypoints, check_world=yoga8_table.keypoints)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, yoga8_table, yoga8_csv):
    from posenet_cls.training.checkpoint import model_meta, save_checkpoint

    model = _model(len(yoga8_table.classes), seed=4)
    run = tmp_path_factory.mktemp("run")
    meta = model_meta(model, yoga8_table.classes, run={"table": str(yoga8_csv), "seed": 0, "folds": 5, "fold": 0})
    save_checkpoint(run / "model.ckpt", model, meta)
    return run


def test_export_command_prints_the_predict_command(run_dir, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", str(run_dir), "-o", str(out), "--unknown-threshold", "0.6"]) == 0
    printed = capsys.readouterr().out
    assert f"posenet-cls predict PHOTO_OR_FOLDER --model {out}" in printed.strip().splitlines()[-1]
    assert "max abs difference" in printed
    runtime = PoseRuntime(out)
    assert runtime.unknown_threshold == 0.6 and runtime.metadata["run"]["fold"] == 0
    assert main(["export", str(run_dir), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and report["max_abs_diff"] <= PARITY_TOLERANCE and report["same_top_class"]
    assert report["poses_checked"] > 0 and report["size_bytes"] == out.stat().st_size
    assert report["novelty_max_abs_diff"] is None and report["predict"].endswith(f"--model {out}")  # no novelty model


def test_export_run_errors_name_the_problem(run_dir, tmp_path, capsys):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(PosenetError, match=r"empty_run: no model.ckpt in this run folder"):
        export_run(empty, tmp_path / "m.onnx")
    with pytest.raises(PosenetError, match=r"unknown threshold must be in \[0, 1\)"):
        export_run(run_dir, tmp_path / "m.onnx", unknown_threshold=1.5)
    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err

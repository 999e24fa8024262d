"""The view-invariant view (world landmarks in a body frame) and the facing split that shows why it is needed."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from posenet_cls.config import PROJECT_ROOT
from posenet_cls.data.splits import facing_front, facing_splits
from posenet_cls.features import body_frame, body_yaw, world_view
from posenet_cls.schema import mirror_permutation, mirror_world


def _turn(world: np.ndarray, degrees: float) -> np.ndarray:
    """World landmarks seen by a camera walked ``degrees`` round the person (a turn about the vertical y axis)."""
    a = np.deg2rad(degrees)
    x, z = world[..., 0], world[..., 2]
    return np.stack([np.cos(a) * x - np.sin(a) * z, world[..., 1], np.sin(a) * x + np.cos(a) * z], axis=-1)


def test_the_body_frame_is_the_same_from_any_side_distance_and_place(yoga8_table):
    world = yoga8_table.require_world("the body frame")
    frame = body_frame(world)
    assert frame.shape == world.shape and frame.dtype == np.float32 and np.isfinite(frame).all()
    for degrees in (30.0, 90.0, 180.0, 250.0):
        assert np.allclose(body_frame(_turn(world, degrees)), frame, atol=1e-4), degrees
    assert np.allclose(body_frame(1.3 * world + np.array([0.2, -0.1, 0.5])), frame, atol=1e-4)
    # the 180-degree turn of issue 28 (world x and z negated) gives the same features exactly enough
    behind = world * np.array([-1.0, 1.0, -1.0])
    assert np.allclose(world_view(behind), world_view(world), atol=1e-4)
    # up stays up: the view keeps gravity, so a pose turned upside down is another pose
    assert not np.allclose(body_frame(world * np.array([1.0, -1.0, 1.0])), frame, atol=1e-2)


def test_the_body_frame_puts_the_hips_on_x_and_the_torso_at_unit_length(yoga8_table):
    frame = body_frame(yoga8_table.require_world("the body frame"))
    from posenet_cls.schema import Landmark as L

    hips = frame[:, L.LEFT_HIP] - frame[:, L.RIGHT_HIP]
    shoulders = frame[:, L.LEFT_SHOULDER] - frame[:, L.RIGHT_SHOULDER]
    assert np.allclose((hips + shoulders)[:, 2], 0, atol=1e-5) and ((hips + shoulders)[:, 0] > 0).all()
    assert np.allclose((frame[:, L.LEFT_HIP] + frame[:, L.RIGHT_HIP]) / 2, 0, atol=1e-5)
    torso = np.linalg.norm((frame[:, L.LEFT_SHOULDER] + frame[:, L.RIGHT_SHOULDER]) / 2, axis=1)
    assert np.allclose(torso, 1, atol=1e-4)
    assert world_view(yoga8_table.world).shape == (len(frame), 99 + 66)


def test_yaw_and_facing_agree_and_mirroring_keeps_the_side(yoga8_table):
    world = yoga8_table.world
    front = facing_front(yoga8_table)
    assert np.array_equal(np.abs(body_yaw(world)) < np.pi / 2, front)
    # a mirror image is seen from the same side: mirror augmentation cannot make the other side
    mirrored = replace(yoga8_table, world=mirror_world(world))
    assert (facing_front(mirrored) == front).mean() > 0.99
    # 180 degrees round the person: the other side
    assert (facing_front(replace(yoga8_table, world=_turn(world, 180.0))) != front).mean() > 0.99


def test_the_facing_split_trains_on_one_side_and_tests_on_the_other(yoga8_table):
    front = facing_front(yoga8_table)
    splits = facing_splits(yoga8_table)
    assert list(splits) == ["front->back", "back->front"]
    for name, split in splits.items():
        train_front = name == "front->back"
        seen = np.concatenate([split.train, split.val])
        assert (front[seen] == train_front).all() and (front[split.test] != train_front).all()
        assert not set(seen) & set(split.test)
        trained = set(yoga8_table.labels[seen])
        assert set(yoga8_table.labels[split.test]) <= trained  # no model is asked for a class it never saw
    # yoga8's bound-angle photos are all seen from the front: that class is not tested back->front
    assert "BaddhaKonasana" not in set(yoga8_table.labels[splits["back->front"].test])


def test_world_landmarks_carry_a_pose_to_the_other_side_and_the_image_does_not(yoga8_table):
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from cv_table import world_logreg

    from posenet_cls.training.train import TrainConfig, cross_validate

    split = facing_splits(yoga8_table)["front->back"]
    image = cross_validate(yoga8_table, TrainConfig(), ("logreg",), splits=[split])["models"]["logreg"]
    world, behind = world_logreg(yoga8_table, split, seed=0)
    assert world >= 0.93 and behind >= 0.93 and image["accuracy"]["mean"] <= world - 0.1, (world, image["accuracy"])


def test_the_logistic_regression_baseline_trains_from_the_command_line(yoga8_csv, tmp_path, capsys):
    from posenet_cls.cli import main

    assert main(["train", str(yoga8_csv), "--model", "logreg", "-o", str(tmp_path / "lr"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] > 0.9


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter, as training.export uses it
def test_numpy_torch_and_onnxruntime_give_the_same_world_view(yoga8_table, tmp_path):
    import onnxruntime as ort
    import torch

    from posenet_cls.training.models.normalize import WorldView

    world = yoga8_table.require_world("the world view")
    edge = np.zeros((2, 33, 3), np.float32)  # degenerate: zeros, never NaN
    edge[1, :, 1] = np.linspace(-1, 1, 33)  # everything on the vertical: nothing to turn by, x and z collapse
    poses = np.concatenate([world, edge])
    expected = world_view(poses)
    module = WorldView().eval()
    got = module(torch.from_numpy(poses)).detach().numpy()
    assert np.isfinite(expected).all() and np.abs(expected - got).max() <= 1e-5
    path = tmp_path / "world_view.onnx"
    torch.onnx.export(module, (torch.from_numpy(poses[:2]),), str(path), dynamo=False, input_names=["world"],
                      output_names=["features"], dynamic_axes={"world": {0: "batch"}, "features": {0: "batch"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"world": poses})[0] - expected).max() <= 1e-5


def test_blazeposes_side_swap_is_the_mirror_image_in_the_body_frame(yoga8_table):
    from posenet_cls.features import swap_sides

    world = yoga8_table.world
    swapped = swap_sides(world)
    assert np.allclose(swapped[:, :, :2], world[:, mirror_permutation(), :2])
    # labels exchanged and depth reversed is the mirror image turned round: the same body-frame view
    assert np.allclose(world_view(swapped), world_view(mirror_world(world)), atol=1e-4)



def test_a_table_seen_from_one_side_only_cannot_be_facing_split(yoga8_table):
    from posenet_cls.errors import PosenetError

    front = facing_front(yoga8_table)
    world = np.where(front[:, None, None], yoga8_table.world, _turn(yoga8_table.world, 180.0))  # all from the front
    with pytest.raises(PosenetError, match=r"yoga8: too few poses seen from each side for the facing split "
                                           r"\(front->back\)"):
        facing_splits(replace(yoga8_table, world=world), what="yoga8")


def test_a_table_without_world_landmarks_trains_on_the_image_view_only(yoga8_table, tmp_path, capsys):
    from posenet_cls.cli import main
    from posenet_cls.data.table import table_rows, write_table

    old = tmp_path / "old.csv"  # a table extracted before the world columns existed
    write_table(table_rows(replace(yoga8_table, world=None)), old)
    assert main(["train", str(old), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "world view (the default features; the 'offsets' view" in err
    assert "482 of the table's 482 rows have none" in err and not (tmp_path / "run" / "model.ckpt").exists()
    assert main(["train", str(old), "--features", "offsets", "--epochs", "3", "-o", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["features"]["view"] == "offsets"

"""Features on the real yoga8 keypoints: numpy/torch parity, invariances, mirroring and the other augmentations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from posenet_cls.errors import PosenetError
from posenet_cls.features import AugmentConfig, FeatureConfig, augment, mirror, normalize, rotate, stretch
from posenet_cls.training.models.normalize import Normalize
from posenet_cls.schema import LEFT_RIGHT_PAIRS, NUM_LANDMARKS, Landmark

CONFIGS = [FeatureConfig(), FeatureConfig(use_z=False), FeatureConfig(use_visibility=False),
           FeatureConfig(torso_multiplier=1.0, use_z=False, use_visibility=False), FeatureConfig(view="offsets"),
           FeatureConfig(view="offsets", z_weight=1.0)]


@pytest.fixture(scope="module")
def poses(yoga8_table) -> np.ndarray:
    return yoga8_table.keypoints


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: json.dumps(c.to_dict()))
def test_numpy_and_torch_give_the_same_features_on_real_poses(poses, config):
    expected = normalize(poses, config)
    got = Normalize(config)(torch.from_numpy(poses)).numpy()
    assert expected.shape == got.shape == (len(poses), config.dim)
    assert expected.dtype == got.dtype == np.float32
    assert np.abs(expected - got).max() <= 1e-5


def test_feature_layout_is_landmark_major_and_hip_centred(poses):
    feats = normalize(poses, FeatureConfig()).reshape(len(poses), NUM_LANDMARKS, 4)
    hips = feats[:, [Landmark.LEFT_HIP, Landmark.RIGHT_HIP], :3].mean(axis=1)
    np.testing.assert_allclose(hips, 0.0, atol=1e-6)
    np.testing.assert_array_equal(feats[..., 3], poses[..., 3])  # visibility passes through
    # Scaled so the farthest landmark (in the image plane) is at most 1 from the mid-hip, and one pose reaches it
    # unless the torso term dominates.
    radius = np.sqrt((feats[..., :2] ** 2).sum(-1)).max(axis=1)
    assert radius.max() <= 1.0 + 1e-6 and radius.min() > 0.2


def test_features_do_not_depend_on_where_the_person_stands(poses):
    moved = poses.copy()
    moved[..., 0] += 0.23
    moved[..., 1] -= 0.17
    moved[..., 2] += 0.05
    np.testing.assert_allclose(normalize(moved, FeatureConfig()), normalize(poses, FeatureConfig()), atol=2e-5)


@pytest.mark.parametrize("factor", [0.3, 2.5])
def test_features_do_not_depend_on_how_large_the_person_is(poses, factor):
    scaled = poses.copy()
    scaled[..., :3] = (scaled[..., :3] - np.float32([0.4, 0.6, 0.0])) * factor + np.float32([0.5, 0.5, 0.0])
    np.testing.assert_allclose(normalize(scaled, FeatureConfig()), normalize(poses, FeatureConfig()), atol=2e-5)


def test_features_do_change_with_the_pose_itself(poses):
    feats = normalize(poses, FeatureConfig())
    assert np.abs(feats[0] - feats[-1]).max() > 0.1  # different classes
    turned = normalize(rotate(poses[:5], np.full(5, 30.0)), FeatureConfig())
    assert np.abs(turned - feats[:5]).max() > 0.05  # orientation matters: not rotation invariant


def test_degenerate_pose_gives_zeros_not_nan():
    flat = np.full((2, NUM_LANDMARKS, 4), 0.5, dtype=np.float32)
    for out in (normalize(flat, FeatureConfig()), Normalize()(torch.from_numpy(flat)).numpy()):
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out.reshape(2, NUM_LANDMARKS, 4)[..., :3], 0.0)


def test_wrong_shape_is_refused_with_the_shape_in_the_message():
    with pytest.raises(PosenetError, match=r"expected a pose batch of shape \(N, 33, 4\), got \(5, 17, 3\)"):
        normalize(np.zeros((5, 17, 3), np.float32), FeatureConfig())


def test_feature_config_round_trips_through_json_and_refuses_unknown_keys():
    cfg = FeatureConfig(torso_multiplier=2.0, use_z=False)
    assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(PosenetError, match="unknown setting 'use_zz'"):
        FeatureConfig.from_dict({"use_zz": True})


def test_mirror_swaps_left_and_right_and_flips_x(poses):
    m = mirror(poses)
    for left, right in LEFT_RIGHT_PAIRS:
        np.testing.assert_allclose(m[:, left, 0], 1.0 - poses[:, right, 0], atol=1e-6)
        np.testing.assert_array_equal(m[:, left, 1:], poses[:, right, 1:])
        np.testing.assert_array_equal(m[:, right, 1:], poses[:, left, 1:])
    np.testing.assert_array_equal(m[:, Landmark.NOSE, 1:], poses[:, Landmark.NOSE, 1:])
    assert len(LEFT_RIGHT_PAIRS) == 16
    np.testing.assert_allclose(mirror(m), poses, atol=1e-6)
    # A mirrored person is a different picture: the features change, but only as a left/right swap would.
    assert np.abs(normalize(m, FeatureConfig()) - normalize(poses, FeatureConfig())).max() > 0.1


def test_mirror_of_a_labelled_pose_moves_the_left_wrist_to_the_other_side(poses):
    pose = poses[:1].copy()
    pose[0, Landmark.LEFT_WRIST, 0], pose[0, Landmark.RIGHT_WRIST, 0] = 0.9, 0.2
    m = mirror(pose)
    assert m[0, Landmark.LEFT_WRIST, 0] == pytest.approx(0.8)  # was the right wrist at 0.2
    assert m[0, Landmark.RIGHT_WRIST, 0] == pytest.approx(0.1)


def test_rotation_and_stretch_act_about_the_mid_hip(poses):
    hips = [Landmark.LEFT_HIP, Landmark.RIGHT_HIP]
    center = poses[:, hips, :2].mean(axis=1, keepdims=True)
    r = rotate(poses, np.full(len(poses), 15.0))
    np.testing.assert_allclose(r[:, hips, :2].mean(axis=1, keepdims=True), center, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(r[..., :2] - center, axis=-1),
                               np.linalg.norm(poses[..., :2] - center, axis=-1), atol=1e-5)
    s = stretch(poses, np.full(len(poses), 1.2), np.full(len(poses), 0.9))
    np.testing.assert_allclose(s[..., 0] - center[..., 0], 1.2 * (poses[..., 0] - center[..., 0]), atol=1e-5)
    np.testing.assert_allclose(s[..., 1] - center[..., 1], 0.9 * (poses[..., 1] - center[..., 1]), atol=1e-5)


def test_turn_keeps_the_hips_and_lengths_and_a_quarter_turn_swaps_x_and_depth(poses):
    from posenet_cls.features import turn

    hips = [Landmark.LEFT_HIP, Landmark.RIGHT_HIP]
    n = len(poses)
    np.testing.assert_allclose(turn(poses, np.zeros(n), np.zeros(n)), poses, atol=1e-6)
    t = turn(poses, np.full(n, 30.0), np.full(n, -15.0))
    centre = poses[:, hips, :3].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(t[:, hips, :3].mean(axis=1, keepdims=True), centre, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(t[..., :3] - centre, axis=-1), np.linalg.norm(poses[..., :3] - centre, axis=-1),
                               atol=1e-5)  # a rotation: every landmark keeps its distance from the mid-hip
    q = turn(poses, np.full(n, 90.0), np.zeros(n))
    np.testing.assert_allclose(q[..., 0] - centre[..., 0], poses[..., 2] - centre[..., 2], atol=1e-5)
    np.testing.assert_array_equal(q[..., 3], poses[..., 3])


def test_turn_augmentation_is_seeded_and_off_by_default(poses):
    cfg = AugmentConfig(mirror=0.0, yaw_deg=30.0, pitch_deg=15.0)
    a = augment(poses, cfg, np.random.default_rng(1))
    np.testing.assert_array_equal(a, augment(poses, cfg, np.random.default_rng(1)))
    assert not np.allclose(a[..., :3], poses[..., :3]) and cfg.active
    assert not AugmentConfig(mirror=0.0).active and AugmentConfig.from_dict({"mirror": 0.5}).yaw_deg == 0.0


def test_shifted_protocol_is_seeded_and_moves_only_what_it_says(poses):
    from posenet_cls.features import crop_below, far_side_blur
    from posenet_cls.training.metrics import FEET, perturbations

    a, b = perturbations(poses, 3)["shifted"][0], perturbations(poses, 3)["shifted"][0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, perturbations(poses, 4)["shifted"][0])
    rng = np.random.default_rng(0)
    blurred = far_side_blur(poses, 0.1, rng)
    moved = np.any(blurred != poses, axis=-1)  # (N, 33)
    for left, right in LEFT_RIGHT_PAIRS:  # one joint of each pair, never both, and never the nose
        assert not np.any(moved[:, left] & moved[:, right])
    assert not moved[:, Landmark.NOSE].any()
    cropped = crop_below(poses, tuple(int(f) for f in FEET), rng)
    assert (cropped[:, list(FEET), 3] <= 0.2).all()
    np.testing.assert_array_equal(np.delete(cropped, list(FEET), axis=1), np.delete(poses, list(FEET), axis=1))


def test_augment_is_seeded_and_mirrors_with_the_given_probability(poses):
    cfg = AugmentConfig(mirror=0.5, rotate_deg=10.0, scale=0.1, drop=0.3)
    a = augment(poses, cfg, np.random.default_rng(7))
    b = augment(poses, cfg, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, augment(poses, cfg, np.random.default_rng(8)))
    np.testing.assert_allclose(augment(poses, AugmentConfig(mirror=1.0), np.random.default_rng(0)), mirror(poses))
    np.testing.assert_array_equal(augment(poses, AugmentConfig(mirror=0.0), np.random.default_rng(0)), poses)


def test_drop_only_touches_low_visibility_joints(poses):
    out = augment(poses, AugmentConfig(mirror=0.0, drop=1.0, drop_below=0.5), np.random.default_rng(0))
    low = poses[..., 3] < 0.5
    assert low.any() and (~low).any()
    np.testing.assert_array_equal(out[~low], poses[~low])
    assert (out[low][:, 3] == 0).all()
    center = poses[:, [Landmark.LEFT_HIP, Landmark.RIGHT_HIP], :3].mean(axis=1)
    rows, _ = np.nonzero(low)
    np.testing.assert_allclose(out[low][:, :3], center[rows], atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter: onnxscript is not installed
@pytest.mark.parametrize("which", ["normalize", "classifier"])
def test_torch_modules_export_to_onnx_with_a_dynamic_batch(poses, tmp_path, which):
    import onnxruntime as ort

    from posenet_cls.training.models import PoseClassifier

    torch.manual_seed(0)
    module = (Normalize(FeatureConfig()) if which == "normalize" else PoseClassifier(8)).eval()
    path = tmp_path / f"{which}.onnx"
    torch.onnx.export(module, (torch.from_numpy(poses[:2]),), str(path), opset_version=17,
                      input_names=["keypoints"], output_names=["out"],
                      dynamic_axes={"keypoints": {0: "n"}, "out": {0: "n"}}, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        got = session.run(None, {"keypoints": poses[:n]})[0]
        with torch.no_grad():
            expected = module(torch.from_numpy(poses[:n])).numpy()
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4
    if which == "normalize":
        assert np.abs(got - normalize(poses[:7], FeatureConfig())).max() <= 1e-5


def test_offsets_are_mediapipes_pairwise_differences(poses):
    from posenet_cls.features import EMBEDDING_PAIRS, pose_embedding

    coords = normalize(poses, FeatureConfig(use_visibility=False)).reshape(len(poses), NUM_LANDMARKS, 3)
    coords = coords * np.float32([1.0, 1.0, 0.2])
    got = pose_embedding(poses, FeatureConfig()).reshape(len(poses), -1, 3)
    a, b = EMBEDDING_PAIRS[3]
    np.testing.assert_allclose(got[:, 4], coords[:, b] - coords[:, a], atol=1e-6)
    hips = coords[:, [Landmark.LEFT_HIP, Landmark.RIGHT_HIP]].mean(axis=1)
    shoulders = coords[:, [Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER]].mean(axis=1)
    np.testing.assert_allclose(got[:, 0], shoulders - hips, atol=1e-6)
    with pytest.raises(PosenetError, match="unknown feature view 'angles'"):
        FeatureConfig(view="angles")
    assert FeatureConfig.from_dict({"torso_multiplier": 2.5, "use_z": True, "use_visibility": True}) == FeatureConfig()


def test_proportions_change_segment_lengths_and_carry_what_hangs_on_them(poses):
    from posenet_cls.features import proportions

    np.testing.assert_array_equal(proportions(poses, np.ones((len(poses), 5))), poses)
    longer_shins = np.ones((len(poses), 5))
    longer_shins[:, 4] = 1.2
    out = proportions(poses, longer_shins)
    knee, ankle, heel = Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE, Landmark.LEFT_HEEL
    np.testing.assert_allclose(out[:, ankle, :3] - out[:, knee, :3], 1.2 * (poses[:, ankle, :3] - poses[:, knee, :3]), atol=1e-5)
    np.testing.assert_allclose(out[:, heel, :3] - out[:, ankle, :3], poses[:, heel, :3] - poses[:, ankle, :3], atol=1e-5)
    np.testing.assert_array_equal(out[:, :Landmark.LEFT_ANKLE], poses[:, :Landmark.LEFT_ANKLE])  # above the ankles: as it was
    np.testing.assert_array_equal(out[..., 3], poses[..., 3])


def test_guessed_depth_moves_only_depth_and_visibility(poses):
    from posenet_cls.features import guessed_depth

    out = guessed_depth(poses, 0.25, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(out[..., :2], poses[..., :2])
    assert np.abs(out[..., 2] - poses[..., 2]).mean() > 0.01
    assert ((out[..., 3] >= 0) & (out[..., 3] <= 1)).all() and not np.allclose(out[..., 3], poses[..., 3])


def test_the_mirror_layer_is_the_numpy_mirror(poses):
    from posenet_cls.training.models.mlp import Mirror

    np.testing.assert_allclose(Mirror()(torch.from_numpy(poses)).numpy(), mirror(poses), atol=1e-7)


def test_recombined_poses_take_every_limb_from_another_class(yoga8_table):
    from posenet_cls.features import body_frame, recombined
    from posenet_cls.schema import WHOLE_LIMBS

    assert [root.name for root, _ in WHOLE_LIMBS] == ["LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_HIP", "RIGHT_HIP"]
    a, b = yoga8_table.world[0], yoga8_table.world[-1]  # two poses of two classes, each repeated
    world = np.stack([a] * 5 + [b] * 5)
    labels = np.array([0] * 5 + [1] * 5)
    out = recombined(world, labels, 40, np.random.default_rng(0))
    frames = body_frame(np.stack([a, b]))
    assert out.shape == (40, 33, 3) and np.isfinite(out).all()
    limbs = {int(m) for _, moving in WHOLE_LIMBS for m in moving}
    body = [i for i in range(NUM_LANDMARKS) if i not in limbs]
    for pose in out:
        own = int(np.argmin([np.abs(pose[body] - f[body]).max() for f in frames]))  # the torso and head it kept
        assert np.allclose(pose[body], frames[own][body], atol=1e-6)
        for root, moving in WHOLE_LIMBS:  # each limb is the other pose's, hung from this pose's shoulder or hip
            idx = [int(m) for m in moving]
            other = frames[1 - own]
            assert np.allclose(pose[idx] - pose[int(root)], other[idx] - other[int(root)], atol=1e-5)
    with pytest.raises(PosenetError, match="at least two classes"):
        recombined(world[:5], labels[:5], 3, np.random.default_rng(0))


def test_the_world_view_is_refused_where_image_landmarks_are_read(yoga8_table):
    from posenet_cls.features import view_features
    from posenet_cls.training.models import PoseClassifier

    world = FeatureConfig(view="world")
    with pytest.raises(PosenetError, match="the world view is computed from world landmarks: use view_features"):
        normalize(yoga8_table.keypoints[:2], world)
    assert view_features(yoga8_table.keypoints[:2], yoga8_table.world[:2], world).shape == (2, world.dim)
    with pytest.raises(PosenetError, match="mirror averaging is for image views"):
        PoseClassifier(8, world, mirror_average=True)

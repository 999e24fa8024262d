"""Joint angles: named by the schema, exact on synthetic poses, plausible on real photos, 3D vs 2D, mirroring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenet_cls.coaching.angles import ANGLE_NAMES, JOINT_ANGLES, TRUNK_LEAN, angle_visibility, joint_angles
from posenet_cls.errors import PosenetError
from posenet_cls.schema import LEFT_RIGHT_PAIRS, NUM_LANDMARKS, Landmark, mirror_keypoints, mirror_world

L = Landmark
PHOTOS_EACH = 6


def _pose(points: dict[Landmark, tuple[float, float]], visibility: float = 1.0) -> np.ndarray:
    """A (1, 33, 4) raw pose with the given landmarks placed and every other one at the centre."""
    kp = np.full((1, NUM_LANDMARKS, 4), 0.5, np.float32)
    kp[..., 3] = visibility
    for lm, (x, y) in points.items():
        kp[0, lm, :2] = (x, y)
    return kp


def test_angles_are_named_pairs_of_the_schema():
    twins = dict(LEFT_RIGHT_PAIRS)
    for name, joints in JOINT_ANGLES.items():
        assert all(isinstance(j, Landmark) for j in joints)
        if name.startswith("left_"):
            assert JOINT_ANGLES[name.replace("left_", "right_")] == tuple(twins[j] for j in joints)
    assert {"left_elbow", "right_knee", "left_hip", "right_shoulder", TRUNK_LEAN} <= set(ANGLE_NAMES)


def test_known_geometry():
    kp = _pose({L.LEFT_HIP: (0.5, 0.4), L.LEFT_KNEE: (0.5, 0.6), L.LEFT_ANKLE: (0.7, 0.6),  # a right angle
                L.RIGHT_HIP: (0.6, 0.4), L.RIGHT_KNEE: (0.6, 0.6), L.RIGHT_ANKLE: (0.6, 0.8),  # straight
                L.LEFT_SHOULDER: (0.5, 0.1), L.RIGHT_SHOULDER: (0.6, 0.1)})
    a = joint_angles(kp)
    assert a["left_knee"][0] == pytest.approx(90.0) and a["right_knee"][0] == pytest.approx(180.0)
    assert a[TRUNK_LEAN][0] == pytest.approx(0.0, abs=1e-6)  # shoulders straight above the hips
    lying = _pose({L.LEFT_SHOULDER: (0.2, 0.5), L.RIGHT_SHOULDER: (0.2, 0.5),
                   L.LEFT_HIP: (0.6, 0.5), L.RIGHT_HIP: (0.6, 0.5)})
    assert joint_angles(lying, [TRUNK_LEAN])[TRUNK_LEAN][0] == pytest.approx(90.0)
    # 45 degrees in normalised units is not 45 degrees in a 16:9 frame's pixels
    bent = _pose({L.LEFT_HIP: (0.5, 0.4), L.LEFT_KNEE: (0.5, 0.6), L.LEFT_ANKLE: (0.7, 0.8)})
    assert joint_angles(bent, ["left_knee"])["left_knee"][0] == pytest.approx(135.0)
    wide = joint_angles(bent, ["left_knee"], aspect=16 / 9)["left_knee"][0]
    assert wide == pytest.approx(90.0 + np.degrees(np.arctan2(0.2, 0.2 * 16 / 9)))  # ~119, not 135
    vis = angle_visibility(_pose({}, visibility=0.9), ["left_knee"])
    assert vis["left_knee"][0] == pytest.approx(0.9)


def test_bad_input_is_named():
    with pytest.raises(PosenetError, match="unknown angle 'left_wrist'"):
        joint_angles(_pose({}), ["left_wrist"])
    with pytest.raises(PosenetError, match=r"shape \(N, 33, 4\)"):
        joint_angles(np.zeros((33, 4)))


def test_mirror_swaps_left_and_right_angles():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0.1, 0.9, (5, NUM_LANDMARKS, 4)).astype(np.float32)
    world = rng.normal(0, 0.5, (5, NUM_LANDMARKS, 3))
    for w in (None, world):
        plain = joint_angles(kp, world=w)
        seen = joint_angles(mirror_keypoints(kp), world=None if w is None else mirror_world(w))
        for name in JOINT_ANGLES:
            twin = name.replace("left_", "right_") if name.startswith("left_") else name.replace("right_", "left_")
            np.testing.assert_allclose(seen[name], plain[twin], atol=1e-3)
        np.testing.assert_allclose(seen[TRUNK_LEAN], plain[TRUNK_LEAN], atol=1e-3)
    np.testing.assert_allclose(mirror_keypoints(mirror_keypoints(kp)), kp, atol=1e-6)


@pytest.fixture(scope="module")
def photo_angles(yoga8) -> dict[str, list[tuple[dict, dict]]]:
    """Per class, 2D (pixel) and 3D (world) angles of the first photos that give a pose."""
    from posenet_cls.io.images import load_image
    from posenet_cls.pose.mediapipe_backend import PoseExtractor

    out: dict[str, list[tuple[dict, dict]]] = {}
    with PoseExtractor() as extractor:
        for cls in ("Downward_dog", "Vrukshasana", "Veerabhadrasana", "UtkataKonasana"):
            out[cls] = []
            for path in sorted(Path(yoga8 / cls).iterdir()):
                rgb = load_image(path)
                found = extractor.photo(rgb)
                if found.keypoints is None or found.world is None:
                    continue
                kp = found.keypoints[None]
                out[cls].append((joint_angles(kp, aspect=rgb.shape[1] / rgb.shape[0]),
                                 joint_angles(kp, world=found.world[None])))
                if len(out[cls]) == PHOTOS_EACH:
                    break
    return out


def test_angles_on_real_photos_are_plausible(photo_angles):
    for a2, _ in photo_angles["Downward_dog"]:  # hips folded, legs straight
        assert a2["left_hip"][0] < 110 and a2["right_hip"][0] < 110
        assert min(a2["left_knee"][0], a2["right_knee"][0]) > 150
    for a2, _ in photo_angles["Vrukshasana"]:  # tree: one knee strongly bent, the other straight
        knees = sorted([a2["left_knee"][0], a2["right_knee"][0]])
        assert knees[0] < 90 and knees[1] > 160
        assert a2[TRUNK_LEAN][0] < 20


def test_world_angles_agree_roughly_with_image_angles_on_frontal_photos(photo_angles):
    names = ["left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee"]
    diffs = np.array([abs(a2[n][0] - a3[n][0]) for cls in ("Veerabhadrasana", "UtkataKonasana")
                      for a2, a3 in photo_angles[cls] for n in names])
    assert np.median(diffs) < 12 and np.percentile(diffs, 90) < 35, np.round(diffs)

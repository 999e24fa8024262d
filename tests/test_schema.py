"""The landmark schema matches MediaPipe's and is internally consistent."""

import numpy as np

from posenet_cls.schema import (
    CHANNELS, LANDMARK_NAMES, LEFT_RIGHT_PAIRS, NUM_LANDMARKS, SKELETON_EDGES, Landmark, landmark_columns,
    mirror_permutation,
)


def test_names_and_order_match_mediapipe():
    import mediapipe as mp

    assert [lm.name for lm in mp.solutions.pose.PoseLandmark] == [lm.name for lm in Landmark]
    assert NUM_LANDMARKS == 33 and LANDMARK_NAMES[Landmark.LEFT_HIP] == "left_hip"


def test_skeleton_matches_mediapipe_connections():
    import mediapipe as mp

    ours = {tuple(sorted(int(i) for i in edge)) for edge in SKELETON_EDGES}
    assert ours == {tuple(sorted(edge)) for edge in mp.solutions.pose.POSE_CONNECTIONS}


def test_left_right_pairs_and_mirror_permutation():
    assert len(LEFT_RIGHT_PAIRS) == 16
    assert all(l.name.replace("LEFT", "RIGHT") == r.name for l, r in LEFT_RIGHT_PAIRS)
    perm = mirror_permutation()
    assert perm[Landmark.LEFT_WRIST] == Landmark.RIGHT_WRIST and perm[Landmark.NOSE] == Landmark.NOSE
    assert np.array_equal(perm[perm], np.arange(NUM_LANDMARKS))  # mirroring twice is the identity


def test_table_columns_name_every_channel():
    cols = landmark_columns()
    assert len(cols) == 33 * 4 and cols[:4] == [f"nose_{c}" for c in CHANNELS]
    assert cols[-1] == "right_foot_index_visibility"

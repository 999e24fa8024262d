"""Annotations never hide the person: the tag goes beside them, the status line in a free corner, text fits."""

from __future__ import annotations

import numpy as np
import pytest

from posenet_cls.infer.draw import TAG_LINES, _text_width, annotate, layout, person_box

TAG = ["UtkataKonasana 80%", "right knee 55 deg more bent", "squat reps: 1"]


@pytest.fixture(scope="module")
def squat_frames(videos):
    """(shape, keypoints) of every frame of the example squat clip, tracked by the real BlazePose."""
    from posenet_cls.io.video import VideoReader
    from posenet_cls.pose.mediapipe_backend import PoseExtractor

    out = []
    with VideoReader(videos / "squat_1rep.mp4") as video, PoseExtractor(tracking=True) as extractor:
        for _, t, rgb in video:
            found = extractor.frame(rgb, t)
            out.append((rgb.shape[:2], None if found is None else found[0]))
    return out


def test_tag_and_status_never_cover_the_lifter(squat_frames):
    posed = [(shape, kp) for shape, kp in squat_frames if kp is not None]
    assert len(posed) >= 70
    rng = np.random.default_rng(0)
    for shape, kp in posed:
        kp = kp.copy()
        kp[:, :2] += rng.normal(0, 2e-3, kp[:, :2].shape).astype(np.float32)  # twice the spread between CPUs
        lay = layout(shape, kp, TAG, "30 FPS")
        person = person_box(kp, shape)
        assert lay.tag_box.overlap(person) == 0 and lay.status_box.overlap(person) == 0
        assert (lay.tag_box.area + lay.status_box.area) < 0.1 * shape[0] * shape[1]  # the old banner: ~40%


def test_text_is_scaled_wrapped_and_the_label_kept_on_a_small_photo():
    hint = "left hip 62 deg more bent than usual for Vrukshasana, and much more text that cannot fit"
    lay = layout((275, 183), None, ["Vrukshasana 0.95", hint])
    assert lay.tag[0] == "Vrukshasana 0.95"  # the label is never shortened
    assert len(lay.tag) <= TAG_LINES and lay.tag[-1].endswith("...")
    assert all(_text_width(line, lay.font_scale, lay.thickness) <= 183 for line in lay.tag)
    assert (lay.tag_box.x0, lay.tag_box.y0) == (0, 0)  # no pose: the top-left corner
    big = layout((2160, 3840), None, ["x"])
    assert big.font_scale > 3 * lay.font_scale  # text follows the frame's size


def test_annotate_draws_translucent_boxes_and_leaves_the_input_alone(squat_frames):
    shape, kp = next((s, k) for s, k in squat_frames if k is not None)
    frame = np.full((*shape, 3), 200, np.uint8)
    out = annotate(frame, kp, TAG, status="30 FPS")
    assert (frame == 200).all() and out.shape == frame.shape
    lay = layout(shape, kp, TAG, "30 FPS")
    box = lay.tag_box
    region = out[box.y0:box.y1, box.x0:box.x1].astype(int)
    assert 0 < region.mean() < 200  # darkened, not painted over: the frame shows through
    assert (region > 30).mean() > 0.5

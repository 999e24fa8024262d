"""The novelty score behind "unknown" for poses never trained: numpy vs the ONNX graph, checkpoint, rules, left-out class."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from posenet_cls.training.checkpoint import load_checkpoint_full
from posenet_cls.errors import PosenetError
from posenet_cls.training.evaluate import leave_one_class_out
from posenet_cls.training.export import NOVELTY_TOLERANCE, export_run
from posenet_cls.features import mirror
from posenet_cls.training.novelty import (DEFAULT_QUANTILE, REFERENCE_YAWS, THRESHOLD_MARGIN, fit_novelty, joint_thresholds,
                                         novelty_features, novelty_scores, score, score_parts)
from posenet_cls.runtime import LOW_CONFIDENCE, NOVEL, UNKNOWN, PoseRuntime
from posenet_cls.data.splits import make_splits
from posenet_cls.training.train import IMAGE_FEATURES, TrainConfig, train_run


def _run(yoga8_csv, out: Path, config: TrainConfig) -> tuple[Path, Path, dict]:
    """A real training run on yoga8 (with its novelty model) and its ONNX export."""
    metrics = train_run(yoga8_csv, out / "run", config)
    export_run(out / "run", out / "model.onnx")
    return out / "run", out / "model.onnx", metrics


@pytest.fixture(scope="module")
def novelty_run(yoga8_csv, tmp_path_factory) -> tuple[Path, Path, dict]:
    """A model on the image view: its novelty score is measured in the image plane."""
    return _run(yoga8_csv, tmp_path_factory.mktemp("novelty"), TrainConfig(features=IMAGE_FEATURES))


@pytest.fixture(scope="module")
def world_run(yoga8_csv, tmp_path_factory) -> tuple[Path, Path, dict]:
    """A model on the world view (the default): its novelty score is measured in the world landmarks' body frame."""
    return _run(yoga8_csv, tmp_path_factory.mktemp("world"), TrainConfig())


def test_a_training_pose_is_not_novel_and_only_its_class_counts(yoga8_table):
    kp = yoga8_table.keypoints[:40]
    labels = np.searchsorted(yoga8_table.classes, yoga8_table.labels[:40].astype(str))
    ref = novelty_features(kp, 2.5)
    own = novelty_scores(ref, labels, ref, labels, k=1)
    assert np.abs(own).max() < 1e-6
    # Judged against another class's references only, the same poses are far away.
    other = novelty_scores(ref, (labels + 1) % 8, ref, labels, k=1)
    assert (other[np.isin((labels + 1) % 8, labels)] > 0.05).all()


def test_fit_needs_validation_poses_and_enough_training_poses(yoga8_table):
    kp, y = yoga8_table.keypoints[:20], np.zeros(20, np.int64)
    with pytest.raises(PosenetError, match="needs validation poses"):
        fit_novelty(kp, y, kp[:0], y[:0], 2.5)
    with pytest.raises(PosenetError, match="needs at least 3"):
        fit_novelty(kp[:2], y[:2], kp, y, 2.5)
    with pytest.raises(PosenetError, match="needs right answers among the calibration poses; there are none"):
        fit_novelty(kp, y, kp, y, 2.5, val_labels=y + 1)


def test_a_learned_space_with_a_layer_it_does_not_know_is_refused(yoga8_table):
    from posenet_cls.training.novelty import LearnedSpace

    space = LearnedSpace({"view": "offsets"}, [("relu", {})], np.zeros((1, 69)), np.zeros(1, np.int64), np.ones(1))
    with pytest.raises(PosenetError, match="novelty: unknown layer kind 'relu'"):
        space.embed(yoga8_table.keypoints[:2])


def test_graph_novelty_matches_numpy_on_real_poses(novelty_run, yoga8_table):
    run, onnx_path, _ = novelty_run
    _, _, novelty = load_checkpoint_full(run / "model.ckpt")
    runtime = PoseRuntime(onnx_path)
    probs, graph = runtime.scores(yoga8_table.keypoints)
    reference = score(novelty, yoga8_table.keypoints, probs.argmax(1))
    assert np.abs(graph - reference).max() < NOVELTY_TOLERANCE
    single_probs, single = runtime.pose_scores(yoga8_table.keypoints[7])
    assert abs(single - reference[7]) < NOVELTY_TOLERANCE and single_probs.argmax() == probs[7].argmax()
    # Mirrored poses are as familiar as the originals: the reference set holds the mirror images.
    _, mirrored = runtime.scores(mirror(yoga8_table.keypoints))
    assert np.median(mirrored) < 1.5 * np.median(graph) + 0.05
    assert runtime.scores(yoga8_table.keypoints[:0])[1].shape == (0,)


def test_threshold_travels_in_checkpoint_and_onnx_metadata(novelty_run):
    run, onnx_path, metrics = novelty_run
    _, meta, novelty = load_checkpoint_full(run / "model.ckpt")
    runtime = PoseRuntime(onnx_path)
    assert runtime.novelty_threshold == pytest.approx(novelty.threshold) == pytest.approx(meta["novelty"]["threshold"])
    assert runtime.metadata["novelty"]["quantile"] == DEFAULT_QUANTILE == 0.998 and novelty.threshold > 0
    assert runtime.metadata["novelty"]["margin"] == novelty.margin == THRESHOLD_MARGIN > 1
    assert metrics["novelty"]["test_accepted"] >= 0.85  # held-out poses of trained classes mostly stay known
    # every training pose, its mirror image and its copies turned by each reference yaw either way
    assert len(novelty.labels) == (2 + 2 * len(REFERENCE_YAWS)) * metrics["split"]["train"]
    assert tuple(meta["novelty"]["reference_yaws"]) == REFERENCE_YAWS == novelty.yaws


def test_threshold_is_the_quantile_of_right_answers_on_shifted_validation_poses(novelty_run, yoga8_table):
    run, _, _ = novelty_run
    model, _, novelty = load_checkpoint_full(run / "model.ckpt")
    split = make_splits(yoga8_table, 5, 0, "table")[0]
    from posenet_cls.training.train import calibration_poses, mlp_predict_proba

    labels = np.searchsorted(yoga8_table.classes, yoga8_table.labels[split.val].astype(str))
    poses, labels, _ = calibration_poses(yoga8_table.keypoints[split.val], labels, 0)
    assert len(poses) == 5 * len(split.val) and not np.allclose(poses[:len(split.val)], yoga8_table.keypoints[split.val])
    predicted = mlp_predict_proba(model, poses).argmax(1)
    right = predicted == labels
    scores = score(novelty, poses, predicted)[right]
    # Both scores (image plane, the MLP's last hidden layer) share the threshold; 99.8% of right answers stay under
    # both thresholds before the margin, all the more after it.
    assert novelty.learned is not None and novelty.learned.threshold > 0
    expected = joint_thresholds(score_parts(novelty, poses, predicted)[right], DEFAULT_QUANTILE) * THRESHOLD_MARGIN
    assert novelty.threshold == pytest.approx(expected[0], rel=1e-4)
    assert novelty.learned.threshold == pytest.approx(expected[1], rel=1e-4)
    assert float((scores <= novelty.threshold / THRESHOLD_MARGIN * (1 + 1e-6)).mean()) >= 0.998
    # A training pose turned by a reference yaw is as familiar as the pose itself (its turned copy is a reference).
    from posenet_cls.features import turn

    train = yoga8_table.keypoints[split.train[:30]]
    y = np.searchsorted(yoga8_table.classes, yoga8_table.labels[split.train[:30]].astype(str))
    turned = turn(train, np.full(30, REFERENCE_YAWS[-1]), np.zeros(30))
    assert np.median(score(novelty, turned, y)) <= 1.5 * np.median(score(novelty, train, y))
    assert (score(novelty, turned, y) < 0.5 * novelty.threshold).all()


def test_decide_names_why_a_pose_is_unknown(novelty_run, yoga8_table):
    _, onnx_path, _ = novelty_run
    runtime = PoseRuntime(onnx_path)
    probs, novelty = runtime.pose_scores(yoga8_table.keypoints[0])
    probs = probs.copy()
    known = runtime.decide(probs, 0.0, 0.0)
    assert known.label == known.best and known.reason is None and known.novelty == 0.0
    assert runtime.decide(probs, 1.01, 0.0).reason == LOW_CONFIDENCE
    novel = runtime.decide(probs, 0.0, runtime.novelty_threshold + 1.0)
    assert (novel.label, novel.reason, novel.best) == (UNKNOWN, NOVEL, known.best)
    assert runtime.classify(yoga8_table.keypoints[0]).novelty == pytest.approx(novelty)
    # A pose far from every training pose (joints scattered at random) is never given a class.
    scattered = np.random.default_rng(0).uniform(0.2, 0.8, (20, 33, 4)).astype(np.float32)
    scattered[..., 3] = 0.99
    assert all(p.label == UNKNOWN for p in runtime.classify_batch(scattered))


def test_predict_json_reports_novelty_and_reason(novelty_run, yoga8, tmp_path, capsys):
    from posenet_cls.cli import main

    _, onnx_path, _ = novelty_run
    folder = yoga8 / "Triangle"
    assert main(["predict", str(folder), "--model", str(onnx_path), "--json", "--no-annotate", "--workers", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    posed = [r for r in rows if r["status"] == "pose"]
    assert posed and all(isinstance(r["novelty"], float) for r in posed)
    assert all((r["unknown_reason"] is None) == (r["label"] != UNKNOWN) for r in posed)


def test_a_model_without_novelty_still_answers(yoga8_table, tmp_path):
    from posenet_cls.training.export import export_model
    from posenet_cls.training.models import PoseClassifier

    model = PoseClassifier(8).eval()
    path = tmp_path / "plain.onnx"
    export_model(model, [f"c{i}" for i in range(8)], model.features.to_dict(), path, yoga8_table.keypoints[:16])
    runtime = PoseRuntime(path)
    assert runtime.novelty_threshold is None
    assert runtime.classify(yoga8_table.keypoints[0]).novelty is None
    assert runtime.scores(yoga8_table.keypoints[:3])[1] is None


def test_left_out_class_is_called_unknown_while_known_poses_stay(yoga8_table):
    result = leave_one_class_out(yoga8_table, "Downward_dog", TrainConfig(), quantiles=(0.9,), margins=(1.0,))
    shipped, lower_quantile, no_margin = result["novelty"]
    assert (shipped["quantile"], shipped["margin"]) == (DEFAULT_QUANTILE, THRESHOLD_MARGIN)
    assert (lower_quantile["margin"], no_margin["quantile"], no_margin["margin"]) == (THRESHOLD_MARGIN, DEFAULT_QUANTILE, 1.0)
    # Lower thresholds call more poses unknown, known ones included.
    for lower in (lower_quantile, no_margin):
        assert lower["threshold"] < shipped["threshold"]
        assert lower["left_out_unknown"] >= shipped["left_out_unknown"]
        assert lower["known_accepted"] <= shipped["known_accepted"]
    # The probability threshold alone gives the unseen class a name far more often than the novelty rule does.
    assert shipped["left_out_unknown_both"] >= 0.6
    assert shipped["left_out_unknown_both"] > result["probability_only"]["left_out_unknown"]
    assert shipped["known_accepted_both"] >= 0.85
    with pytest.raises(PosenetError, match="not in the table"):
        leave_one_class_out(yoga8_table, "Plank", TrainConfig())


def test_export_without_novelty_is_readable_by_opencv(novelty_run, yoga8_table, tmp_path, capsys):
    import cv2

    from posenet_cls.cli import main

    run, _, _ = novelty_run
    path = tmp_path / "plain.onnx"
    assert main(["export", str(run), "-o", str(path), "--no-novelty"]) == 0
    runtime = PoseRuntime(path)
    assert runtime.novelty_threshold is None and "novelty" not in runtime.metadata
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(yoga8_table.keypoints[:8], "landmarks")
    assert np.abs(net.forward() - runtime.probabilities(yoga8_table.keypoints[:8])).max() < 1e-4


def test_novelty_export_is_one_plain_graph_and_its_head_a_second(novelty_run, yoga8_table, capfd):
    # No If, no flag, no initializer among the graph inputs (onnxruntime warned that it blocks constant
    # folding): probabilities() runs the classifier alone; the head is its own graph in the metadata.
    import onnx
    import onnxruntime as ort

    from posenet_cls.runtime import INPUT_NAME, NOVELTY_GRAPH_KEY, NOVELTY_OUTPUT, OUTPUT_NAME

    _, onnx_path, _ = novelty_run
    proto = onnx.load(str(onnx_path))
    assert [i.name for i in proto.graph.input] == [INPUT_NAME] and [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    assert not {i.name for i in proto.graph.input} & {init.name for init in proto.graph.initializer}
    assert "If" not in {n.op_type for n in proto.graph.node}
    head = onnx.load_from_string(__import__("base64").b64decode(
        next(e.value for e in proto.metadata_props if e.key == NOVELTY_GRAPH_KEY)))
    assert [i.name for i in head.graph.input] == [INPUT_NAME, OUTPUT_NAME] and head.graph.output[0].name == NOVELTY_OUTPUT
    options = ort.SessionOptions()
    options.log_severity_level = 1  # the older If form logs "Initializer with_novelty appears in graph inputs ..."
    capfd.readouterr()
    ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    assert "appears in graph inputs" not in capfd.readouterr().err
    runtime = PoseRuntime(onnx_path)
    assert runtime.probabilities(yoga8_table.keypoints[:3]).shape == (3, len(runtime.classes))
    assert not runtime._head_sessions or list(runtime._head_sessions) == [True]  # the batch head only when asked


def test_an_export_whose_novelty_misses_numpy_names_the_output_and_writes_nothing(novelty_run, tmp_path, monkeypatch):
    import posenet_cls.training.export as export

    run, _, _ = novelty_run
    monkeypatch.setattr(export, "NOVELTY_TOLERANCE", 0.0)  # any float32 round-off is over it
    out = tmp_path / "model.onnx"
    with pytest.raises(PosenetError, match=rf"^{re.escape(str(out))}: the graph's novelty differs from numpy's by .*; "
                                           "not written$"):
        export_run(run, out)
    assert list(tmp_path.iterdir()) == []


def test_a_world_model_measures_novelty_in_the_body_frame_from_any_side(world_run, yoga8_table):
    from posenet_cls.runtime import WORLD_NAME
    from posenet_cls.schema import mirror_world
    from posenet_cls.training.export import head_inputs

    run, onnx_path, metrics = world_run
    _, meta, novelty = load_checkpoint_full(run / "model.ckpt")
    assert novelty.space == "body" == meta["novelty"]["space"] and novelty.learned.reads_world
    assert len(novelty.labels) == 2 * metrics["split"]["train"]  # the training poses and their mirror images
    assert head_inputs(novelty)[1] == WORLD_NAME
    runtime = PoseRuntime(onnx_path)
    kp, world = yoga8_table.keypoints, yoga8_table.require_world("the test")
    probs, graph = runtime.scores(kp, world)
    reference = score(novelty, kp, probs.argmax(1), world)
    assert np.abs(graph - reference).max() < NOVELTY_TOLERANCE
    assert abs(runtime.pose_scores(kp[7], world[7])[1] - reference[7]) < NOVELTY_TOLERANCE
    # Seen from the other side (world x and z negated) a pose is exactly as familiar and keeps its label; in a
    # mirror (trained as mirror augmentation) nearly always; the image landmarks do not enter either score.
    p, s = runtime.scores(kp, world * np.array([-1, 1, -1], np.float32))
    assert (p.argmax(1) == probs.argmax(1)).all() and np.abs(s - graph).max() < 1e-3
    p, s = runtime.scores(kp, mirror_world(world))
    assert (p.argmax(1) == probs.argmax(1)).mean() > 0.97 and np.median(s) < 1.5 * np.median(graph) + 0.05
    scrambled = runtime.scores(kp[::-1].copy(), world)
    assert np.allclose(scrambled[1], graph, atol=1e-4)
    with pytest.raises(PosenetError, match="this model reads world landmarks too"):
        runtime.scores(kp[:3])


def test_the_shipped_model_calls_a_person_standing_or_in_a_plank_unknown(clips):
    """Poses of no yoga8 class from the example clips (never trained on): standing (the squat clip's frames with
    both knees over 150 degrees: before and after the rep) and a plank; landmarks moved as another CPU would move them change nothing."""
    from posenet_cls.coaching.angles import joint_angles
    from posenet_cls.infer.photos import load_model

    runtime = load_model()
    rng = np.random.default_rng(0)
    for name, least in (("squat_1rep", 0.8), ("plank_hold", 0.9)):
        kp = np.stack([k for _, k, _, _ in clips[name] if k is not None])
        world = np.stack([w for _, k, w, _ in clips[name] if k is not None])
        if name == "squat_1rep":
            knees = joint_angles(kp, ("left_knee", "right_knee"), world=world)
            standing = (knees["left_knee"] > 150) & (knees["right_knee"] > 150)
            assert standing.sum() >= 20
            kp, world = kp[standing], world[standing]
        for moved in (0.0, 2e-3):
            w = world + rng.normal(0, moved, world.shape).astype(np.float32)
            labels = [p.label for p in runtime.classify_batch(kp, world=w)]
            assert np.mean([label == UNKNOWN for label in labels]) >= least, (name, labels)

"""Real training on the real yoga8 keypoints: split, MLP and baselines, checkpoint, evaluation, CLI and bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from posenet_cls.training.checkpoint import load_checkpoint, save_checkpoint
from posenet_cls.cli import main
from posenet_cls.errors import PosenetError
from posenet_cls.training.evaluate import evaluate_run
from posenet_cls.features import FeatureConfig
from posenet_cls.training.models import PoseClassifier
from posenet_cls.schema import SCHEMA_VERSION
from posenet_cls.data.table import pose_row, write_table
from posenet_cls.data.splits import group_keys, make_splits
from posenet_cls.training.train import TrainConfig, cross_validate, fit_mlp, train_run

QUICK = TrainConfig(epochs=12, patience=100, batch_size=64)


@pytest.fixture(scope="module")
def mlp_run(yoga8_csv, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "mlp"
    return out, train_run(yoga8_csv, out, QUICK)


def _write_subset(table, index, path: Path) -> Path:
    rows = [pose_row(table.sources[i], table.labels[i], table.sha1[i], table.attempts[i], table.keypoints[i])
            for i in index]
    write_table(rows, path)
    return path


# --- split ----------------------------------------------------------------------------------------


def test_splits_are_stratified_disjoint_and_keep_identical_photos_together(yoga8_table):
    keys = group_keys(yoga8_table)
    assert len(set(keys)) < len(keys), "yoga8 has byte-identical photos; the test needs them"
    splits = make_splits(yoga8_table, folds=5, seed=0)
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(len(yoga8_table)))  # every pose tested exactly once
    for s in splits:
        parts = [set(keys[p]) for p in (s.train, s.val, s.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(s.train) + len(s.val) + len(s.test) == len(yoga8_table)
        assert set(yoga8_table.labels[s.test]) == set(yoga8_table.classes)
        assert set(yoga8_table.labels[s.val]) == set(yoga8_table.classes)
    again = make_splits(yoga8_table, folds=5, seed=0)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val) for a, b in zip(splits, again))
    other = make_splits(yoga8_table, folds=5, seed=1)
    assert not np.array_equal(splits[0].test, other[0].test)


# --- a real MLP run -------------------------------------------------------------------------------


def test_mlp_run_learns_yoga8_well_above_chance(mlp_run, yoga8_table):
    out, metrics = mlp_run
    chance = 1 / len(yoga8_table.classes)
    assert metrics["test"]["accuracy"] >= 0.8 > 5 * chance
    assert metrics["test"]["macro_f1"] >= 0.75
    assert metrics["baseline_svc"]["accuracy"] >= 0.8
    assert 0.7 <= metrics["agreement_mlp_svc"] <= 1.0
    assert set(metrics["test"]["per_class"]) == set(yoga8_table.classes)
    assert np.sum(metrics["test"]["confusion"]) == metrics["split"]["test"]
    for name in ("model.ckpt", "baseline_svc.joblib", "split.json", "metrics.json", "confusion.png", "curves.png"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text())["test"] == metrics["test"]
    split = json.loads((out / "split.json").read_text())
    assert len(split["test"]) == metrics["split"]["test"] and split["seed"] == 0


def test_checkpoint_carries_everything_and_loads_weights_only(mlp_run, yoga8_table):
    out, metrics = mlp_run
    model, meta = load_checkpoint(out / "model.ckpt")
    assert meta["classes"] == yoga8_table.classes
    assert meta["schema_version"] == SCHEMA_VERSION and meta["model"] == "mlp"
    assert FeatureConfig.from_dict(meta["features"]) == QUICK.features
    assert meta["model_args"] == {"hidden": list(QUICK.hidden), "dropout": QUICK.dropout}
    raw = torch.load(out / "model.ckpt", weights_only=True)  # no pickled code inside
    assert set(raw) >= {"meta", "state_dict"}
    # The loaded model reproduces the run's test accuracy on the test photos of split.json.
    split = json.loads((out / "split.json").read_text())
    index = {s: i for i, s in enumerate(yoga8_table.sources)}
    test = np.array([index[r["source"]] for r in split["test"]])
    with torch.no_grad():
        pred = model(torch.from_numpy(yoga8_table.keypoints[test]), torch.from_numpy(yoga8_table.world[test])).argmax(1).numpy()
    truth = np.searchsorted(np.array(meta["classes"]), yoga8_table.labels[test].astype(str))
    assert np.mean(pred == truth) == pytest.approx(metrics["test"]["accuracy"])


def test_checkpoint_round_trip_gives_identical_outputs(mlp_run, yoga8_table, tmp_path):
    model, meta = load_checkpoint(mlp_run[0] / "model.ckpt")
    save_checkpoint(tmp_path / "copy.ckpt", model, meta)
    again, meta2 = load_checkpoint(tmp_path / "copy.ckpt")
    x, w = torch.from_numpy(yoga8_table.keypoints[:20]), torch.from_numpy(yoga8_table.world[:20])
    with torch.no_grad():
        assert torch.equal(model(x, w), again(x, w))
    with pytest.raises(PosenetError, match=r"this model reads world landmarks \(N, 33, 3\) too; none were given"):
        model(x)
    assert meta2 == meta


def test_checkpoint_of_another_schema_is_refused(mlp_run, tmp_path):
    model, meta = load_checkpoint(mlp_run[0] / "model.ckpt")
    blob = torch.load(mlp_run[0] / "model.ckpt", weights_only=True)
    blob["meta"]["schema_version"] = SCHEMA_VERSION + 1
    torch.save(blob, tmp_path / "future.ckpt")
    with pytest.raises(PosenetError, match=rf"future.ckpt: made for landmark schema version {SCHEMA_VERSION + 1}"):
        load_checkpoint(tmp_path / "future.ckpt")
    with pytest.raises(PosenetError, match="3 class names for a model with 8 outputs"):
        save_checkpoint(tmp_path / "bad.ckpt", model, {**meta, "classes": ["a", "b", "c"]})
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(PosenetError, match="junk.ckpt: not a readable posenet-cls checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")


def test_evaluate_run_scores_only_unseen_photos_and_compares_with_the_svc(mlp_run):
    out, metrics = mlp_run
    result = evaluate_run(out)
    assert result["evaluated"] == metrics["split"]["test"]
    assert result["skipped_seen_in_training"] == metrics["split"]["train"] + metrics["split"]["val"]
    assert result["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert result["agreement_mlp_svc"] == pytest.approx(metrics["agreement_mlp_svc"])
    assert (out / "evaluation" / "poses" / "confusion.png").is_file()


def test_training_is_deterministic_for_a_seed(yoga8_table):
    split = make_splits(yoga8_table, folds=5, seed=3)[1]
    cfg = replace(QUICK, epochs=3, seed=3)
    a = fit_mlp(yoga8_table, split, yoga8_table.classes, cfg)
    b = fit_mlp(yoga8_table, split, yoga8_table.classes, cfg)
    assert a.history == b.history
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k


def test_cross_validation_of_the_baselines(yoga8_table):
    cv = cross_validate(yoga8_table, TrainConfig(folds=3), ("svc", "svc-poly", "knn"))
    for name, summary in cv["models"].items():
        assert len(summary["folds"]) == 3
        assert summary["accuracy"]["mean"] >= 0.85, name
        assert np.sum(summary["confusion"]) == len(yoga8_table)
    # Only the article's raw-coordinate SVC has never seen a mirrored pose.
    assert cv["models"]["svc-poly"]["robustness"]["mirrored"]["mean"] < cv["models"]["svc"]["robustness"]["mirrored"]["mean"]


# --- the commands and bad input -------------------------------------------------------------------


def test_train_and_evaluate_commands_for_a_baseline(yoga8_csv, tmp_path, capsys):
    out = tmp_path / "knn"
    assert main(["train", str(yoga8_csv), "--model", "knn", "-o", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == "knn" and metrics["test"]["accuracy"] >= 0.85
    assert (out / "model.joblib").is_file() and (out / "confusion.png").is_file()
    assert main(["evaluate", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert "agreement_mlp_svc" not in result


def test_train_cv_command_writes_cv_json(yoga8_csv, tmp_path, capsys):
    out = tmp_path / "svc-cv"
    assert main(["train", str(yoga8_csv), "--model", "svc", "--cv", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "svc, 3-fold CV on 482 poses: accuracy" in text
    cv = json.loads((out / "cv.json").read_text())
    assert len(cv["models"]["svc"]["folds"]) == 3 and (out / "cv_confusion.png").is_file()


def test_unknown_model_name_is_a_clear_error(yoga8_csv, tmp_path, capsys):
    assert main(["train", str(yoga8_csv), "--model", "resnet", "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "posenet-cls train: error: unknown model 'resnet' (choose from mlp, svc, svc-poly, knn, softvote, logreg)" in err
    assert not (tmp_path / "x").exists()


def test_the_recipe_before_issue_15_trains_from_the_command_line(yoga8_csv, tmp_path, capsys):
    out = tmp_path / "old"
    argv = ["train", str(yoga8_csv), "--features", "landmarks", "--turn", "0", "0", "--limbs", "0", "--epochs", "3"]
    assert main(argv + ["-o", str(out), "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert config["features"]["view"] == "landmarks" and config["features"]["use_visibility"]
    assert (config["augment"]["yaw_deg"], config["augment"]["pitch_deg"], config["augment"]["limbs"]) == (0, 0, 0)
    _, meta = load_checkpoint(out / "model.ckpt")
    assert meta["features"]["view"] == "landmarks"
    assert main(["train", str(yoga8_csv), "--turn", "-5", "20", "-o", str(tmp_path / "x")]) == 1
    assert "posenet-cls train: error: --turn YAW must be at least 0, got -5" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_batchnorm_trains_exports_and_predicts_from_the_command_line(yoga8_csv, yoga8_table, tmp_path, capsys):
    import onnx

    from posenet_cls.runtime import PoseRuntime

    out, model = tmp_path / "bn", tmp_path / "bn.onnx"
    assert main(["train", str(yoga8_csv), "--norm", "batch", "--epochs", "5", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["norm"] == "batch"
    assert main(["export", str(out), "-o", str(model)]) == 0
    capsys.readouterr()
    assert not {n.op_type for n in onnx.load(str(model)).graph.node} & {"BatchNormalization", "LayerNormalization"}
    runtime = PoseRuntime(model)
    assert runtime.novelty_threshold is not None  # the novelty head's hidden layers have the BatchNorm folded in
    labels = np.searchsorted(runtime.classes, yoga8_table.labels)
    assert (runtime.probabilities(yoga8_table.keypoints, yoga8_table.world).argmax(1) == labels).mean() > 0.6
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(yoga8_csv), "--norm", "group", "-o", str(tmp_path / "x")])
    assert exit_.value.code == 2 and "invalid choice: 'group'" in capsys.readouterr().err


def test_bad_hidden_sizes_are_a_clear_error(yoga8_csv, tmp_path, capsys):
    assert main(["train", str(yoga8_csv), "--hidden", "64", "0", "-o", str(tmp_path / "x")]) == 1
    assert "posenet-cls train: error: --hidden sizes must be positive integers, got [64, 0]" in capsys.readouterr().err


def test_table_with_one_class_is_a_clear_error(yoga8_table, tmp_path):
    one = _write_subset(yoga8_table, np.nonzero(yoga8_table.labels == "Triangle")[0], tmp_path / "one.csv")
    with pytest.raises(PosenetError, match=r"one.csv: only one class \('Triangle'\); a classifier needs at least two"):
        train_run(one, tmp_path / "run", QUICK)


def test_class_too_small_for_the_folds_is_a_clear_error(yoga8_table, tmp_path):
    index = np.concatenate([np.nonzero(yoga8_table.labels == "Triangle")[0],
                            np.nonzero(yoga8_table.labels == "Natarajasana")[0][:3]])
    small = _write_subset(yoga8_table, index, tmp_path / "small.csv")
    with pytest.raises(PosenetError, match="class 'Natarajasana' has 3 pose\\(s\\); a 5-fold split needs at least 5"):
        train_run(small, tmp_path / "run", replace(QUICK, model="svc"))


def test_table_with_a_mismatched_schema_is_a_clear_error(yoga8_csv, tmp_path, capsys):
    lines = Path(yoga8_csv).read_text().splitlines()
    header = lines[0].split(",")
    cut = [i for i, c in enumerate(header) if not c.startswith("right_foot_index_")]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(",".join(line.split(",")[i] for i in cut) for line in lines[:5]) + "\n")
    assert main(["train", str(bad), "-o", str(tmp_path / "run")]) == 1
    assert "bad.csv: 4 landmark/meta column(s) missing, first 'right_foot_index_x'" in capsys.readouterr().err


def test_evaluate_on_a_table_with_unknown_labels_is_a_clear_error(mlp_run, yoga8_table, tmp_path):
    other = yoga8_table.subset(np.arange(10))
    other.labels[:] = "Plank"
    path = _write_subset(other, np.arange(10), tmp_path / "plank.csv")
    with pytest.raises(PosenetError, match=r"plank.csv: label 'Plank' is not one of the model's classes"):
        evaluate_run(mlp_run[0], path)
    with pytest.raises(PosenetError, match="no model.ckpt or model.joblib"):
        evaluate_run(tmp_path)


def test_classifier_needs_raw_landmarks_and_returns_logits():
    model = PoseClassifier(3)
    assert model(torch.zeros(4, 33, 4)).shape == (4, 3)
    assert torch.isfinite(model(torch.zeros(4, 33, 4))).all()


def test_an_ensemble_trains_its_members_and_its_checkpoint_round_trips(yoga8_table, tmp_path):
    from posenet_cls.data.splits import make_splits
    from posenet_cls.features import mirror
    from posenet_cls.training.checkpoint import load_checkpoint, model_meta, save_checkpoint
    from posenet_cls.training.train import TrainConfig, fit_mlp, mlp_predict_proba

    config = TrainConfig(epochs=3, members=(FeatureConfig(view="offsets"), FeatureConfig(use_z=False, use_visibility=False)),
                         mirror_average=True)
    split = make_splits(yoga8_table, 5, 0, "t")[0]
    fit = fit_mlp(yoga8_table, split, yoga8_table.classes, config)
    poses = yoga8_table.keypoints[split.test]
    probs = mlp_predict_proba(fit.model, poses)
    assert len(fit.model.mlps) == 2 and (probs.argmax(1) == np.searchsorted(yoga8_table.classes, yoga8_table.labels[split.test])).mean() > 0.5
    np.testing.assert_allclose(mlp_predict_proba(fit.model, mirror(poses)), probs, atol=1e-5)
    save_checkpoint(tmp_path / "e.ckpt", fit.model, model_meta(fit.model, yoga8_table.classes))
    loaded, meta = load_checkpoint(tmp_path / "e.ckpt")
    assert meta["model_args"]["mirror_average"] and len(meta["model_args"]["members"]) == 2
    np.testing.assert_array_equal(mlp_predict_proba(loaded, poses), probs)


def test_batchnorm_trains_with_a_last_batch_of_one_and_round_trips(yoga8_table, tmp_path):
    from posenet_cls.training.checkpoint import model_meta
    from posenet_cls.training.models.mlp import eval_layers
    from posenet_cls.training.train import hidden_layers, mlp_predict_proba

    split = make_splits(yoga8_table, 5, 0, "t")[0]
    config = TrainConfig(epochs=3, norm="batch")
    assert len(split.train) % config.batch_size == 1  # the last batch has one pose, which BatchNorm cannot train on
    fit = fit_mlp(yoga8_table, split, yoga8_table.classes, config)
    net = fit.model.mlps[0].net
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in net)
    layers = eval_layers(net)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.Dropout)) for m in layers)
    assert fit.model.reads_world  # the default view
    world = yoga8_table.world[split.test]
    features = fit.model.normalizers[0](torch.from_numpy(world))
    with torch.no_grad():
        np.testing.assert_allclose(torch.nn.Sequential(*layers)(features).numpy(), net(features).numpy(), atol=1e-5)
    assert [kind for kind, _ in hidden_layers(fit.model)[1]] == ["linear", "gelu", "linear", "gelu"]
    save_checkpoint(tmp_path / "b.ckpt", fit.model, model_meta(fit.model, yoga8_table.classes))
    loaded, meta = load_checkpoint(tmp_path / "b.ckpt")
    assert meta["model_args"]["norm"] == "batch"
    poses = yoga8_table.keypoints[split.test]
    np.testing.assert_array_equal(mlp_predict_proba(loaded, poses, world), mlp_predict_proba(fit.model, poses, world))
    with pytest.raises(PosenetError, match="--norm must be one of layer, batch, none, got 'group'"):
        TrainConfig(norm="group").check()
    with pytest.raises(PosenetError, match="--outliers must be at least 0, got -1"):
        TrainConfig(outliers=-1.0).check()
    assert TrainConfig().outlier_share == 1.0 and TrainConfig(features=FeatureConfig(view="offsets")).outlier_share == 0
    with pytest.raises(PosenetError, match=r"unknown norm 'group' \(choose from layer, batch, none\)"):
        PoseClassifier(3, norm="group")  # e.g. a checkpoint whose model_args were edited


def test_an_unknown_baseline_is_one_domain_error():
    from posenet_cls.training.models.baselines import make_baseline

    with pytest.raises(PosenetError, match="unknown baseline model 'svm'; choose from svc, svc-poly, knn, softvote"):
        make_baseline("svm", FeatureConfig())

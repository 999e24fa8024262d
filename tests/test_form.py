"""Form checks: each kind on the real clips (faults made from real landmarks), exercise mode's tag, text and JSON,
photos with --exercise, and the exercise file's check errors."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from posenet_cls.cli import main
from posenet_cls.coaching.exercises import BUILTIN, Exercise, ExerciseTracker, exercise_photo, load_exercises
from posenet_cls.coaching.form import FormCheck, body_line, lower_hips, shallow
from posenet_cls.errors import PosenetError

NOISE = 1e-3  # normalised units: the size of landmark differences between CPUs


def _run(frames, exercise: Exercise, change=None, noise: float = 0.0, seed: int = 0, slow: float = 1.0) -> dict:
    """The exercise's summary; ``change(kp, aspect, t)`` makes a fault, ``noise`` jitters x and y, ``slow`` stretches time."""
    rng = np.random.default_rng(seed)
    tracker = ExerciseTracker(exercise)
    for t, kp, world, aspect in frames:
        if kp is not None:
            kp = kp if change is None else change(kp, aspect, t)
            if noise:
                kp = kp.copy()
                kp[:, :2] += rng.normal(0, noise, (kp.shape[0], 2)).astype(np.float32)
        tracker.update(t * slow, kp, world, aspect)
    return tracker.summary()


def _with(exercise: Exercise, *checks: FormCheck) -> Exercise:
    return replace(exercise, checks=checks)


# ---------------------------------------------------------------------------------------------
# Each check kind on real landmarks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["squat_1rep", "squat_1rep_head_cut"])
def test_depth_flags_a_shallow_squat_made_from_the_real_one(clips, name):
    squat = BUILTIN["squat"]
    real = _run(clips[name], squat)
    (rep,) = real["rep_log"]
    assert rep["faults"] == [] and rep["checks"]["depth"] < 100 and real["form"]["clean_reps"] == 1
    factor = (180 - 105) / (180 - rep["checks"]["depth"])  # the deepest frame then reads about 105 deg

    def shallower(kp, aspect, t):
        return shallow(kp, factor, aspect)

    for seed in range(3):  # clean, then noise of the size seen between CPUs
        noise = NOISE if seed else 0.0
        assert _run(clips[name], squat, noise=noise, seed=seed)["rep_log"][0]["faults"] == []
        made = _run(clips[name], squat, shallower, noise, seed)
        assert made["reps"] == 1, made  # still counted (under the preset's 115), but not deep
        assert "depth" in made["rep_log"][0]["faults"] and 100 < made["rep_log"][0]["checks"]["depth"] < 115
        assert made["form"]["clean_reps"] == 0 and made["form"]["most_common_fault"] == "depth"


def test_body_line_flags_a_sagging_plank_made_from_the_real_one(clips):
    plank = BUILTIN["plank"]
    for seed in range(3):
        noise = NOISE if seed else 0.0
        real = _run(clips["plank_hold"], plank, noise=noise, seed=seed)["holds"]
        assert real["longest_hold_s"] > 2.5 and real["holds"][0]["faults"] == [], real
        sag = _run(clips["plank_hold"], plank, lambda kp, a, t: lower_hips(kp, 30, a), noise, seed)["holds"]
        assert sag["longest_hold_s"] > 2.5 and sag["holds"][0]["faults"] == ["sag"], sag
        assert sag["holds"][0]["checks"]["sag"][1] > 15 > real["holds"][0]["checks"]["sag"][1]
    piked = _run(clips["plank_hold"], plank, lambda kp, a, t: lower_hips(kp, -20, a))["holds"]  # hips raised
    assert piked["holds"] and all(h["faults"] == ["pike"] for h in piked["holds"]), piked


def test_body_line_sign_on_a_synthetic_line():
    pose = np.zeros((1, 33, 2))
    from posenet_cls.coaching.form import LINES

    s, h, a = LINES["left_body_line"]
    pose[0, s], pose[0, a] = (0.0, 0.5), (1.0, 0.5)
    for y, sign in ((0.6, 1), (0.4, -1), (0.5, 0)):  # y points down: below the line is a sag
        pose[0, h] = (0.5, y)
        value = body_line(pose, "left_body_line")[0]
        assert np.sign(round(value, 6)) == sign and (sign == 0 or abs(value) > 20)


def test_top_reads_the_standing_knee_before_the_rep(clips):
    standing = _run(clips["squat_1rep"], _with(BUILTIN["squat"], FormCheck("top", "top", "stand tall", "knee", low=150)))
    (rep,) = standing["rep_log"]
    assert 150 < rep["checks"]["top"] < 185 and rep["faults"] == []
    strict = _with(BUILTIN["squat"], FormCheck("top", "top", "stand tall", "knee", low=rep["checks"]["top"] + 3))
    assert _run(clips["squat_1rep"], strict)["rep_log"][0]["faults"] == ["top"]


def test_asymmetry_flags_one_shallow_leg(clips):
    even = _with(BUILTIN["squat"], FormCheck("even", "asymmetry", "both knees alike", "knee", high=25))
    (real,) = _run(clips["squat_1rep"], even)["rep_log"]  # a front view: both knees seen
    assert real["checks"]["even"] < 25 and real["faults"] == []
    one = _run(clips["squat_1rep"], even, lambda kp, a, t: shallow(kp, 0.5, a, legs=("right",)))["rep_log"]
    assert one and one[0]["checks"]["even"] > 25 and one[0]["faults"] == ["even"]


def test_tempo_reads_the_rep_time(clips):
    squat = BUILTIN["squat"]
    (rep,) = _run(clips["squat_1rep"], squat)["rep_log"]
    assert rep["checks"]["tempo"] == pytest.approx(rep["end_s"] - rep["start_s"], abs=0.01) and rep["faults"] == []
    slow = _with(squat, FormCheck("tempo", "tempo", "slower", phase="rep", low=rep["checks"]["tempo"] * 1.5))
    assert _run(clips["squat_1rep"], slow)["rep_log"][0]["faults"] == ["tempo"]
    assert _run(clips["squat_1rep"], slow, slow=2.0)["rep_log"][0]["faults"] == []  # the same squat, half as fast


# ---------------------------------------------------------------------------------------------
# Exercise mode: the tag, the text and the JSON speak about the exercise
# ---------------------------------------------------------------------------------------------


def _cli(argv: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


def test_exercise_mode_json_has_form_and_no_class_hints(videos, tmp_path):
    clip = str(videos / "squat_1rep.mp4")
    plain = [json.loads(line) for line in _cli(["predict", clip, "--json", "--no-annotate"]).splitlines()]
    assert any(f.get("hints") for f in plain[:-1])  # the class profile has hints for this clip without an exercise
    lines = [json.loads(line) for line in _cli(["predict", clip, "--exercise", "squat", "--json", "--no-annotate"])
             .splitlines()]
    frames, summary = lines[:-1], lines[-1]
    assert not any(f.get("hints") for f in frames)  # yoga-profile hints say nothing about a squat
    assert all("label" in f and "phase" in f for f in frames)  # the class stays in the JSON
    assert {f["phase"] for f in frames} >= {"up", "down"}
    shown = [f["form"] for f in frames if "form" in f]
    assert shown and all(f == shown[0] for f in shown) and shown[0]["rep"] == 1 and shown[0]["faults"] == []
    assert frames[-1]["form"] == shown[0]  # the clip ends under a second after its rep: the verdict is still up
    (rep,) = summary["rep_log"]
    assert set(rep["checks"]) == {"depth", "tempo"} and rep["faults"] == []
    assert summary["form"]["clean_reps"] == 1 and summary["form"]["most_common_fault"] is None
    assert summary["show_class"] is False and summary["segments"]


def test_exercise_mode_text_and_tag(videos, clips):
    from posenet_cls.infer.photos import load_model
    from posenet_cls.infer.stream import PersonSession, StreamConfig, overlay_lines

    out = _cli(["predict", str(videos / "squat_1rep.mp4"), "--exercise", "squat", "--no-annotate"])
    assert "squat: 1 rep(s), 1 clean" in out and "good form" in out and "UtkataKonasana" not in out
    shown = _cli(["predict", str(videos / "squat_1rep.mp4"), "--exercise", "squat", "--no-annotate", "--show-class"])
    assert "UtkataKonasana" in shown  # the pose segments, asked for
    runtime = load_model()
    frames = clips["squat_1rep"]
    t_end, last = frames[-1][0], frames[-1][1:]
    frames = frames + [(t_end + (i + 1) / 30, *last) for i in range(45)]  # standing on for 1.5 s
    for show_class in (None, True):
        session = PersonSession(runtime, StreamConfig(exercise=BUILTIN["squat"], show_class=show_class))
        results = [session.update(i, t, kp, world, aspect) for i, (t, kp, world, aspect) in enumerate(frames)]
        tags = [overlay_lines(r) for r in results]
        assert all(t[0].startswith("squat: ") for t in tags)
        assert any(t[0] == "squat: 1 rep, up" and "rep 1: good form" in t for t in tags)
        labels = [t for t in tags if any(line.startswith(("UtkataKonasana", "unknown")) for line in t)]
        assert (labels != []) == bool(show_class), tags[40]
        assert not any("deg" in line for t in tags for line in t)  # no class-profile hint under an exercise
        with_form = [r.timestamp_s for r in results if r.form is not None]
        assert 0.95 <= with_form[-1] - with_form[0] <= 1.0 + 1e-6 and results[-1].form is None  # up for a second after the rep
        plain = PersonSession(runtime, StreamConfig())  # without an exercise, the same frames get the class's hints
        assert any(plain.update(i, t, kp, world, aspect).hints for i, (t, kp, world, aspect) in enumerate(frames))


def test_photos_speak_about_the_exercise(videos, tmp_path, cli_json, capsys):
    import cv2

    for name, index in (("squat_1rep", 31), ("plank_hold", 45)):
        video = cv2.VideoCapture(str(videos / f"{name}.mp4"))
        video.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = video.read()
        assert ok
        cv2.imwrite(str(tmp_path / f"{name}.png"), frame)
    squat = cli_json(["predict", str(tmp_path / "squat_1rep.png"), "--exercise", "squat", "--json", "--no-annotate"])[0]
    assert squat["label"] and squat["hints"] == []  # the class stays; its profile's hints do not
    assert squat["exercise"]["phase"] == "down" and set(squat["exercise"]["values"]) == {"depth"}
    plank = cli_json(["predict", str(tmp_path / "plank_hold.png"), "--exercise", "plank", "--json", "--no-annotate"])[0]
    assert plank["exercise"]["phase"] == "holding" and plank["exercise"]["faults"] == []
    standing = cli_json(["predict", str(tmp_path / "squat_1rep.png"), "--exercise", "plank", "--json",
                         "--no-annotate"])[0]
    assert standing["exercise"]["phase"] is None and standing["exercise"]["values"] == {}  # not in position: no verdict
    text = _cli(["predict", str(tmp_path / "squat_1rep.png"), "--exercise", "squat", "-o", str(tmp_path / "out")])
    assert "squat_1rep.png: squat: down, good form" in text and "UtkataKonasana" not in text
    assert main(["predict", str(tmp_path / "squat_1rep.png"), "--exercise", "auto"]) == 1
    assert "--exercise auto is for videos and webcams" in capsys.readouterr().err


def test_exercise_photo_is_the_one_frame_case(clips):
    _, kp, world, aspect = clips["plank_hold"][45]
    good = exercise_photo(BUILTIN["plank"], kp, world, aspect)
    bad = exercise_photo(BUILTIN["plank"], lower_hips(kp, 30, aspect), world, aspect)
    assert good["phase"] == bad["phase"] == "holding"
    assert good["faults"] == [] and bad["faults"] == ["sag"] and bad["messages"] == ["hips sagging: keep them in line"]


# ---------------------------------------------------------------------------------------------
# The exercise file's checks
# ---------------------------------------------------------------------------------------------

GOOD = """
[deep-squat]
angle = "knee"
up = 160
down = 95

[deep-squat.checks.depth]
kind = "bottom"
angle = "knee"
max = 80
message = "deeper"

[deep-squat.checks.tempo]
kind = "tempo"
phase = "down"
min = 0.2
message = "pause at the bottom"

[hollow-hold]
kind = "hold"
hold = { hip = [150, 180] }
checks = { line = { kind = "range", angle = "body_line", min = -10, max = 10, message = "keep a straight line" } }
"""


def test_checks_from_a_file(tmp_path, clips):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    found = load_exercises(path)
    squat = found["deep-squat"]
    assert [c.kind for c in squat.checks] == ["bottom", "tempo"] and squat.checks[0].high == 80
    assert found["hollow-hold"].checks[0] == FormCheck("line", "range", "keep a straight line", "body_line",
                                                       None, -10.0, 10.0)
    (rep,) = _run(clips["squat_1rep"], squat)["rep_log"]
    assert rep["checks"]["depth"] < 80 and set(rep["checks"]) == {"depth", "tempo"}


@pytest.mark.parametrize("checks, message", [
    ('[x.checks.depth]\nkind = "deepest"\nangle = "knee"\nmax = 90\nmessage = "m"', "x.checks.depth.kind: must be one of"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "kne"\nmax = 90\nmessage = "m"', "x.checks.depth.angle: unknown angle 'kne'"),
    ('[x.checks.depth]\nkind = "bottom"\nmax = 90\nmessage = "m"', "x.checks.depth.angle: missing"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "knee"\nmessage = "m"', "x.checks.depth.min: missing; a check needs min, max"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "knee"\nmin = 90\nmax = 80\nmessage = "m"', "x.checks.depth.min: must be under max"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "knee"\nmax = "90"\nmessage = "m"', "x.checks.depth.max: must be a number"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "knee"\nmax = 90', "x.checks.depth.message: missing"),
    ('[x.checks.depth]\nkind = "bottom"\nangle = "knee"\nmax = 90\nmessage = "m"\nlimit = 3', "x.checks.depth.limit: unknown key"),
    ('[x.checks.speed]\nkind = "tempo"\nphase = "sideways"\nmin = 1\nmessage = "m"', "x.checks.speed.phase: must be one of down, up, rep"),
    ('[x.checks.even]\nkind = "asymmetry"\nangle = "trunk_lean"\nmax = 9\nmessage = "m"', "x.checks.even.angle: an asymmetry check needs"),
    ('[x.checks]\ndepth = 3', "x.checks.depth: must be a table"),
])
def test_bad_checks_name_the_file_and_key(tmp_path, checks, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'[x]\nangle = "knee"\nup = 150\ndown = 100\n\n{checks}\n')
    with pytest.raises(PosenetError) as err:
        load_exercises(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value), str(err.value)


def test_a_hold_takes_range_checks_only(tmp_path, capsys, videos):
    path = tmp_path / "bad.toml"
    path.write_text('[wall]\nkind = "hold"\nhold = { knee = [80, 110] }\n'
                    '[wall.checks.deep]\nkind = "bottom"\nangle = "knee"\nmax = 90\nmessage = "m"\n')
    assert main(["predict", str(videos / "squat_1rep.mp4"), "--exercises", str(path), "--exercise", "wall"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}: wall.checks.deep.kind: a hold has no reps" in err, err


def test_list_exercises_shows_the_checks(capsys):
    assert main(["predict", "--list-exercises"]) == 0
    out = capsys.readouterr().out
    assert "check depth: knee at the bottom <= 100" in out and "check sag: body_line throughout <= 15" in out

"""Form hints: how a pose's joint angles differ from its class's usual ones.

A class's reference profile is, per named 2D joint angle (:data:`posenet_cls.coaching.angles.ANGLE_NAMES`),
the median and a robust spread (the interquartile range / 1.349, a normal sigma, floored at
:data:`MIN_SPREAD` degrees) over the training poses of that class where the angle's landmarks are
visible. It is stored with the model (checkpoint meta and the ONNX metadata's ``angle_profile``).

The profile is measured on the table's normalised landmarks (aspect 1.0: keypoint tables do not
record photo sizes), so :func:`form_hints` must be called in the same space; predict passes
``aspect=1.0`` (the profile's recorded ``aspect``).
"""

from __future__ import annotations

import numpy as np

from posenet_cls.coaching.angles import ANGLE_NAMES, TRUNK_LEAN, angle_visibility, joint_angles

MIN_SPREAD = 5.0  # degrees: the smallest spread a class's angle may have
MIN_POSES = 5  # an angle needs this many visible training poses of a class to be profiled
MIN_VISIBILITY = 0.5
THRESHOLD = 1.5  # hints only for angles more than this many spreads from the class median
PROFILE_VERSION = 2  # 2: sided (each training pose taken with its more bent leg on the left)
SIDE_MARGIN = 10.0  # degrees: legs that bend more alike than this keep their side


def mirrored_name(name: str) -> str:
    """The same angle on the other side of the body (``left_knee`` <-> ``right_knee``; ``trunk_lean`` stays)."""
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def _deviation(values: dict[str, np.ndarray], seen: dict[str, np.ndarray], ref: dict) -> np.ndarray:
    """Per pose, the mean |difference| / spread over the profiled angles it shows (inf where it shows none)."""
    total = np.zeros(len(next(iter(values.values()))))
    count = np.zeros_like(total)
    for name, r in ref.items():
        ok = seen[name] & np.isfinite(values[name])
        total += np.where(ok, np.abs(values[name] - r["median"]) / max(r["spread"], MIN_SPREAD), 0.0)
        count += ok
    return np.where(count > 0, total / np.maximum(count, 1), np.inf)


def canonical_flip(angles: dict[str, np.ndarray]) -> np.ndarray:
    """Which poses to swap left and right so that the more bent leg is the left one (knees first, then hips).

    A rule of the pose alone, so small landmark noise cannot swap an asymmetric pose; a pose whose legs
    bend alike (within SIDE_MARGIN degrees) stays as it is.
    """
    lean = (angles["left_knee"] - angles["right_knee"]) + 0.5 * (angles["left_hip"] - angles["right_hip"])
    return np.nan_to_num(lean, nan=0.0) > SIDE_MARGIN


def _class_profile(values: dict[str, np.ndarray], seen: dict[str, np.ndarray]) -> dict:
    entry = {}
    for name in ANGLE_NAMES:
        v = values[name][seen[name] & np.isfinite(values[name])]
        if len(v) < MIN_POSES:
            continue
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        entry[name] = {"median": round(float(med), 2), "spread": round(max(MIN_SPREAD, float(q3 - q1) / 1.349), 2),
                       "n": int(len(v))}
    return entry


def angle_profile(keypoints: np.ndarray, labels, aspect: float = 1.0, min_visibility: float = MIN_VISIBILITY) -> dict:
    """Per class and angle, {"median", "spread", "n"} of raw poses (N, 33, 4) with their labels (JSON-safe).

    Sided: a tree or a dancer stands on either leg, so each training pose is taken with its more bent leg
    on the left (:func:`canonical_flip`), left and right swapped where needed.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    angles = joint_angles(kp, aspect=aspect)
    vis = angle_visibility(kp)
    classes: dict[str, dict] = {}
    for c in sorted(set(labels.tolist())):
        rows = labels == c
        as_is = {n: angles[n][rows] for n in ANGLE_NAMES}
        swapped = {n: angles[mirrored_name(n)][rows] for n in ANGLE_NAMES}
        seen = {n: vis[n][rows] >= min_visibility for n in ANGLE_NAMES}
        seen_swapped = {n: vis[mirrored_name(n)][rows] >= min_visibility for n in ANGLE_NAMES}
        flip = canonical_flip({n: angles[n][rows] for n in angles})
        values = {n: np.where(flip, swapped[n], as_is[n]) for n in ANGLE_NAMES}
        classes[c] = _class_profile(values, {n: np.where(flip, seen_swapped[n], seen[n]) for n in ANGLE_NAMES})
    return {"version": PROFILE_VERSION, "aspect": float(aspect), "min_spread": MIN_SPREAD, "sided": True,
            "classes": classes}


def _words(name: str, diff: float, label: str | None = None) -> str:
    deg = f"{abs(diff):.0f} deg"
    usual = f" than usual for {label}" if label else ""
    if name == TRUNK_LEAN:
        return f"trunk {deg} {'leaning more' if diff > 0 else 'more upright'}{usual}"
    return f"{name.replace('_', ' ')} {deg} {'straighter' if diff > 0 else 'more bent'}{usual}"


def short_text(hint: dict) -> str:
    """A hint without its class ("right knee 55 deg more bent"): for a tag that already shows the class."""
    return _words(hint["angle"], hint["difference"])


def form_hints(
    keypoints: np.ndarray,
    label: str,
    profile: dict | None,
    aspect: float = 1.0,
    top: int = 3,
    min_visibility: float = MIN_VISIBILITY,
    threshold: float = THRESHOLD,
) -> list[dict]:
    """The (up to ``top``) visible angles of one raw pose (33, 4) furthest from ``label``'s reference, worst first.

    Each is {"angle", "degrees", "reference", "difference" (signed, degrees), "spreads", "text"}; only
    angles more than ``threshold`` spreads from the median count. No profile or class: no hints.
    """
    ref = ((profile or {}).get("classes") or {}).get(label)
    if not ref:
        return []
    kp = np.asarray(keypoints, dtype=np.float64).reshape(1, 33, 4)
    angles = {k: float(v[0]) for k, v in joint_angles(kp, aspect=aspect).items()}
    vis = {k: float(v[0]) for k, v in angle_visibility(kp).items()}
    names = [n for n in ANGLE_NAMES if n in ref]
    own = {n: n for n in names}  # profile angle -> the pose's angle compared with it
    if profile.get("sided"):  # the way round closer to the class: the other leg may lead
        swapped = {n: mirrored_name(n) for n in names}

        def off(which: dict) -> np.ndarray:
            return _deviation({n: np.array([angles[which[n]]]) for n in names},
                              {n: np.array([vis[which[n]] >= min_visibility]) for n in names}, {n: ref[n] for n in names})

        if off(swapped)[0] < off(own)[0]:
            own = swapped
    found = []
    for name in names:
        joint = own[name]
        value = angles[joint]
        if not np.isfinite(value) or vis[joint] < min_visibility:
            continue
        diff = value - float(ref[name]["median"])
        z = abs(diff) / max(float(ref[name]["spread"]), MIN_SPREAD)
        if z > threshold:
            found.append((z, joint, value, diff, float(ref[name]["median"])))
    found.sort(key=lambda t: -t[0])
    return [
        {"angle": joint, "degrees": round(value, 1), "reference": median,
         "difference": round(diff, 1), "spreads": round(z, 2), "text": _words(joint, diff, label)}
        for z, joint, value, diff, median in found[:top]
    ]


def profile_aspect(profile: dict | None) -> float:
    """The aspect a profile was measured with (1.0: normalised landmarks)."""
    return float((profile or {}).get("aspect", 1.0))


def class_hints(keypoints: np.ndarray | None, label: str | None, profile: dict | None) -> list[dict]:
    """Form hints of a pose given a class, measured as the profile was; [] for no pose, no profile or "unknown".

    The profile is measured on normalised landmarks (keypoint tables record no photo or frame size),
    so the hints use the profile's aspect (1.0) rather than the photo's or the frame's.
    """
    if not profile or keypoints is None or label in (None, "unknown"):  # runtime.UNKNOWN, without onnxruntime
        return []
    return form_hints(keypoints, label, profile, aspect=profile_aspect(profile))


# --- evaluation: bend one joint by a known angle, see whether the first hint names it ----------------

def _distal() -> dict[str, tuple[int, tuple[int, ...]]]:
    """Per bendable angle: (vertex landmark, the landmarks rotated about it), left side and mirrored right."""
    from posenet_cls.schema import LEFT_RIGHT_PAIRS, Landmark as L

    hand = (L.LEFT_WRIST, L.LEFT_PINKY, L.LEFT_INDEX, L.LEFT_THUMB)
    foot = (L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX)
    left = {
        "left_elbow": (L.LEFT_ELBOW, hand),
        "left_shoulder": (L.LEFT_SHOULDER, (L.LEFT_ELBOW, *hand)),
        "left_hip": (L.LEFT_HIP, (L.LEFT_KNEE, *foot)),
        "left_knee": (L.LEFT_KNEE, foot),
    }
    twin = {a: b for a, b in LEFT_RIGHT_PAIRS}
    out = {}
    for name, (v, moved) in left.items():
        out[name] = (int(v), tuple(int(m) for m in moved))
        out[name.replace("left_", "right_")] = (int(twin[v]), tuple(int(twin[m]) for m in moved))
    return out


BENDABLE: tuple[str, ...] = tuple(_distal())


def bend_joint(keypoints: np.ndarray, name: str, degrees: float, aspect: float = 1.0) -> np.ndarray:
    """A copy of a raw pose (33, 4) with joint ``name`` bent by ``degrees`` (its angle made smaller).

    The landmarks beyond the joint are rotated about it in the image plane, in whichever direction
    makes the angle smaller (rotating a nearly straight joint the other way would over-extend it
    past 180, which the unsigned angle sees as a smaller change).
    """
    a = _rotate(keypoints, name, degrees, aspect)
    b = _rotate(keypoints, name, -degrees, aspect)
    angles = [joint_angles(x[None], [name], aspect=aspect)[name][0] for x in (a, b)]
    return a if angles[0] <= angles[1] else b


def _rotate(keypoints: np.ndarray, name: str, degrees: float, aspect: float) -> np.ndarray:
    vertex, moved = _distal()[name]
    kp = np.array(keypoints, dtype=np.float64).reshape(33, 4)
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    scale = np.array([aspect, 1.0])
    centre = kp[vertex, :2] * scale
    pts = (kp[list(moved), :2] * scale - centre) @ rot.T + centre
    kp[list(moved), :2] = pts / scale
    return kp


def evaluate_hints(keypoints: np.ndarray, labels, profile: dict, degrees: float = 40.0,
                   min_visibility: float = MIN_VISIBILITY) -> dict:
    """Hit rate of the first hint naming the bent joint, per joint and overall, over poses (N, 33, 4) and labels.

    Every pose has each bendable joint bent by ``degrees`` in turn (only where that joint is visible);
    a hit is a first hint that names it. Chance is about 1 in 9 (the number of angles).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    vis = angle_visibility(kp, BENDABLE)
    per: dict[str, list[int]] = {name: [0, 0] for name in BENDABLE}
    for i in range(len(kp)):
        for name in BENDABLE:
            if vis[name][i] < min_visibility:
                continue
            hints = form_hints(bend_joint(kp[i], name, degrees), labels[i], profile, min_visibility=min_visibility)
            per[name][0] += bool(hints) and hints[0]["angle"] == name
            per[name][1] += 1
    hits, total = sum(h for h, _ in per.values()), sum(n for _, n in per.values())
    return {"degrees": degrees, "poses": len(kp), "trials": total, "hit_rate": hits / total if total else 0.0,
            "per_joint": {k: {"hits": h, "trials": n, "hit_rate": h / n if n else 0.0} for k, (h, n) in per.items()}}

"""Pose features, defined once per language: hip-centred, torso-scaled landmarks, and augmentations.

Input is a raw pose batch, float32 ``(N, 33, 4)`` (rows: :class:`~posenet_cls.schema.Landmark`,
columns: x, y normalised to the image, z on the scale of x, visibility in [0, 1]).

:func:`normalize` (numpy) and its torch twin :class:`posenet_cls.training.models.normalize.Normalize`
(exportable to ONNX, built from :func:`normalize_matrices`) compute the same
``(N, D)`` float32 feature matrix, landmark-major (``feature[n, 4*i + c]`` with z and visibility on):

* ``center`` = midpoint of the two hips (x, y, z);
* ``size`` = max(``torso_multiplier`` * |mid-shoulder - mid-hip|, max_i |p_i - mid-hip|), distances
  measured in the image plane (x, y), as in MediaPipe's pose-classification example; clamped to
  ``EPS`` so a degenerate pose gives zeros, never NaN;
* per landmark ``(x, y[, z]) - center) / size`` then, if enabled, its raw visibility.

So the features do not change when the person moves in the frame or appears larger or smaller.

Augmentations work on raw poses (numpy, before normalisation): :func:`mirror` (x -> 1 - x and left and
right swapped using :func:`~posenet_cls.schema.mirror_keypoints`), small rotations in the image
plane, per-axis scale jitter (a uniform scale is a no-op after normalisation, so jitter changes the
aspect ratio, as a different camera or crop would), and dropping low-visibility joints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from posenet_cls.errors import PosenetError
from posenet_cls.schema import (LEFT_RIGHT_PAIRS, LIMB_SEGMENTS, NUM_CHANNELS, NUM_LANDMARKS, UPPER_BODY, WHOLE_LIMBS,
                                Landmark, mirror_keypoints, mirror_permutation)

EPS = 1e-6
HIPS = (int(Landmark.LEFT_HIP), int(Landmark.RIGHT_HIP))
SHOULDERS = (int(Landmark.LEFT_SHOULDER), int(Landmark.RIGHT_SHOULDER))


def _from_dict(cls, data: dict, what: str):
    """Build a frozen config dataclass from a JSON dict, refusing unknown keys."""
    if not isinstance(data, dict):
        raise PosenetError(f"{what}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PosenetError(f"{what}: unknown setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
    return cls(**data)


# --- the pose embedding of MediaPipe's pose-classification example (for the k-NN baseline) --------

_EMBEDDING_PAIRS = [
    # one and two joints apart
    ("LEFT_SHOULDER", "LEFT_ELBOW"), ("RIGHT_SHOULDER", "RIGHT_ELBOW"),
    ("LEFT_ELBOW", "LEFT_WRIST"), ("RIGHT_ELBOW", "RIGHT_WRIST"),
    ("LEFT_HIP", "LEFT_KNEE"), ("RIGHT_HIP", "RIGHT_KNEE"),
    ("LEFT_KNEE", "LEFT_ANKLE"), ("RIGHT_KNEE", "RIGHT_ANKLE"),
    ("LEFT_SHOULDER", "LEFT_WRIST"), ("RIGHT_SHOULDER", "RIGHT_WRIST"),
    ("LEFT_HIP", "LEFT_ANKLE"), ("RIGHT_HIP", "RIGHT_ANKLE"),
    # four joints apart, cross body
    ("LEFT_HIP", "LEFT_WRIST"), ("RIGHT_HIP", "RIGHT_WRIST"),
    ("LEFT_SHOULDER", "LEFT_ANKLE"), ("RIGHT_SHOULDER", "RIGHT_ANKLE"),
    ("LEFT_HIP", "LEFT_WRIST"), ("RIGHT_HIP", "RIGHT_WRIST"),
    ("LEFT_ELBOW", "RIGHT_ELBOW"), ("LEFT_KNEE", "RIGHT_KNEE"),
    ("LEFT_WRIST", "RIGHT_WRIST"), ("LEFT_ANKLE", "RIGHT_ANKLE"),
]
EMBEDDING_PAIRS: tuple[tuple[Landmark, Landmark], ...] = tuple((Landmark[a], Landmark[b]) for a, b in _EMBEDDING_PAIRS)

VIEWS = ("landmarks", "offsets", "world")
WORLD_DIM = NUM_LANDMARKS * 3 + 3 * len(EMBEDDING_PAIRS)  # the world view: body-frame x, y, z and the pairs' offsets


@dataclass(frozen=True)
class FeatureConfig:
    """Normalisation settings; they travel with every model so inference normalises the same way.

    ``view`` "landmarks": the normalised landmarks (x, y, and z and visibility if on); "offsets": the
    pairwise 3-D offsets of MediaPipe's pose embedding (:data:`EMBEDDING_PAIRS`), z weighted by ``z_weight``,
    visibility never (use_z and use_visibility do not apply); "world": :func:`world_view` of the world landmarks, the
    same from any side (the other settings do not apply).
    """

    torso_multiplier: float = 2.5
    use_z: bool = True
    use_visibility: bool = True
    view: str = "landmarks"
    z_weight: float = 0.2

    def __post_init__(self):
        if self.view not in VIEWS:
            raise PosenetError(f"unknown feature view '{self.view}' (known: {', '.join(VIEWS)})")

    @property
    def channels(self) -> int:
        """Feature values per landmark (landmarks view)."""
        return 2 + int(self.use_z) + int(self.use_visibility)

    @property
    def dim(self) -> int:
        """Length D of one feature vector."""
        if self.view == "offsets":
            return 3 * (1 + len(EMBEDDING_PAIRS))
        if self.view == "world":
            return WORLD_DIM
        return NUM_LANDMARKS * self.channels

    @property
    def reads_world(self) -> bool:
        """Whether the features come from the world landmarks (N, 33, 3) rather than the image landmarks."""
        return self.view == "world"

    def to_dict(self) -> dict:
        """JSON-safe settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        """Settings from :meth:`to_dict` output (older ones lack view and z_weight); unknown keys are an error."""
        cfg = _from_dict(cls, data, "feature settings")
        return cls(float(cfg.torso_multiplier), bool(cfg.use_z), bool(cfg.use_visibility), str(cfg.view),
                   float(cfg.z_weight))


def check_keypoints(keypoints: np.ndarray, what: str = "keypoints") -> np.ndarray:
    """The batch as float32 (N, 33, 4), or a PosenetError naming the wrong shape."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_LANDMARKS, NUM_CHANNELS):
        raise PosenetError(f"{what}: expected a pose batch of shape (N, {NUM_LANDMARKS}, {NUM_CHANNELS}), got {kp.shape}")
    return kp


def normalize(keypoints: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Raw poses (N, 33, 4) -> hip-centred, torso-scaled features (N, D) float32, in the config's view."""
    if config.reads_world:
        raise PosenetError("the world view is computed from world landmarks: use view_features")
    kp = check_keypoints(keypoints)
    coords = kp[..., :3]
    center = (coords[:, HIPS[0]] + coords[:, HIPS[1]]) * np.float32(0.5)
    coords = coords - center[:, None, :]
    dist = np.sqrt(np.sum(coords[..., :2] * coords[..., :2], axis=-1))
    shoulder = (coords[:, SHOULDERS[0], :2] + coords[:, SHOULDERS[1], :2]) * np.float32(0.5)
    torso = np.sqrt(np.sum(shoulder * shoulder, axis=-1))
    size = np.maximum(torso * np.float32(config.torso_multiplier), dist.max(axis=1))
    size = np.maximum(size, np.float32(EPS))
    coords = coords / size[:, None, None]
    if config.view == "offsets":
        return (coords.reshape(len(kp), -1) @ offset_matrix(config.z_weight)).astype(np.float32, copy=False)
    parts = [coords if config.use_z else coords[..., :2]]
    if config.use_visibility:
        parts.append(kp[..., 3:4])
    return np.concatenate(parts, axis=-1).reshape(len(kp), -1).astype(np.float32, copy=False)


def check_world(world: np.ndarray | None, n: int, what: str = "world landmarks") -> np.ndarray:
    """World landmarks as float32 (n, 33, 3), or a PosenetError naming what is missing or the wrong shape."""
    if world is None:
        raise PosenetError(f"{what}: this model reads world landmarks; none were given")
    w = np.asarray(world, dtype=np.float32)
    if w.shape != (n, NUM_LANDMARKS, 3):
        raise PosenetError(f"{what}: expected world landmarks of shape ({n}, {NUM_LANDMARKS}, 3), got {w.shape}")
    return w


def view_features(keypoints: np.ndarray, world: np.ndarray | None, config: FeatureConfig) -> np.ndarray:
    """The features (N, D) of the config's view: :func:`world_view` of ``world`` for the world view, else
    :func:`normalize` of the image landmarks (``world`` unused)."""
    if config.reads_world:
        return world_view(check_world(world, len(keypoints)))
    return normalize(keypoints, config)


def offset_matrix(z_weight: float) -> np.ndarray:
    """(99, 69) matrix: normalised x, y, z of the 33 landmarks (landmark-major) -> the mid-shoulder minus the
    mid-hip, then ``b - a`` for every pair of :data:`EMBEDDING_PAIRS`, z times ``z_weight``."""
    m = np.zeros((NUM_LANDMARKS, 3, 1 + len(EMBEDDING_PAIRS), 3), np.float32)
    axes = np.arange(3)
    for lm in SHOULDERS:
        m[lm, axes, 0, axes] += 0.5
    for lm in HIPS:
        m[lm, axes, 0, axes] -= 0.5
    for j, (a, b) in enumerate(EMBEDDING_PAIRS, start=1):
        m[int(b), axes, j, axes] += 1.0
        m[int(a), axes, j, axes] -= 1.0
    m[:, 2] *= np.float32(z_weight)
    return m.reshape(NUM_LANDMARKS * 3, -1)


def normalize_matrices(config: FeatureConfig) -> dict[str, np.ndarray]:
    """Constant matrices that express :func:`normalize` on flat (N, 132) poses, built from the schema."""
    n = NUM_LANDMARKS * NUM_CHANNELS
    hip_center = np.zeros((n, NUM_CHANNELS), np.float32)  # flat pose -> (x, y, z, 0) of the mid-hip
    for hip in HIPS:
        hip_center[hip * NUM_CHANNELS + np.arange(3), np.arange(3)] = 0.5
    tile = np.tile(np.eye(NUM_CHANNELS, dtype=np.float32), (1, NUM_LANDMARKS))  # (4,) -> the same for every landmark
    image_plane = np.zeros((n, NUM_LANDMARKS), np.float32)  # squared values -> x^2 + y^2 per landmark
    image_plane[np.arange(NUM_LANDMARKS) * NUM_CHANNELS, np.arange(NUM_LANDMARKS)] = 1.0
    image_plane[np.arange(NUM_LANDMARKS) * NUM_CHANNELS + 1, np.arange(NUM_LANDMARKS)] = 1.0
    shoulder_center = np.zeros((n, 2), np.float32)  # flat pose -> (x, y) of the mid-shoulder
    for shoulder in SHOULDERS:
        shoulder_center[shoulder * NUM_CHANNELS + np.arange(2), np.arange(2)] = 0.5
    coords = np.tile(np.array([1, 1, 1, 0], np.float32), NUM_LANDMARKS)[None]  # scaled ...
    visibility = 1.0 - coords  # ... or passed through
    keep = [0, 1] + ([2] if config.use_z else []) + ([3] if config.use_visibility else [])
    columns = (np.arange(NUM_LANDMARKS)[:, None] * NUM_CHANNELS + np.array(keep)[None]).ravel()
    return {"hip_center": hip_center, "tile": tile, "image_plane": image_plane, "shoulder_center": shoulder_center,
            "coords": coords, "visibility": visibility, "columns": columns.astype(np.int64)}


# --- augmentations (raw poses, numpy) -------------------------------------------------------------


def mirror(keypoints: np.ndarray) -> np.ndarray:
    """Raw poses (N, 33, 4) seen in a mirror: x -> 1 - x and every left landmark swapped with its right twin."""
    return mirror_keypoints(check_keypoints(keypoints))


def swap_sides(points: np.ndarray) -> np.ndarray:
    """Poses (..., 33, C), image or world (C >= 3), as BlazePose reads a person seen from behind when it takes them
    to face the camera: every left landmark's label exchanged with its right twin's and the depth (z) reversed
    about the hips, x and y kept (unlike :func:`mirror`, which flips x)."""
    out = np.asarray(points)[..., mirror_permutation(), :].copy()
    hips_z = out[..., HIPS, 2].mean(axis=-1, keepdims=True)
    out[..., 2] = 2 * hips_z - out[..., 2]
    return out


def rotate(keypoints: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Raw poses rotated in the image plane about their mid-hip by one angle per pose (degrees)."""
    kp = check_keypoints(keypoints).copy()
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64)).reshape(-1, 1)
    center = kp[:, HIPS, :2].mean(axis=1, keepdims=True)
    x, y = kp[..., 0] - center[..., 0], kp[..., 1] - center[..., 1]
    kp[..., 0] = center[..., 0] + np.cos(theta) * x - np.sin(theta) * y
    kp[..., 1] = center[..., 1] + np.sin(theta) * x + np.cos(theta) * y
    return kp


def stretch(keypoints: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Raw poses scaled about their mid-hip by sx along x (z too, it shares x's scale) and sy along y."""
    kp = check_keypoints(keypoints).copy()
    center = kp[:, HIPS, :3].mean(axis=1, keepdims=True)
    sx = np.asarray(sx, dtype=np.float32).reshape(-1, 1)
    sy = np.asarray(sy, dtype=np.float32).reshape(-1, 1)
    kp[..., 0] = center[..., 0] + (kp[..., 0] - center[..., 0]) * sx
    kp[..., 1] = center[..., 1] + (kp[..., 1] - center[..., 1]) * sy
    kp[..., 2] = center[..., 2] + (kp[..., 2] - center[..., 2]) * sx
    return kp


def turn(keypoints: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Raw poses seen from another viewpoint: x, y, z turned about the mid-hip by ``yaw`` (about the vertical
    axis) then ``pitch`` (about the horizontal one), degrees per pose, and projected back (orthographic; z is
    BlazePose's depth on x's scale, and x and y are taken as one scale)."""
    kp = check_keypoints(keypoints).copy()
    centre = kp[:, HIPS, :3].mean(axis=1, keepdims=True).astype(np.float64)
    p = kp[..., :3].astype(np.float64) - centre
    a = np.deg2rad(np.asarray(yaw, dtype=np.float64)).reshape(-1, 1)
    b = np.deg2rad(np.asarray(pitch, dtype=np.float64)).reshape(-1, 1)
    x = np.cos(a) * p[..., 0] + np.sin(a) * p[..., 2]
    z = -np.sin(a) * p[..., 0] + np.cos(a) * p[..., 2]
    y = np.cos(b) * p[..., 1] - np.sin(b) * z
    z = np.sin(b) * p[..., 1] + np.cos(b) * z
    kp[..., :3] = (np.stack([x, y, z], axis=-1) + centre).astype(np.float32)
    return kp


def proportions(keypoints: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Raw poses of people built otherwise: torso, upper arms, forearms, thighs and shins (``factors`` (N, 5), in
    that order, the same on both sides) lengthened or shortened, what hangs on each segment moving with it."""
    kp = check_keypoints(keypoints).copy()
    f = np.asarray(factors, dtype=np.float32).reshape(len(kp), 1 + len(LIMB_SEGMENTS))
    hips = kp[:, HIPS, :3].mean(axis=1)
    shoulders = kp[:, SHOULDERS, :3].mean(axis=1)
    upper = np.array([int(u) for u in UPPER_BODY])
    kp[:, upper, :3] += ((f[:, 0:1] - 1) * (shoulders - hips))[:, None, :]
    for j, pair in enumerate(LIMB_SEGMENTS):
        for parent, child, moving in pair:
            delta = (f[:, j + 1:j + 2] - 1) * (kp[:, int(child), :3] - kp[:, int(parent), :3])
            kp[:, [int(m) for m in moving], :3] += delta[:, None, :]
    return kp


def _torso_lengths(kp: np.ndarray) -> np.ndarray:
    """Mid-hip to mid-shoulder distance (N,) in the image plane, never 0: the unit of the noise augmentations."""
    return np.linalg.norm(kp[:, SHOULDERS, :2].mean(axis=1) - kp[:, HIPS, :2].mean(axis=1), axis=1) + EPS


def far_side_blur(keypoints: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Raw poses whose far-side limb joints (of each left/right pair, the one with the larger z) are moved by
    N(0, ``sigma`` torso lengths) and seen less well (visibility x0.6-1 per pose): what BlazePose does to
    limbs it has to guess."""
    kp = check_keypoints(keypoints).copy()
    torso = _torso_lengths(kp)
    left, right = (np.array([int(pair[i]) for pair in LEFT_RIGHT_PAIRS]) for i in (0, 1))
    far = np.where(kp[:, left, 2] > kp[:, right, 2], left[None, :], right[None, :])  # (N, pairs)
    rows = np.arange(len(kp))[:, None]
    noise = rng.normal(0.0, sigma, (len(kp), far.shape[1], 2)) * torso[:, None, None]
    kp[rows, far, :2] += noise.astype(np.float32)
    kp[rows, far, 3] *= rng.uniform(0.6, 1.0, (len(kp), 1)).astype(np.float32)
    return kp


def guessed_depth(keypoints: np.ndarray, sigma: float, visibility: float, rng: np.random.Generator) -> np.ndarray:
    """Raw poses whose depth and visibility another photo would make BlazePose guess otherwise: z moved by
    N(0, ``sigma`` torso lengths) per joint, each pose's visibility raised to exp(U(-visibility, visibility))."""
    kp = check_keypoints(keypoints).copy()
    torso = _torso_lengths(kp)
    kp[..., 2] += (rng.normal(0.0, sigma, kp.shape[:2]) * torso[:, None]).astype(np.float32)
    power = np.exp(rng.uniform(-visibility, visibility, (len(kp), 1)))
    kp[..., 3] = np.clip(kp[..., 3], 0.0, 1.0) ** power.astype(np.float32)
    return kp


def crop_below(keypoints: np.ndarray, landmarks: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Raw poses whose ``landmarks`` left the frame: guessed, as BlazePose does, a little off and barely
    visible (at most 0-0.2)."""
    kp = check_keypoints(keypoints).copy()
    idx = np.asarray(landmarks)
    kp[:, idx, :2] += rng.normal(0.0, 0.02, (len(kp), len(idx), 2)).astype(np.float32)
    kp[:, idx, 3] = np.minimum(kp[:, idx, 3], rng.uniform(0.0, 0.2, (len(kp), len(idx))).astype(np.float32))
    return kp


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations: probabilities, and ranges drawn uniformly per pose."""

    mirror: float = 0.5  # probability of mirroring a pose
    rotate_deg: float = 0.0  # rotation in [-rotate_deg, rotate_deg]
    scale: float = 0.0  # per-axis scale factor exp(U(-scale, scale))
    drop: float = 0.0  # probability of dropping a joint whose visibility is below drop_below
    drop_below: float = 0.5
    yaw_deg: float = 0.0  # camera turned about the vertical axis, in [-yaw_deg, yaw_deg] (see turn)
    pitch_deg: float = 0.0  # camera higher or lower, in [-pitch_deg, pitch_deg]
    limbs: float = 0.0  # torso and limb segments scaled by exp(U(-limbs, limbs)) each (see proportions)

    def to_dict(self) -> dict:
        """JSON-safe settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AugmentConfig:
        """Settings from :meth:`to_dict` output; unknown keys are an error."""
        return _from_dict(cls, data, "augmentation settings")

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return (self.mirror > 0 or self.rotate_deg > 0 or self.scale > 0 or self.drop > 0 or self.yaw_deg > 0
                or self.pitch_deg > 0 or self.limbs > 0)


NO_AUGMENT = AugmentConfig(mirror=0.0)


def as_pose(world: np.ndarray) -> np.ndarray:
    """World landmarks (N, 33, 3) as a raw pose batch (N, 33, 4) (visibility 1), so the geometric augmentations
    and shifts (which work on x, y, z about the mid-hip) apply to them; :func:`world_view` ignores where the
    hips are, so the mirror's x -> 1 - x is the world's x -> -x for it."""
    w = np.asarray(world, dtype=np.float32)
    return np.concatenate([w, np.ones((*w.shape[:-1], 1), np.float32)], axis=-1)


def recombined(world: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` poses that are none of the classes (N, 33, 3), for outlier exposure: each the torso and head of one
    pose in the body frame with every limb taken from a pose of another class (attached at its shoulder or hip).
    Two straight legs from two standing legs, arms from one pose and legs from another: what a person doing
    something else looks like, made from the classes' own parts. Needs two classes or more."""
    frames = body_frame(world)
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise PosenetError("outlier poses need training poses of at least two classes")
    base = rng.integers(0, len(frames), n)
    out = frames[base].copy()
    for root, moving in WHOLE_LIMBS:
        donors = rng.integers(0, len(frames), n)
        same = labels[donors] == labels[base]
        while same.any():  # a limb of the pose's own class would make a pose of that class
            donors[same] = rng.integers(0, len(frames), int(same.sum()))
            same = labels[donors] == labels[base]
        limb = [int(m) for m in moving]
        out[:, limb] = frames[donors][:, limb] - frames[donors][:, [int(root)]] + out[:, [int(root)]]
    return out


def same_draws(transform, keypoints: np.ndarray, world: np.ndarray | None, rng: np.random.Generator):
    """``transform(poses, rng)`` on the image landmarks and, with ``world``, on the world landmarks with the very
    same random draws (the same person seen the same other way in both); returns (keypoints, world or None)."""
    if world is None:
        return transform(keypoints, rng), None
    twin = np.random.Generator(type(rng.bit_generator)())
    twin.bit_generator.state = rng.bit_generator.state
    out = transform(keypoints, rng)
    return out, transform(as_pose(world), twin)[..., :3]


def augment(keypoints: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A randomly augmented copy of raw poses (N, 33, 4); deterministic for a seeded ``rng``."""
    kp = check_keypoints(keypoints).copy()
    n = len(kp)
    if config.mirror > 0:
        flip = rng.random(n) < config.mirror
        if flip.any():
            kp[flip] = mirror(kp[flip])
    if config.limbs > 0:
        kp = proportions(kp, np.exp(rng.uniform(-config.limbs, config.limbs, (n, 5))))
    if config.yaw_deg > 0 or config.pitch_deg > 0:
        kp = turn(kp, rng.uniform(-config.yaw_deg, config.yaw_deg, n), rng.uniform(-config.pitch_deg, config.pitch_deg, n))
    if config.rotate_deg > 0:
        kp = rotate(kp, rng.uniform(-config.rotate_deg, config.rotate_deg, n))
    if config.scale > 0:
        sx = np.exp(rng.uniform(-config.scale, config.scale, n))
        sy = np.exp(rng.uniform(-config.scale, config.scale, n))
        kp = stretch(kp, sx, sy)
    if config.drop > 0:
        # A dropped joint sits on the mid-hip with visibility 0: it carries no position information.
        dropped = (kp[..., 3] < config.drop_below) & (rng.random(kp.shape[:2]) < config.drop)
        center = kp[:, HIPS, :3].mean(axis=1, keepdims=True)
        kp[..., :3] = np.where(dropped[..., None], center, kp[..., :3])
        kp[..., 3] = np.where(dropped, 0.0, kp[..., 3])
    return kp


def pose_embedding(keypoints: np.ndarray, config: FeatureConfig, z_weight: float = 0.2) -> np.ndarray:
    """MediaPipe-example embedding: 3-D offsets between joint pairs of normalised poses, z down-weighted; (N, 69)."""
    return normalize(keypoints, FeatureConfig(config.torso_multiplier, view="offsets", z_weight=z_weight))


# --- the view-invariant view: world landmarks in a body frame (issue 28; numpy first, the other ports follow) ---

def body_yaw(world: np.ndarray) -> np.ndarray:
    """The body's turn about the vertical (radians, (N,)): the angle in the x-z plane of the right-to-left line
    of hips plus shoulders, 0 when the person's left is at the image's right (seen from the front)."""
    w = np.asarray(world, dtype=np.float64)
    left_right = (w[:, HIPS[0]] - w[:, HIPS[1]]) + (w[:, SHOULDERS[0]] - w[:, SHOULDERS[1]])
    return np.arctan2(left_right[:, 2], left_right[:, 0])


def body_frame(world: np.ndarray) -> np.ndarray:
    """World landmarks (N, 33, 3) in the body's frame: centred between the hips, turned about the vertical so
    the right-to-left line of hips plus shoulders lies along +x, divided by the torso length; float32 (N, 33, 3).

    Only the yaw is taken out: up stays up, so a lying pose stays lying and an inverted one inverted. A pose
    seen from the other side (world x and z negated, the camera walked round) gives the same frame. When that
    line is vertical (no yaw to read), x and z collapse to 0; a degenerate pose gives zeros, never NaN (both
    lengths are taken as sqrt(squares + EPS^2)).
    Its torch twin is :class:`posenet_cls.training.models.normalize.WorldView`.
    """
    w = np.asarray(world, dtype=np.float64)
    left_right = (w[:, HIPS[0]] - w[:, HIPS[1]]) + (w[:, SHOULDERS[0]] - w[:, SHOULDERS[1]])
    length = np.sqrt(left_right[:, 0] ** 2 + left_right[:, 2] ** 2 + EPS**2)
    cos, sin = (left_right[:, 0] / length)[:, None], (left_right[:, 2] / length)[:, None]
    centre = (w[:, HIPS[0]] + w[:, HIPS[1]]) / 2
    p = w - centre[:, None]
    turned = np.stack([cos * p[..., 0] + sin * p[..., 2], p[..., 1], -sin * p[..., 0] + cos * p[..., 2]], axis=-1)
    torso = np.sqrt(np.sum(((w[:, SHOULDERS[0]] + w[:, SHOULDERS[1]]) / 2 - centre) ** 2, axis=1) + EPS**2)
    return (turned / torso[:, None, None]).astype(np.float32)


def world_view(world: np.ndarray) -> np.ndarray:
    """The view-invariant features of world landmarks (N, 33, 3): :func:`body_frame` coordinates and the
    offsets of :data:`EMBEDDING_PAIRS` in that frame; float32 (N, 99 + 66)."""
    frame = body_frame(world)
    offsets = np.stack([frame[:, a] - frame[:, b] for a, b in EMBEDDING_PAIRS], axis=1)
    return np.concatenate([frame.reshape(len(frame), -1), offsets.reshape(len(frame), -1)], axis=1)

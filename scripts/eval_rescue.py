"""Which extra attempts rescue photos without a person, and are the poses they find real?

    .venv/bin/python scripts/eval_rescue.py            # 60 random yoga8 photos made hard, and ArdhaChandrasana/v8.jpeg

Each photo is made hard (shrunk to 40 px high; cropped to its middle half). Those the four
attempts before "turned" (plain, pad, mirror, pad+mirror) then miss are tried with each rescue. A
rescued pose is real when its landmarks land within 0.05 (median x, y) of the full photo's
landmarks moved by the same change. Prints found / real per rescue (the README's table).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from posenet_cls.config import data_dir  # noqa: E402
from posenet_cls.io.images import load_image  # noqa: E402
from posenet_cls.pose.common import ATTEMPTS  # noqa: E402
from posenet_cls.pose.mediapipe_backend import PoseExtractor  # noqa: E402

BEFORE = ATTEMPTS[:4]  # plain, pad, mirror, pad+mirror
REAL = 0.05


def main() -> int:
    yoga8 = data_dir() / "yoga8"
    photos = sorted(p for p in yoga8.rglob("*") if p.is_file())
    random.seed(0)
    sample = random.sample(photos, 60)
    with PoseExtractor() as base, PoseExtractor(min_confidence=0.2) as low:
        def before(ex, rgb):
            return ex.photo(rgb, BEFORE).keypoints

        def quarter(rgb, k):  # the photo turned k quarter turns counter-clockwise, the pose turned back
            kp = before(base, np.ascontiguousarray(np.rot90(rgb, k)))
            if kp is None:
                return None
            kp, (x, y) = kp.copy(), (kp[:, 0].copy(), kp[:, 1].copy())
            kp[:, 0], kp[:, 1] = (1 - y, x) if k == 1 else (y, 1 - x)
            return kp

        rescues = {
            "a second detector pass at threshold 0.2": lambda rgb: before(low, rgb),
            "upscale x2": lambda rgb: before(base, cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)),
            "a quarter turn counter-clockwise (alone)": lambda rgb: quarter(rgb, 1),
            "a quarter turn clockwise (alone)": lambda rgb: quarter(rgb, 3),
            'both turns, agreeing ("turned")': lambda rgb: base.photo(rgb, ("turned",)).keypoints,
        }
        hard = {
            "shrunk to 40 px": (lambda rgb: cv2.resize(rgb, (max(8, int(rgb.shape[1] * 40 / rgb.shape[0])), 40),
                                                       interpolation=cv2.INTER_AREA), lambda kp: kp),
            "cropped to the middle half": (lambda rgb: np.ascontiguousarray(rgb[int(0.3 * rgb.shape[0]):int(0.8 * rgb.shape[0])]),
                                           lambda kp: np.column_stack([kp[:, 0], (kp[:, 1] - 0.3) / 0.5])),
        }
        reference = {p: before(base, load_image(p)) for p in sample}
        for name, (make, move) in hard.items():
            missed = [p for p in sample if reference[p] is not None and before(base, make(load_image(p))) is None]
            counts = {}
            for rescue, find in rescues.items():
                found = real = 0
                for p in missed:
                    kp = find(make(load_image(p)))
                    if kp is not None:
                        found += 1
                        real += float(np.median(np.abs(kp[:, :2] - move(reference[p][:, :2])))) < REAL
                counts[rescue] = f"{found} / {real}"
            print(f"{name}: {len(missed)} of {sum(r is not None for r in reference.values())} photos missed by "
                  f"{', '.join(BEFORE)}; found / real: {counts}")
        v8 = load_image(yoga8 / "ArdhaChandrasana" / "v8.jpeg")
        print("ArdhaChandrasana/v8.jpeg, found by:", [r for r, find in rescues.items() if find(v8) is not None])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Photos of two people side by side: are both found, and is each labelled with their own photo's class?

    .venv/bin/python scripts/eval_people_pairs.py        # the 16 yoga8 pairs of tests/test_people.py

Pairs: for each class, its 3rd and 8th photo beside the photo at the same place in the class three
further on, both scaled to 480 px high; people found with --max-people 2 (onnx backend), sorted
left to right, labelled by the shipped model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from posenet_cls.config import data_dir  # noqa: E402
from posenet_cls.infer.people import classify_people  # noqa: E402
from posenet_cls.infer.photos import load_model  # noqa: E402
from posenet_cls.io.images import load_image  # noqa: E402
from posenet_cls.pose.blazepose.pipeline import OnnxPoseExtractor  # noqa: E402
from posenet_cls.pose.people import people_in_photo  # noqa: E402

HEIGHT = 480


def pairs(yoga8: Path) -> list[tuple[Path, Path]]:
    """The test's pairs of photos of different classes."""
    classes = sorted(p.name for p in yoga8.iterdir() if p.is_dir())
    return [(sorted((yoga8 / classes[i]).iterdir())[k], sorted((yoga8 / classes[(i + 3) % 8]).iterdir())[k])
            for i in range(8) for k in (2, 7)]


def side_by_side(a: Path, b: Path) -> np.ndarray:
    images = [load_image(p) for p in (a, b)]
    images = [cv2.resize(im, (int(im.shape[1] * HEIGHT / im.shape[0]), HEIGHT)) for im in images]
    return np.ascontiguousarray(np.hstack(images))


def main() -> int:
    runtime = load_model()
    chosen = pairs(data_dir() / "yoga8")
    found = right = 0
    with OnnxPoseExtractor() as extractor:
        for a, b in chosen:
            people = classify_people(people_in_photo(side_by_side(a, b), extractor, 2), runtime)
            if len(people) != 2:
                print(f"{a.parent.name}/{a.name} + {b.parent.name}/{b.name}: {len(people)} people found")
                continue
            found += 1
            left, rightmost = sorted(people, key=lambda p: p.box[0])
            right += (left.label == a.parent.name) + (rightmost.label == b.parent.name)
    print(f"both people found in {found} of {len(chosen)} pairs; {right} of those {2 * found} people labelled "
          f"with their own photo's class")
    return 0


if __name__ == "__main__":
    sys.exit(main())

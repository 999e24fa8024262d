"""posenet_cls: recognise human poses from photos, videos and a webcam with BlazePose keypoints.

One package per stage (see the README's module map): ``pose`` -> ``data`` -> ``features`` ->
``training`` -> ``runtime`` -> ``infer`` / ``coaching`` / ``bench`` / ``web``, with ``cli`` on top.
"""

__version__ = "0.1.0"

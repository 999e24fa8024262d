"""posenet_cls: recognise human poses from photos, videos and a webcam with BlazePose keypoints."""

__version__ = "0.1.0"

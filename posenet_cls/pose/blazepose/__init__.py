"""BlazePose's two networks (detector, landmark) as ONNX, converted from the installed mediapipe wheel."""

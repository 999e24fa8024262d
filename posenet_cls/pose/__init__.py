"""BlazePose landmarks from photos and videos: the extractor protocol and options, MediaPipe and the ONNX backend."""

"""Training and its artefacts: models, Lightning training, cross-validation, metrics, checkpoints, ONNX export."""

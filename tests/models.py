"""Small classifier models built for tests: a posenet_cls model that reads world landmarks as a second input."""

from __future__ import annotations

import json
from pathlib import Path

from posenet_cls.runtime import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, WORLD_NAME


def two_input_model(path: Path, classes: tuple[str, ...] = ("A", "B", "C")) -> Path:
    """A posenet_cls model that reads world landmarks too: image features and the world view into one Linear
    (seeded weights); made by hand, so its metadata has no ``world`` entry (the graph's input is what counts; `export
    --web` adds the entry); written to ``path``, which is returned."""
    import onnx
    import torch

    from posenet_cls.features import FeatureConfig
    from posenet_cls.training.export import build_metadata
    from posenet_cls.training.models.normalize import Normalize, WorldView

    features = FeatureConfig(view="offsets")

    class TwoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.image, self.world = Normalize(features), WorldView()
            self.linear = torch.nn.Linear(69 + 165, len(classes))

        def forward(self, landmarks, world):
            return torch.softmax(self.linear(torch.cat([self.image(landmarks), self.world(world)], dim=1)), dim=1)

    torch.onnx.export(TwoInputs().eval(), (torch.zeros(2, 33, 4), torch.zeros(2, 33, 3)), str(path), dynamo=False,
                      input_names=[INPUT_NAME, WORLD_NAME], output_names=[OUTPUT_NAME],
                      dynamic_axes={INPUT_NAME: {0: "batch"}, WORLD_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    model = onnx.load(str(path))
    meta = build_metadata(list(classes), features.to_dict(), 0.0)
    model.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
    onnx.save(model, str(path))
    return path

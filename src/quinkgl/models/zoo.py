"""Small built-in PyTorch models for the command line, demos and benchmarks.

Each is built from a seed without touching torch's global RNG, so every node of a simulation can
start from the same initial model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quinkgl.errors import ConfigurationError
from quinkgl.models.pytorch import PyTorchModel, _import_torch

MODELS = ("logreg", "mlp", "cnn")


def build_module(name: str, feature_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> Any:
    """A fresh ``nn.Module`` named ``name`` for inputs of ``feature_shape``."""
    torch = _import_torch()
    nn = torch.nn
    features = int(np.prod(feature_shape))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "logreg":
            return nn.Sequential(nn.Flatten(), nn.Linear(features, num_classes))
        if name == "mlp":
            hidden = 128 if features <= 256 else 256
            return nn.Sequential(
                nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
            )
        if name == "cnn":
            if len(feature_shape) != 3:
                raise ConfigurationError(
                    f"cnn needs image inputs (channels, height, width), got shape {feature_shape}"
                )
            channels, height, width = feature_shape
            flat = 32 * (height // 4) * (width // 4)
            return nn.Sequential(
                nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes),
            )  # fmt: skip
    raise ConfigurationError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def build_model(
    name: str, feature_shape: tuple[int, ...], num_classes: int, seed: int = 0
) -> PyTorchModel:
    """A :class:`PyTorchModel` around :func:`build_module`."""
    return PyTorchModel(build_module(name, feature_shape, num_classes, seed))

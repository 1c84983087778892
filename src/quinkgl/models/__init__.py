"""Model wrappers: the framework models QuinkGL trains and gossips, seen as numpy weights.

The wrapper modules import torch or tensorflow only when a wrapper is constructed.
"""

from quinkgl.models.base import (
    ModelWrapper,
    TrainingConfig,
    TrainingResult,
    Weights,
    fingerprint,
)
from quinkgl.models.pytorch import PyTorchModel
from quinkgl.models.tensorflow import TensorFlowModel

__all__ = [
    "ModelWrapper",
    "PyTorchModel",
    "TensorFlowModel",
    "TrainingConfig",
    "TrainingResult",
    "Weights",
    "fingerprint",
]

"""QuinkGL: decentralized gossip learning.

Nodes train on their own data and improve by exchanging models directly with peers; there is no
server.
"""

from quinkgl.data import DatasetInfo, DatasetLoader, FederatedDataSplitter
from quinkgl.errors import QuinkGLError
from quinkgl.models import (
    ModelWrapper,
    PyTorchModel,
    TensorFlowModel,
    TrainingConfig,
    TrainingResult,
)

__version__ = "0.4.0.dev0"

__all__ = [
    "DatasetInfo",
    "DatasetLoader",
    "FederatedDataSplitter",
    "ModelWrapper",
    "PyTorchModel",
    "QuinkGLError",
    "TensorFlowModel",
    "TrainingConfig",
    "TrainingResult",
    "__version__",
]

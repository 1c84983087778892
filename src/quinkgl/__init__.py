"""QuinkGL: decentralized gossip learning.

Nodes train on their own data and improve by exchanging models directly with peers; there is no
server.  See the README for a quick start.
"""

from quinkgl.aggregation import (
    AggregationStrategy,
    AggregatorSettings,
    FedAvg,
    ModelAggregator,
    ModelUpdate,
)
from quinkgl.data import DatasetInfo, DatasetLoader, FederatedDataSplitter
from quinkgl.errors import QuinkGLError
from quinkgl.models import (
    ModelWrapper,
    PyTorchModel,
    TensorFlowModel,
    TrainingConfig,
    TrainingResult,
)
from quinkgl.node import GossipNode, NodeSettings
from quinkgl.simulation import Simulation, SimulationSettings
from quinkgl.topology import CyclonTopology, PeerInfo, RandomTopology, Topology

__version__ = "0.4.0.dev0"

__all__ = [
    "AggregationStrategy",
    "AggregatorSettings",
    "CyclonTopology",
    "DatasetInfo",
    "DatasetLoader",
    "FedAvg",
    "FederatedDataSplitter",
    "GossipNode",
    "ModelAggregator",
    "ModelUpdate",
    "ModelWrapper",
    "NodeSettings",
    "PeerInfo",
    "PyTorchModel",
    "QuinkGLError",
    "RandomTopology",
    "Simulation",
    "SimulationSettings",
    "TensorFlowModel",
    "Topology",
    "TrainingConfig",
    "TrainingResult",
    "__version__",
]

from __future__ import annotations

import subprocess
import sys

import quinkgl

SEED_NAMES = {
    "GossipNode",
    "PyTorchModel",
    "TensorFlowModel",
    "TrainingConfig",
    "TrainingResult",
    "RandomTopology",
    "CyclonTopology",
    "PeerInfo",
    "FedAvg",
    "ModelAggregator",
    "ModelUpdate",
    "DatasetLoader",
    "FederatedDataSplitter",
}


def test_public_names_are_pinned():
    assert set(quinkgl.__all__) == SEED_NAMES | {
        "AggregationStrategy",
        "AggregatorSettings",
        "DatasetInfo",
        "ModelWrapper",
        "NodeSettings",
        "QuinkGLError",
        "Simulation",
        "SimulationSettings",
        "Topology",
        "__version__",
    }
    for name in quinkgl.__all__:
        assert getattr(quinkgl, name) is not None


def test_import_does_not_load_heavy_frameworks():
    heavy = "('torch', 'tensorflow', 'keras', 'matplotlib')"
    code = f"import sys, quinkgl; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "quinkgl.cli.main", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and quinkgl.__version__ in out.stdout

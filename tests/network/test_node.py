"""GossipNode's lifecycle and the `quinkgl run` command with a user's own file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="these nodes wrap PyTorch models")

from quinkgl import GossipNode, NodeSettings, PyTorchModel, TrainingConfig  # noqa: E402
from quinkgl.errors import ConfigurationError  # noqa: E402

pytestmark = pytest.mark.network


def tiny_model(seed: int) -> PyTorchModel:
    torch.manual_seed(seed)
    return PyTorchModel(
        torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    )


def test_nothing_is_left_running_after_stop():
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40))
    threads_before = set(threading.enumerate())

    async def scenario() -> None:
        settings = NodeSettings(gossip_interval=0.05)
        a = GossipNode(
            "a", "lifecycle", tiny_model(0), training_config=TrainingConfig(), settings=settings
        )
        await a.start()
        b = GossipNode("b", "lifecycle", tiny_model(1), bootstrap=[a.address], settings=settings)
        await b.start()
        assert await b.wait_for_peers(1, timeout=10) == 1
        # different seeds, same domain: the shared initialisation makes them start equal
        for x, y in zip(
            a.model.get_weights().values(), b.model.get_weights().values(), strict=True
        ):
            np.testing.assert_array_equal(x, y)
        await asyncio.gather(a.run_continuous(data, rounds=5), b.run_continuous(data, rounds=5))
        assert a.summary()["aggregator"]["merged_updates"] > 0
        port = a.address[1]
        await a.stop()
        await b.stop()
        await a.stop()  # idempotent
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == []
        probe = __import__("socket").socket(2, 2)  # the port is free again
        probe.bind(("127.0.0.1", port))
        probe.close()

    asyncio.run(scenario())
    assert set(threading.enumerate()) <= threads_before


def test_run_continuous_before_start_is_a_clear_error():
    node = GossipNode("x", "d", tiny_model(0))

    async def scenario() -> None:
        with pytest.raises(ConfigurationError, match="start"):
            await node.run_continuous(
                (np.zeros((2, 4), np.float32), np.zeros(2, np.int64)), rounds=1
            )

    asyncio.run(scenario())
    with pytest.raises(ConfigurationError, match="ModelWrapper"):
        GossipNode("x", "d", model=object())  # type: ignore[arg-type]


USER_FILE = """
import numpy as np
import torch
from quinkgl import PyTorchModel

def build_model():
    return PyTorchModel(torch.nn.Sequential(torch.nn.Linear(2, 2)))

def load_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return (x, y), (x, y)
"""


def test_run_command_with_a_user_file(tmp_path: Path):
    user = tmp_path / "mine.py"
    user.write_text(USER_FILE)
    out = tmp_path / "node.json"
    command = [sys.executable, "-m", "quinkgl.cli.main", "run", "--user-file", str(user)]
    command += ["--rounds", "3", "--interval", "0", "--progress", "none", "--json-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    result = json.loads(out.read_text())
    assert result["rounds"] == 3 and result["accuracy"] > 0.8
    missing = tmp_path / "broken.py"
    missing.write_text("x = 1\n")
    command = [sys.executable, "-m", "quinkgl.cli.main", "run", "--user-file", str(missing)]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "must define build_model()" in bad.stderr


def test_tensorflow_nodes_gossip_over_the_network():
    pytest.importorskip("tensorflow", reason="TensorFlow is an optional extra")
    import keras

    from quinkgl import TensorFlowModel

    def model(seed: int) -> TensorFlowModel:
        init = keras.initializers.GlorotUniform(seed=seed)
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer=init)])
        return TensorFlowModel(net)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    data = (x, (x[:, 0] > 0).astype(np.int64))

    async def scenario() -> None:
        settings = NodeSettings(gossip_interval=0.05)
        config = TrainingConfig(learning_rate=0.1)
        a = GossipNode("tf-a", "tf-domain", model(0), training_config=config, settings=settings)
        await a.start()
        b = GossipNode(
            "tf-b",
            "tf-domain",
            model(1),
            training_config=config,
            bootstrap=[a.address],
            settings=settings,
        )
        await b.start()
        assert await b.wait_for_peers(1, timeout=10) == 1
        await asyncio.gather(a.run_continuous(data, rounds=4), b.run_continuous(data, rounds=4))
        assert a.summary()["aggregator"]["merged_updates"] > 0
        assert b.summary()["aggregator"]["merged_updates"] > 0
        assert a.summary()["rejections"] == {} and b.summary()["rejections"] == {}
        await a.stop()
        await b.stop()

    asyncio.run(scenario())


def test_cyclon_nodes_learn_over_the_network():
    from quinkgl import CyclonTopology

    rng = np.random.default_rng(2)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    data = (x, (x[:, 1] > 0).astype(np.int64))

    async def scenario() -> None:
        settings = NodeSettings(gossip_interval=0.1)
        first = GossipNode(
            "c0", "cyclon-net", tiny_model(0), CyclonTopology(3, 2), settings=settings
        )
        await first.start()
        nodes = [first]
        for i in range(1, 4):
            node = GossipNode(
                f"c{i}", "cyclon-net", tiny_model(i), CyclonTopology(3, 2),
                bootstrap=[first.address], settings=settings,
            )  # fmt: skip
            await node.start()
            nodes.append(node)
        for node in nodes:
            await node.wait_for_peers(3, timeout=10)
        await asyncio.gather(*(n.run_continuous(data, rounds=12) for n in nodes))
        for node in nodes:
            summary = node.summary()
            assert summary["aggregator"]["merged_updates"] > 0
            assert summary["aggregator"].get("topology_sent", 0) > 0  # shuffles went over ipv8
            assert summary["rejections"] == {}
        for node in nodes:
            await node.stop()

    asyncio.run(scenario())

"""Many gossip learning nodes in one process, on the in-memory network, in virtual time.

Each node is a :class:`~quinkgl.aggregation.ModelAggregator` with its own data partition and
weights; one shared model object does the training for all of them in turn (the weights are
swapped in and out), so a thousand nodes cost a thousand weight sets, not a thousand networks.
Every message crosses the network as real encoded bytes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from quinkgl.aggregation import AggregatorSettings, FedAvg, ModelAggregator
from quinkgl.models.base import TrainingConfig, Weights, scheduled_learning_rate
from quinkgl.models.pytorch import mix_seed
from quinkgl.models.zoo import build_model
from quinkgl.simulation.experiment import (
    ExperimentData,
    load_experiment_data,
    split_data,
    train_centralized,
)
from quinkgl.simulation.settings import SimulationSettings
from quinkgl.topology import CyclonTopology, PeerInfo, RandomTopology, Topology
from quinkgl.transport import MemoryNetwork, MemoryTransport, NetworkSettings

logger = logging.getLogger(__name__)

INTERVAL = 1.0
EVAL_AT = 0.999  # evaluate just before the next round starts
CHURN_RETURN = 0.5  # an offline node comes back with this probability each round


@dataclass
class SimNode:
    index: int
    aggregator: ModelAggregator
    transport: MemoryTransport
    data: tuple[np.ndarray, np.ndarray]
    phase: float
    online: bool = True


@dataclass
class SimulationResult:
    settings: SimulationSettings
    history: list[dict[str, Any]]
    final_accuracies: list[float]
    centralized: dict[str, Any] | None
    stats: dict[str, int]
    rejections: dict[str, int]
    split_summary: list[dict[str, Any]]
    wall_seconds: float
    node_updates: int
    eval_seconds: float = 0.0

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.final_accuracies))

    def to_json(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        central = self.centralized["accuracy"] if self.centralized else None
        return {
            "settings": self.settings.to_dict(),
            "rounds": self.settings.rounds,
            "mean_accuracy": self.mean_accuracy,
            "min_accuracy": float(np.min(self.final_accuracies)),
            "max_accuracy": float(np.max(self.final_accuracies)),
            "centralized_accuracy": central,
            "relative_to_centralized": self.mean_accuracy / central if central else None,
            "consensus_distance": last.get("consensus_distance"),
            "bytes_sent": self.stats.get("bytes_sent", 0),
            "messages_sent": self.stats.get("messages_sent", 0),
            "node_updates": self.node_updates,
            "wall_seconds": self.wall_seconds,
            "eval_seconds": self.eval_seconds,
            "node_accuracies": self.final_accuracies,
            "network": self.stats,
            "rejections": self.rejections,
            "split": self.split_summary,
            "centralized": self.centralized,
            "history": self.history,
        }


class Simulation:
    """A seeded gossip learning run: ``Simulation(settings).run()``.

    Args:
        settings: what to simulate.
        data: preloaded data (default: loaded from ``settings.dataset``).
        on_round: called after each round with that round's record (for progress display).
    """

    def __init__(
        self,
        settings: SimulationSettings,
        data: ExperimentData | None = None,
        on_round: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.data = data or load_experiment_data(
            settings.dataset, settings.test_fraction, settings.seed
        )
        self.on_round = on_round
        seeds = np.random.SeedSequence(settings.seed).spawn(3)
        self.rng = np.random.default_rng(seeds[0])
        info = self.data.info
        self.trainer = build_model(
            settings.model, info.feature_shape, info.num_classes, settings.seed
        )
        self.config = TrainingConfig(
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            optimizer=settings.optimizer,
            seed=settings.seed,
        )
        self.split = split_data(
            self.data.train,
            settings.split,
            settings.nodes,
            settings.seed,
            alpha=settings.alpha,
            classes_per_node=settings.classes_per_node,
        )
        self.network = MemoryNetwork(
            NetworkSettings(
                latency=settings.latency,
                bandwidth=settings.bandwidth,
                loss=settings.loss,
                duplicate=settings.duplicate,
            ),
            seed=int(seeds[1].generate_state(1)[0]),
        )
        self.nodes = self._make_nodes(self.trainer.get_weights(), seeds[2])
        self.node_updates = 0
        self.eval_seconds = 0.0

    def _topology(self) -> Topology:
        if self.settings.topology == "cyclon":
            return CyclonTopology(self.settings.view_size, self.settings.shuffle_length)
        return RandomTopology()

    def _make_nodes(self, initial: Weights, seed: np.random.SeedSequence) -> list[SimNode]:
        s = self.settings
        node_seeds = seed.spawn(s.nodes)
        agg_settings = AggregatorSettings(fanout=s.fanout, compression=s.compression)
        ids = [f"node-{i:0{len(str(s.nodes - 1))}d}" for i in range(s.nodes)]
        nodes = []
        for i, peer_id in enumerate(ids):
            rng = np.random.default_rng(node_seeds[i])
            aggregator = ModelAggregator(
                peer_id,
                initial,
                num_samples=len(self.split[i].y),
                strategy=FedAvg(s.aggregation),
                topology=self._topology(),
                settings=agg_settings,
                rng=rng,
            )
            transport = self.network.attach(peer_id)
            phase = 0.0 if s.mode == "sync" else float(rng.uniform(0.0, 0.9))
            node = SimNode(i, aggregator, transport, self.split[i], phase)
            transport.set_receiver(self._receiver(node))
            nodes.append(node)
        for node in nodes:
            others = [p for p in ids if p != node.aggregator.node_id]
            if s.topology == "cyclon":
                # Cyclon starts from a random partial view (Voulgaris et al.'s random bootstrap).
                picks = self.rng.choice(
                    len(others), size=min(s.view_size, len(others)), replace=False
                )
                others = [others[int(j)] for j in picks]
            for peer in others:
                node.aggregator.peer_seen(PeerInfo(peer), 0.0)
        return nodes

    def _receiver(self, node: SimNode) -> Callable[[str, bytes], None]:
        def receive(sender: str, data: bytes) -> None:
            for out in node.aggregator.receive(sender, data, self.network.clock.now):
                node.transport.send(out.peer_id, out.data)

        return receive

    # -- running ----------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        start = time.perf_counter()
        s = self.settings
        clock = self.network.clock
        history: list[dict[str, Any]] = []
        self._init_churn()
        for r in range(s.rounds):
            base = r * INTERVAL
            if r > 0:
                self._step_churn()
            for node in self.nodes:
                if node.online:
                    clock.schedule(base + node.phase, functools.partial(self._wake, node, r))
            clock.run_until(base + EVAL_AT)
            last = r == s.rounds - 1
            if last or (s.eval_every and (r + 1) % s.eval_every == 0):
                record = self._evaluate(r + 1)
                history.append(record)
                if self.on_round:
                    self.on_round(record)
        clock.run_until_idle()
        final = history[-1]
        centralized = None
        if s.centralized:
            # Same model, same schedule, same number of passes over the data as each node makes.
            centralized = train_centralized(
                self.data,
                s.model,
                replace(self.config, epochs=1),
                s.rounds * s.epochs,
                s.seed,
                learning_rate_at=lambda epoch: self.learning_rate(epoch // s.epochs),
            )
        return SimulationResult(
            settings=s,
            history=history,
            final_accuracies=list(final["node_accuracies"]),
            centralized=centralized,
            stats=dict(self.network.stats),
            rejections=dict(sum((n.aggregator.rejections for n in self.nodes), Counter())),
            split_summary=self.split.summary(),
            wall_seconds=time.perf_counter() - start,
            node_updates=self.node_updates,
            eval_seconds=self.eval_seconds,
        )

    def _wake(self, node: SimNode, round_index: int) -> None:
        if not node.online:
            return
        agg = node.aggregator
        now = self.network.clock.now
        for out in agg.tick(now):
            node.transport.send(out.peer_id, out.data)
        weights = agg.begin_round()
        self.trainer.set_weights(weights)
        config = self._round_config(round_index)
        self.trainer.train(node.data, config, round_seed=mix_seed(node.index, round_index))
        for out in agg.finish_round(self.trainer.get_weights(), now):
            node.transport.send(out.peer_id, out.data)
        self.node_updates += 1

    def learning_rate(self, round_index: int) -> float:
        """The learning rate of a round under the settings' schedule."""
        s = self.settings
        return scheduled_learning_rate(
            s.learning_rate, s.lr_schedule, s.lr_floor, round_index, s.rounds
        )

    def _round_config(self, round_index: int) -> TrainingConfig:
        return replace(self.config, learning_rate=self.learning_rate(round_index))

    def _init_churn(self) -> None:
        if not self.settings.churn:
            return
        for node in self.nodes:
            node.online = bool(self.rng.random() >= self.settings.churn)
            self.network.set_online(node.aggregator.node_id, node.online)

    def _step_churn(self) -> None:
        """Two-state Markov churn whose stationary offline share is ``settings.churn``."""
        churn = self.settings.churn
        if not churn:
            return
        leave = churn * CHURN_RETURN / (1 - churn)
        for node in self.nodes:
            flip = self.rng.random() < (leave if node.online else CHURN_RETURN)
            if flip:
                node.online = not node.online
                self.network.set_online(node.aggregator.node_id, node.online)

    def _evaluate(self, round_number: int) -> dict[str, Any]:
        started = time.perf_counter()
        accuracies = []
        losses = []
        for node in self.nodes:
            self.trainer.set_weights(node.aggregator.weights)
            metrics = self.trainer.evaluate(self.data.test)
            accuracies.append(metrics["accuracy"])
            losses.append(metrics["loss"])
        stats = self.network.stats
        record = {
            "round": round_number,
            "time": self.network.clock.now,
            "mean_accuracy": float(np.mean(accuracies)),
            "min_accuracy": float(np.min(accuracies)),
            "max_accuracy": float(np.max(accuracies)),
            "mean_loss": float(np.mean(losses)),
            "consensus_distance": consensus_distance([n.aggregator.weights for n in self.nodes]),
            "bytes_sent": int(stats["bytes_sent"]),
            "messages_sent": int(stats["messages_sent"]),
            "online": sum(n.online for n in self.nodes),
            "node_accuracies": accuracies,
        }
        self.eval_seconds += time.perf_counter() - started
        return record


def consensus_distance(models: list[Weights]) -> float:
    """Mean squared L2 distance of the models from their average (0 when all agree)."""
    flat = np.stack(
        [
            np.concatenate([arr.ravel() for arr in m.values() if arr.dtype.kind == "f"])
            for m in models
        ]
    ).astype(np.float64)
    return float(((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean())


def run_simulation(settings: SimulationSettings, **kwargs: Any) -> SimulationResult:
    """Build and run a :class:`Simulation`."""
    return Simulation(settings, **kwargs).run()

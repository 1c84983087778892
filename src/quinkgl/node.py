"""GossipNode: one gossip learning node on the real network.

It binds a :class:`~quinkgl.aggregation.ModelAggregator` (the sans-I/O cycle) to a model, a
topology and the ipv8 transport, and drives it with asyncio: training runs in a worker thread so
the node keeps answering the network while it trains.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from quinkgl.aggregation import AggregationStrategy, AggregatorSettings, FedAvg, ModelAggregator
from quinkgl.errors import ConfigurationError, TransportError
from quinkgl.models.base import (
    ModelWrapper,
    TrainingConfig,
    as_training_arrays,
    scheduled_learning_rate,
)
from quinkgl.models.pytorch import mix_seed
from quinkgl.topology import PeerInfo, RandomTopology, Topology
from quinkgl.transport.base import Transport

logger = logging.getLogger(__name__)

Address = tuple[str, int]


def domain_seed(domain: str) -> int:
    """A seed derived from the domain name: every node of a domain derives the same one."""
    return (
        int.from_bytes(hashlib.sha256(b"quinkgl/init/1/" + domain.encode()).digest()[:8], "big")
        >> 1
    )


@dataclass(frozen=True)
class NodeSettings:
    """How a node gossips.

    Attributes:
        host: address to bind and advertise (loopback by default; "0.0.0.0" for all interfaces).
        gossip_interval: shortest time between the starts of two rounds (seconds).
        fanout: peers each round's model is sent to.
        lr_schedule: "constant", or "cosine" over ``rounds`` when a round count is given.
        lr_floor: final learning rate of the cosine schedule, as a share of the initial one.
        shared_init: redraw the model from a seed derived from the domain at start, so that every
            node starts from the same model (needed for averaging to make sense).
        compression: "none" or "zstd" for models on the wire.
        chunk_size: transfer chunk size (about 1,200 for the internet, up to 60,000 on a LAN).
        key_file: keep the node's identity across restarts.
        peer_timeout: a peer silent this long is evicted and its transfers freed (seconds).
    """

    host: str = "127.0.0.1"
    gossip_interval: float = 1.0
    fanout: int = 2
    lr_schedule: str = "constant"
    lr_floor: float = 0.05
    shared_init: bool = True
    compression: str = "none"
    chunk_size: int = 1200
    key_file: str | None = None
    peer_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.gossip_interval < 0:
            raise ConfigurationError("gossip_interval must be >= 0")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigurationError("lr_schedule must be 'constant' or 'cosine'")


class GossipNode:
    """A gossip learning node.

    Args:
        node_id: a human-readable name for logs (the network identity is the node's key).
        domain: nodes of the same domain learn together; other domains never see its models.
        model: the model to train (a :class:`PyTorchModel` or :class:`TensorFlowModel`).
        topology: peer sampling (default :class:`RandomTopology`).
        aggregation: how models merge (default ``FedAvg("data_size")``).
        training_config: local training per round.
        port: UDP port (0 picks a free one).
        bootstrap: ``(host, port)`` of nodes to join through.
        settings: everything else (:class:`NodeSettings`).
    """

    def __init__(
        self,
        node_id: str,
        domain: str,
        model: ModelWrapper,
        topology: Topology | None = None,
        aggregation: AggregationStrategy | None = None,
        training_config: TrainingConfig | None = None,
        port: int = 0,
        bootstrap: Sequence[Address] = (),
        settings: NodeSettings | None = None,
    ) -> None:
        if not isinstance(model, ModelWrapper):
            raise ConfigurationError(
                f"model must be a ModelWrapper such as PyTorchModel, got {type(model).__name__}"
            )
        self.node_id = node_id
        self.domain = domain
        self.model = model
        self.topology = topology or RandomTopology(liveness_timeout=None)
        self.strategy = aggregation or FedAvg()
        self.training_config = training_config or TrainingConfig()
        self.port = port
        self.bootstrap = tuple((str(h), int(p)) for h, p in bootstrap)
        self.settings = settings or NodeSettings()
        self.transport: Any = None
        self.aggregator: ModelAggregator | None = None
        self.history: list[dict[str, Any]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._started = False
        self._known_peers: set[str] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, transport: Transport | None = None) -> None:
        """Bind the network and start discovery.  ``transport`` replaces the ipv8 one (tests)."""
        if self._started:
            return
        if self.settings.shared_init:
            self.model.reinitialize(domain_seed(self.domain))
        if transport is None:
            from quinkgl.transport.ipv8 import IPv8Settings, IPv8Transport
            from quinkgl.transport.transfer import TransferSettings

            transport = IPv8Transport(
                self.domain,
                IPv8Settings(
                    host=self.settings.host,
                    port=self.port,
                    bootstrap=self.bootstrap,
                    transfer=TransferSettings(chunk_size=self.settings.chunk_size),
                    key_file=self.settings.key_file,
                    ping_after=self.settings.peer_timeout / 3,
                    peer_timeout=self.settings.peer_timeout,
                ),
            )
            await transport.start()
        self.transport = transport
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"quinkgl-train-{self.node_id}"
        )
        self._started = True
        self._stopping.clear()
        self._tasks.append(
            asyncio.get_running_loop().create_task(self._sync_peers(), name="quinkgl-peers")
        )
        logger.info("node %s started", self.node_id)

    @property
    def address(self) -> Address:
        """Where other nodes can reach this one (for their ``bootstrap``)."""
        self._require_started()
        host, port = self.transport.address
        return str(host), int(port)

    @property
    def peer_id(self) -> str:
        self._require_started()
        return str(self.transport.local_id)

    def _require_started(self) -> None:
        if not self._started:
            raise ConfigurationError("call 'await node.start()' first")

    async def stop(self) -> None:
        """Stop gossiping, close the network and wait for training to finish; idempotent."""
        if not self._started:
            return
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.transport.close()
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
            self._executor = None
        self._started = False
        logger.info("node %s stopped", self.node_id)

    async def __aenter__(self) -> GossipNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the learning loop ------------------------------------------------------------------------

    def _make_aggregator(self, num_samples: int) -> ModelAggregator:
        self.topology.bind(PeerInfo(self.peer_id, self.address))
        aggregator = ModelAggregator(
            self.peer_id,
            self.model.get_weights(),
            num_samples=num_samples,
            strategy=self.strategy,
            topology=self.topology,
            settings=AggregatorSettings(
                fanout=self.settings.fanout, compression=self.settings.compression
            ),
        )
        self.transport.set_receiver(self._on_message)
        return aggregator

    async def wait_for_peers(self, count: int, timeout: float) -> int:
        """Wait until at least ``count`` peers are known or ``timeout`` seconds pass; return how
        many are known.  Useful to start a swarm's rounds together."""
        self._require_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.transport.peers()) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return len(self.transport.peers())

    async def run_continuous(
        self,
        data: Any,
        rounds: int | None = None,
        duration: float | None = None,
        eval_data: Any = None,
        on_round: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train, gossip and merge until ``rounds`` rounds or ``duration`` seconds have passed
        (or :meth:`stop`).  With neither, runs until stopped.  Returns the per-round records.

        Args:
            data: this node's ``(X, y)`` training data.
            eval_data: an optional held-out ``(X, y)``; each round's record then has its accuracy.
            on_round: called with each round's record (progress display).
        """
        self._require_started()
        features, labels = as_training_arrays(data)
        if rounds is not None and rounds < 1:
            raise ConfigurationError(f"rounds must be >= 1 or None, got {rounds}")
        if self.aggregator is None:
            self.aggregator = self._make_aggregator(len(labels))
        agg = self.aggregator
        loop = asyncio.get_running_loop()
        started = loop.time()
        index = 0
        while not self._stopping.is_set():
            if rounds is not None and index >= rounds:
                break
            if duration is not None and loop.time() - started >= duration:
                break
            round_start = loop.time()
            self._refresh_peers()
            config = replace(
                self.training_config,
                learning_rate=scheduled_learning_rate(
                    self.training_config.learning_rate,
                    self.settings.lr_schedule,
                    self.settings.lr_floor,
                    index,
                    rounds,
                ),
            )
            weights = agg.begin_round()
            self.model.set_weights(weights)
            round_seed = mix_seed(index, zlib.crc32(self.peer_id.encode()))
            result = await loop.run_in_executor(
                self._executor, self.model.train, (features, labels), config, round_seed
            )
            self._send(agg.finish_round(self.model.get_weights(), time.time()))
            index += 1
            record: dict[str, Any] = {
                "round": len(self.history) + 1,
                "time": loop.time() - started,
                "train_loss": result.loss,
                "peers": len(self.transport.peers()),
                "merged_updates": agg.stats["merged_updates"],
            }
            if eval_data is not None:
                metrics = await loop.run_in_executor(self._executor, self.model.evaluate, eval_data)
                record["accuracy"] = metrics["accuracy"]
                record["loss"] = metrics["loss"]
            self.history.append(record)
            if on_round is not None:
                on_round(record)
            logger.info("%s round %d: %s", self.node_id, record["round"], record)
            remaining = self.settings.gossip_interval - (loop.time() - round_start)
            if remaining > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), remaining)
        self.model.set_weights(agg.weights)
        return self.history

    def _send(self, outgoing: Sequence[Any]) -> None:
        for out in outgoing:
            try:
                self.transport.send(out.peer_id, out.data)
            except TransportError as exc:
                logger.debug("could not send to %s: %s", out.peer_id[:12], exc)
                if self.aggregator is not None:
                    self.aggregator.peer_lost(out.peer_id)
                introduce = getattr(self.transport, "introduce", None)
                if out.address is not None and introduce is not None:
                    introduce(out.address)  # a peer known from gossip (Cyclon): go and meet it

    def _on_message(self, sender: str, data: bytes) -> None:
        if self.aggregator is not None:
            self._send(self.aggregator.receive(sender, data, time.time()))

    def _refresh_peers(self) -> None:
        """Tell the topology which peers the transport gained and lost since last time."""
        if self.aggregator is None:
            return
        current = set(self.transport.peers())
        now = time.time()
        address_of = getattr(self.transport, "peer_address", lambda peer: None)
        for peer in current - self._known_peers:
            self.aggregator.peer_seen(PeerInfo(peer, address_of(peer)), now)
        for peer in self._known_peers - current:
            self.aggregator.peer_lost(peer)
        self._known_peers = current

    async def _sync_peers(self) -> None:
        while True:
            self._refresh_peers()
            if self.aggregator is not None:
                self._send(self.aggregator.tick(time.time()))
            await asyncio.sleep(0.5)

    # -- reporting ------------------------------------------------------------------------------

    def _transport_stats(self) -> dict[str, int]:
        stats = dict(getattr(self.transport, "stats", {}))
        community = getattr(self.transport, "_community", None)
        if community is not None:
            stats.update(community.stats)
            stats.update({f"transfer_{k}": v for k, v in self.transport.engine.stats.items()})
        return stats

    def summary(self) -> dict[str, Any]:
        """Counters of this node: rounds, merges, refusals by reason, transport figures."""
        agg = self.aggregator
        return {
            "node": self.node_id,
            "peer_id": self.peer_id if self._started else None,
            "rounds": len(self.history),
            "aggregator": dict(agg.stats) if agg else {},
            "rejections": dict(agg.rejections) if agg else {},
            "accepted_from": dict(agg.accepted_from) if agg else {},
            "peers": list(self.transport.peers()) if self._started else [],
            "transport": self._transport_stats(),
        }


__all__ = ["GossipNode", "NodeSettings", "domain_seed"]

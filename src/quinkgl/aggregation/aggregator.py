"""The train -> gossip -> aggregate cycle of one node, as a sans-I/O core.

:class:`ModelAggregator` holds the local model (as numpy weights) and the updates waiting to be
merged.  It decides what to send and to whom, validates what arrives and merges it; it never
opens a socket, sleeps or awaits.  A driver (the simulator, or :class:`quinkgl.GossipNode` over
ipv8) moves its bytes and runs training between :meth:`begin_round` and :meth:`finish_round`::

    weights = agg.begin_round()              # merge what arrived since last round
    model.set_weights(weights); model.train(data, config)
    for out in agg.finish_round(model.get_weights(), now):
        transport.send(out.peer_id, out.data)
    ...
    for out in agg.receive(sender, data, now):   # whenever bytes arrive
        transport.send(out.peer_id, out.data)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from quinkgl import protocol
from quinkgl.aggregation.strategies import AggregationStrategy, FedAvg
from quinkgl.aggregation.update import ModelUpdate
from quinkgl.codec import DEFAULT_MAX_BYTES, decode_weights, encode_weights
from quinkgl.errors import (
    CodecError,
    ConfigurationError,
    FingerprintMismatchError,
    FrameTooLargeError,
    NonFiniteTensorError,
    NonFiniteWeightsError,
    ShapeMismatchError,
    UnsupportedDtypeError,
    UpdateRejected,
)
from quinkgl.models.base import Weights, architecture_spec, check_finite
from quinkgl.topology import PeerInfo, RandomTopology, Topology
from quinkgl.topology.peer import Address

logger = logging.getLogger(__name__)

# Stable keys under which refusals are counted.
REASONS = (
    "malformed",
    "too_large",
    "bad_dtype",
    "architecture",
    "non_finite",
    "bad_metadata",
    "duplicate",
    "stale",
    "self",
    "overflow",
)


MAX_TRACKED_SENDERS = 4096


@dataclass(frozen=True)
class AggregatorSettings:
    """How a node gossips.

    Attributes:
        fanout: peers a node sends its model to after each round.
        max_pending: distinct senders whose updates may wait for the next merge; beyond it the
            oldest waiting update is dropped (memory stays bounded whatever peers send).
        max_frame_bytes: largest model frame accepted.
        max_sample_ratio: a sender's claimed sample count is capped at this multiple of ours,
            so one peer cannot dominate an average by claiming a huge dataset.
        compression: ``"none"`` or ``"zstd"`` for outgoing models.
    """

    fanout: int = 1
    max_pending: int = 64
    max_frame_bytes: int = DEFAULT_MAX_BYTES
    max_sample_ratio: float = 10.0
    compression: str = "none"

    def __post_init__(self) -> None:
        if self.fanout < 1:
            raise ConfigurationError(f"fanout must be >= 1, got {self.fanout}")
        if self.max_pending < 1:
            raise ConfigurationError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.max_sample_ratio <= 0:
            raise ConfigurationError(f"max_sample_ratio must be > 0, got {self.max_sample_ratio}")


@dataclass(frozen=True)
class Outgoing:
    """Bytes the driver should send to a peer (delivery is never guaranteed)."""

    peer_id: str
    data: bytes
    kind: int = protocol.MODEL
    address: Address | None = None


class ModelAggregator:
    """One node's gossip learning state machine.

    Args:
        node_id: this node's peer id.
        initial_weights: the shared initial model (every node of a domain starts from the same).
        num_samples: how many samples this node trains on.
        strategy: how models merge; ``FedAvg("data_size")`` by default.
        topology: whom to gossip with; ``RandomTopology()`` by default.
        settings: limits and fanout.
        rng: all of this node's random choices (peer picks, incarnation) come from it.
    """

    def __init__(
        self,
        node_id: str,
        initial_weights: Mapping[str, np.ndarray],
        num_samples: int,
        strategy: AggregationStrategy | None = None,
        topology: Topology | None = None,
        settings: AggregatorSettings | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if num_samples < 1:
            raise ConfigurationError(f"num_samples must be >= 1, got {num_samples}")
        weights = {name: np.array(arr, copy=True) for name, arr in initial_weights.items()}
        check_finite(weights)
        self.node_id = node_id
        self.num_samples = num_samples
        self.strategy = strategy or FedAvg()
        self.topology = topology or RandomTopology()
        self.settings = settings or AggregatorSettings()
        self.rng = rng if rng is not None else np.random.default_rng()
        self.incarnation = f"{int(self.rng.integers(0, 2**62)):x}"
        bound = self.topology.self_peer
        if bound is None or bound.peer_id != node_id:
            self.topology.bind(PeerInfo(node_id, data_size=num_samples))
        self._weights: Weights = weights
        self._spec = architecture_spec(weights)
        self.age = 0
        self.version = 0
        self.round = 0
        self.pending: dict[str, ModelUpdate] = {}
        self._last_seen_model: dict[str, tuple[str, int]] = {}
        self.stats: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.accepted_from: Counter[str] = Counter()  # models accepted per sender (bounded)
        self._logged_reasons: set[str] = set()

    # -- the local model ------------------------------------------------------------------------

    @property
    def weights(self) -> Weights:
        """The current local model (do not modify in place)."""
        return self._weights

    def local_update(self) -> ModelUpdate:
        return ModelUpdate(
            sender=self.node_id,
            weights=self._weights,
            num_samples=self.num_samples,
            age=self.age,
            model_id=f"{self.incarnation}:{self.version}",
            round=self.round,
        )

    def begin_round(self) -> Weights:
        """Merge every waiting update into the local model; return the weights to train from."""
        if self.pending:
            updates = [self.pending[sender] for sender in sorted(self.pending)]
            self.pending.clear()
            self._weights = self.strategy.aggregate(self.local_update(), updates)
            self.age = max([self.age, *(u.age for u in updates)])
            self.version += 1
            self.stats["merges"] += 1
            self.stats["merged_updates"] += len(updates)
        return self._weights

    def finish_round(self, trained: Mapping[str, np.ndarray], now: float) -> list[Outgoing]:
        """Adopt the weights local training produced and gossip them to ``fanout`` peers."""
        candidate = {name: np.asarray(arr) for name, arr in trained.items()}
        if architecture_spec(candidate) != self._spec:
            raise ConfigurationError("training returned weights of another architecture")
        try:
            check_finite(candidate)
        except NonFiniteWeightsError:
            self._count("local_non_finite", self.node_id, "local training produced NaN/Inf")
        else:
            self._weights = candidate
            self.age += 1
            self.version += 1
        self.round += 1
        return self.gossip(now)

    def gossip(self, now: float) -> list[Outgoing]:
        """Send the current model to ``fanout`` peers picked by the topology."""
        peers = self.topology.select_peers(self.settings.fanout, self.rng)
        if not peers:
            self.stats["no_peer"] += 1
            return []
        data = self.encode_local()
        self.stats["models_sent"] += len(peers)
        self.stats["model_bytes_sent"] += len(data) * len(peers)
        return [Outgoing(p.peer_id, data, protocol.MODEL, p.address) for p in peers]

    def encode_local(self) -> bytes:
        update = self.local_update()
        meta = {
            "samples": update.num_samples,
            "age": update.age,
            "incarnation": self.incarnation,
            "version": self.version,
            "round": update.round,
        }
        frame = encode_weights(update.weights, meta, self.settings.compression)
        return protocol.pack(protocol.MODEL, frame)

    # -- the network ------------------------------------------------------------------------

    def tick(self, now: float) -> list[Outgoing]:
        """Periodic topology work (Cyclon shuffles)."""
        return self._wrap_topology(self.topology.tick(now, self.rng))

    def peer_seen(self, peer: PeerInfo, now: float) -> None:
        self.topology.peer_seen(peer, now)

    def peer_lost(self, peer_id: str) -> None:
        self.topology.peer_lost(peer_id)
        self.pending.pop(peer_id, None)

    def receive(self, sender: str, data: bytes, now: float) -> list[Outgoing]:
        """Handle bytes from ``sender`` (the transport-verified id).  Bad input is counted,
        logged once per reason and dropped; it never raises."""
        if sender == self.node_id:
            self._count("self", sender, "message from our own id")
            return []
        try:
            kind, body = protocol.unpack(data)
        except CodecError as exc:
            self._count("malformed", sender, str(exc))
            return []
        if kind == protocol.TOPOLOGY:
            try:
                message = protocol.parse_topology(body)
            except CodecError as exc:
                self._count("malformed", sender, str(exc))
                return []
            self.stats["topology_received"] += 1
            return self._wrap_topology(self.topology.handle(sender, message, now, self.rng))
        try:
            update = self._decode_update(sender, body)
            self.accept(update)
        except UpdateRejected as exc:
            self._count(exc.reason, sender, exc.detail)
            return []
        self.topology.peer_seen(PeerInfo(sender, data_size=update.num_samples), now)
        return []

    def accept(self, update: ModelUpdate) -> None:
        """Queue a decoded update for the next merge, or raise :class:`UpdateRejected`."""
        if architecture_spec(update.weights) != self._spec:
            raise UpdateRejected("architecture", "weights of another architecture")
        for name, arr in update.weights.items():
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise UpdateRejected("non_finite", f"tensor {name!r} has NaN/Inf")
        incarnation, _, version_text = update.model_id.partition(":")
        version = int(version_text) if version_text.isdigit() else -1
        last = self._last_seen_model.get(update.sender)
        if last is not None and last[0] == incarnation:
            if version == last[1]:
                raise UpdateRejected("duplicate", f"model {update.model_id} already received")
            if version < last[1]:
                raise UpdateRejected("stale", f"model {update.model_id} older than {last[1]}")
        self._last_seen_model[update.sender] = (incarnation, version)
        if update.sender in self.pending:
            self.stats["superseded"] += 1
        elif len(self.pending) >= self.settings.max_pending:
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            self._count("overflow", oldest, "pending queue full; dropped the oldest update")
        self.pending.pop(update.sender, None)
        self.pending[update.sender] = update
        self.stats["models_accepted"] += 1
        if update.sender in self.accepted_from or len(self.accepted_from) < MAX_TRACKED_SENDERS:
            self.accepted_from[update.sender] += 1

    def _decode_update(self, sender: str, body: bytes) -> ModelUpdate:
        try:
            frame = decode_weights(body, self._weights, max_bytes=self.settings.max_frame_bytes)
        except FrameTooLargeError as exc:
            raise UpdateRejected("too_large", str(exc)) from None
        except UnsupportedDtypeError as exc:
            raise UpdateRejected("bad_dtype", str(exc)) from None
        except (ShapeMismatchError, FingerprintMismatchError) as exc:
            raise UpdateRejected("architecture", str(exc)) from None
        except NonFiniteTensorError as exc:
            raise UpdateRejected("non_finite", str(exc)) from None
        except CodecError as exc:
            raise UpdateRejected("malformed", str(exc)) from None
        meta = frame.metadata
        samples = _count_field(meta, "samples")
        age = _count_field(meta, "age")
        version = _count_field(meta, "version")
        sent_round = _count_field(meta, "round")
        incarnation = meta.get("incarnation")
        if not isinstance(incarnation, str) or not 0 < len(incarnation) <= 32:
            raise UpdateRejected("bad_metadata", "incarnation must be a short string")
        cap = max(1, int(self.settings.max_sample_ratio * self.num_samples))
        if samples > cap:
            self.stats["samples_capped"] += 1
        return ModelUpdate(
            sender=sender,
            weights=frame.weights,
            num_samples=max(1, min(samples, cap)),
            age=age,
            model_id=f"{incarnation}:{version}",
            round=sent_round,
        )

    def _wrap_topology(self, messages: list[tuple[str, dict[str, object]]]) -> list[Outgoing]:
        out = [
            Outgoing(peer, protocol.pack_topology(body), protocol.TOPOLOGY)
            for peer, body in messages
        ]
        self.stats["topology_sent"] += len(out)
        self.stats["topology_bytes_sent"] += sum(len(o.data) for o in out)
        return out

    def _count(self, reason: str, sender: str, detail: str) -> None:
        self.rejections[reason] += 1
        if reason not in self._logged_reasons:
            self._logged_reasons.add(reason)
            logger.warning(
                "%s: refused input from %s (%s): %s; further refusals for this reason are "
                "counted, not logged",
                self.node_id,
                sender,
                reason,
                detail,
            )
        else:
            logger.debug("%s: refused input from %s (%s): %s", self.node_id, sender, reason, detail)


def _count_field(meta: Mapping[str, object], key: str) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpdateRejected("bad_metadata", f"{key} must be an integer >= 0, got {value!r}")
    return value

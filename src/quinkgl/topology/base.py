"""The interface every peer-sampling topology implements.

A topology is sans-I/O: it is told which peers were seen or lost, it picks peers with the RNG it
is handed, and a topology that talks to peers (Cyclon) returns its messages as ``(peer_id, dict)``
pairs for the caller to send.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from quinkgl.errors import ConfigurationError
from quinkgl.topology.peer import PeerInfo

TopologyMessage = tuple[str, dict[str, Any]]
"""A message a topology wants sent: destination peer id and a JSON-able body."""


class Topology(ABC):
    """Chooses whom a node gossips with."""

    name = "topology"

    def __init__(self) -> None:
        self.self_peer: PeerInfo | None = None

    def bind(self, self_peer: PeerInfo) -> None:
        """Tell the topology which node it serves (called once by the node)."""
        self.self_peer = self_peer

    @property
    def self_id(self) -> str:
        if self.self_peer is None:
            raise ConfigurationError("the topology is not bound to a node yet")
        return self.self_peer.peer_id

    @abstractmethod
    def peer_seen(self, peer: PeerInfo, now: float) -> None:
        """A peer was discovered or heard from."""

    @abstractmethod
    def peer_lost(self, peer_id: str) -> None:
        """A peer is known to be gone (timed out, left)."""

    @abstractmethod
    def live_peers(self) -> list[PeerInfo]:
        """Peers currently considered alive and selectable."""

    def select_peers(self, k: int, rng: np.random.Generator) -> list[PeerInfo]:
        """Up to ``k`` distinct live peers, uniformly at random."""
        peers = self.live_peers()
        if k >= len(peers):
            return list(peers)
        picks = rng.choice(len(peers), size=k, replace=False)
        return [peers[int(i)] for i in picks]

    def tick(self, now: float, rng: np.random.Generator) -> list[TopologyMessage]:
        """Periodic work; returns messages to send.  Passive topologies send nothing."""
        return []

    def handle(
        self, sender: str, message: dict[str, Any], now: float, rng: np.random.Generator
    ) -> list[TopologyMessage]:
        """A topology message from ``sender``; returns replies.  Passive topologies ignore it."""
        return []

"""Uniform random peer selection among live known peers."""

from __future__ import annotations

from quinkgl.errors import ConfigurationError
from quinkgl.topology.base import Topology
from quinkgl.topology.peer import PeerInfo


class RandomTopology(Topology):
    """Pick peers uniformly among those known and alive.

    Args:
        liveness_timeout: a peer not heard from for this many seconds is no longer picked
            (``None``: peers stay until reported lost).
        max_peers: remember at most this many peers; beyond it the least recently seen is
            forgotten, which caps memory when discovery is generous.
    """

    name = "random"

    def __init__(self, liveness_timeout: float | None = None, max_peers: int = 10_000) -> None:
        super().__init__()
        if liveness_timeout is not None and liveness_timeout <= 0:
            raise ConfigurationError(f"liveness_timeout must be > 0, got {liveness_timeout}")
        if max_peers < 1:
            raise ConfigurationError(f"max_peers must be >= 1, got {max_peers}")
        self.liveness_timeout = liveness_timeout
        self.max_peers = max_peers
        self._peers: dict[str, PeerInfo] = {}
        self._now = 0.0

    def peer_seen(self, peer: PeerInfo, now: float) -> None:
        self._now = max(self._now, now)
        if self.self_peer is not None and peer.peer_id == self.self_peer.peer_id:
            return
        known = self._peers.get(peer.peer_id)
        if known is None:
            if len(self._peers) >= self.max_peers:
                stalest = min(self._peers.values(), key=lambda p: p.last_seen)
                del self._peers[stalest.peer_id]
            known = self._peers[peer.peer_id] = PeerInfo(peer.peer_id)
        known.last_seen = max(known.last_seen, now)
        known.address = peer.address or known.address
        known.name = peer.name or known.name
        if peer.data_size is not None:
            known.data_size = peer.data_size

    def peer_lost(self, peer_id: str) -> None:
        self._peers.pop(peer_id, None)

    def live_peers(self) -> list[PeerInfo]:
        if self.liveness_timeout is None:
            return list(self._peers.values())
        horizon = self._now - self.liveness_timeout
        return [p for p in self._peers.values() if p.last_seen >= horizon]

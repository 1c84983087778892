"""Cyclon peer sampling (Voulgaris, Gavidia, van Steen: "CYCLON: Inexpensive Membership Management
for Unstructured P2P Overlays", Journal of Network and Systems Management, 2005).

Each node keeps a partial view of ``view_size`` entries, each with an age.  Every tick it ages its
entries, picks the oldest neighbour Q, and sends Q ``shuffle_length`` entries: a fresh one pointing
at itself plus ``shuffle_length - 1`` random others, removing Q from its view.  Q answers with up
to ``shuffle_length`` random entries of its own; both sides merge what they received, filling empty
slots first and then replacing the entries they sent.  A dead neighbour is dropped the moment it
is shuffled with and never answers, so dead entries are purged within a few rounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quinkgl.errors import ConfigurationError
from quinkgl.topology.base import Topology, TopologyMessage
from quinkgl.topology.peer import Address, PeerInfo

REQUEST = "cyclon/request"
RESPONSE = "cyclon/response"
MAX_ID_LENGTH = 128
MAX_AGE = 1_000_000


class CyclonTopology(Topology):
    """Cyclon partial view with periodic shuffles exchanged as messages.

    Args:
        view_size: ``c``, the number of neighbours kept.
        shuffle_length: ``l``, entries exchanged per shuffle (``1 <= l <= c``).
    """

    name = "cyclon"

    def __init__(self, view_size: int = 20, shuffle_length: int = 5) -> None:
        super().__init__()
        if view_size < 1:
            raise ConfigurationError(f"view_size must be >= 1, got {view_size}")
        if not 1 <= shuffle_length <= view_size:
            raise ConfigurationError(
                f"shuffle_length must be in 1..view_size ({view_size}), got {shuffle_length}"
            )
        self.view_size = view_size
        self.shuffle_length = shuffle_length
        self.view: dict[str, PeerInfo] = {}
        self._sent: dict[str, list[str]] = {}  # shuffle partner -> ids we sent it

    # -- membership -------------------------------------------------------------------------

    def peer_seen(self, peer: PeerInfo, now: float) -> None:
        """Known peers are refreshed; a new one joins the view only while there is room."""
        if peer.peer_id == self.self_id:
            return
        entry = self.view.get(peer.peer_id)
        if entry is not None:
            entry.last_seen = max(entry.last_seen, now)
            entry.address = peer.address or entry.address
        elif len(self.view) < self.view_size:
            self.view[peer.peer_id] = PeerInfo(peer.peer_id, peer.address, now, 0, peer.data_size)

    def peer_lost(self, peer_id: str) -> None:
        self.view.pop(peer_id, None)

    def live_peers(self) -> list[PeerInfo]:
        return list(self.view.values())

    # -- shuffling --------------------------------------------------------------------------

    def tick(self, now: float, rng: np.random.Generator) -> list[TopologyMessage]:
        """Start one shuffle with the oldest neighbour (steps 1-4 of the protocol)."""
        if not self.view:
            return []
        for entry in self.view.values():
            entry.age += 1
        target = max(self.view.values(), key=lambda e: (e.age, e.peer_id))
        del self.view[target.peer_id]
        others = self._sample(self.shuffle_length - 1, rng)
        self._sent[target.peer_id] = [e.peer_id for e in others]
        fresh = PeerInfo(self.self_id, self.self_peer.address if self.self_peer else None)
        body = {"type": REQUEST, "entries": _dump([fresh, *others])}
        # Bound what we remember about outstanding shuffles: one per partner, at most c.
        while len(self._sent) > self.view_size:
            self._sent.pop(next(iter(self._sent)))
        return [(target.peer_id, body)]

    def handle(
        self, sender: str, message: dict[str, Any], now: float, rng: np.random.Generator
    ) -> list[TopologyMessage]:
        kind = message.get("type")
        entries = _load(message.get("entries"), self.shuffle_length)
        if kind == REQUEST:
            reply = self._sample(self.shuffle_length, rng, exclude=sender)
            self._merge(entries, [e.peer_id for e in reply])
            return [(sender, {"type": RESPONSE, "entries": _dump(reply)})]
        if kind == RESPONSE:
            self._merge(entries, self._sent.pop(sender, []))
        return []

    def _sample(
        self, k: int, rng: np.random.Generator, exclude: str | None = None
    ) -> list[PeerInfo]:
        pool = [e for e in self.view.values() if e.peer_id != exclude]
        if k >= len(pool):
            return pool
        return [pool[int(i)] for i in rng.choice(len(pool), size=k, replace=False)]

    def _merge(self, received: list[PeerInfo], sent_ids: list[str]) -> None:
        """Steps 6-7: drop entries for ourselves or already known, fill empty slots, then
        replace entries we sent."""
        replaceable = [pid for pid in sent_ids if pid in self.view]
        for entry in received:
            if entry.peer_id == self.self_id or entry.peer_id in self.view:
                continue
            if len(self.view) >= self.view_size:
                if not replaceable:
                    continue
                del self.view[replaceable.pop()]
            self.view[entry.peer_id] = entry


def _dump(entries: list[PeerInfo]) -> list[list[Any]]:
    return [[e.peer_id, e.age, list(e.address) if e.address else None] for e in entries]


def _load(raw: Any, limit: int) -> list[PeerInfo]:
    """Validate entries from the wire; malformed ones are skipped, at most ``limit`` kept."""
    if not isinstance(raw, list):
        return []
    entries: list[PeerInfo] = []
    for item in raw[:limit]:
        if not (isinstance(item, list) and len(item) == 3):
            continue
        peer_id, age, address = item
        if not (isinstance(peer_id, str) and 0 < len(peer_id) <= MAX_ID_LENGTH):
            continue
        if not (isinstance(age, int) and 0 <= age <= MAX_AGE):
            continue
        entries.append(PeerInfo(peer_id, _address(address), 0.0, age))
    return entries


def _address(raw: Any) -> Address | None:
    if (
        isinstance(raw, list)
        and len(raw) == 2
        and isinstance(raw[0], str)
        and len(raw[0]) <= 64
        and isinstance(raw[1], int)
        and 0 < raw[1] < 65536
    ):
        return (raw[0], raw[1])
    return None

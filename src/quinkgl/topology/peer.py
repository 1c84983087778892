"""What a node knows about one peer."""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]


@dataclass
class PeerInfo:
    """A peer as seen from one node.

    Attributes:
        peer_id: the peer's stable identity (over ipv8, the hash of its verified public key).
        address: where to reach it, if the transport needs one.
        last_seen: when it was last heard from (transport time, seconds).
        age: Cyclon entry age, in shuffles since the entry was created by its subject.
        data_size: samples the peer last said it trains on, if known.
        name: a human-readable name the peer chose (not authenticated).
    """

    peer_id: str
    address: Address | None = None
    last_seen: float = 0.0
    age: int = 0
    data_size: int | None = None
    name: str | None = None

"""The transport port: bytes to a peer, bytes from a peer.  Delivery is never guaranteed.

A transport knows nothing of gossip: the node core decides what to send, the transport moves it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

Receiver = Callable[[str, bytes], None]
"""Called with (sender peer id, bytes) for every message that arrives."""


class Transport(ABC):
    """Moves opaque messages between peers of one learning domain."""

    @property
    @abstractmethod
    def local_id(self) -> str:
        """This endpoint's peer id, as other peers see it."""

    @abstractmethod
    def send(self, peer_id: str, data: bytes) -> None:
        """Send ``data`` to ``peer_id`` and return at once.  It may be lost, delayed or
        duplicated; an unknown peer or a closed transport raises :class:`TransportError`."""

    @abstractmethod
    def set_receiver(self, receiver: Receiver) -> None:
        """Register the one callback that receives incoming messages."""

    @abstractmethod
    def peers(self) -> list[str]:
        """Peer ids this transport can currently send to."""

    @abstractmethod
    async def close(self) -> None:
        """Stop sending and receiving; idempotent."""

"""Transport over py-ipv8: real UDP, signed messages, NAT puncturing, one overlay per domain."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ipv8.community import CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.discovery import RandomWalk
from ipv8.peerdiscovery.network import Network

from quinkgl.errors import ConfigurationError, TransportError
from quinkgl.transport.base import Receiver, Transport
from quinkgl.transport.ipv8.community import Address, GossipCommunity, peer_id_of
from quinkgl.transport.transfer import (
    Deliver,
    Finished,
    Message,
    Send,
    TransferEngine,
    TransferSettings,
)

logger = logging.getLogger(__name__)

HASH_IN_THREAD_BYTES = 1024 * 1024  # larger messages are hashed off the event loop


def parse_address(text: str) -> Address:
    """``"host:port"`` -> ``(host, port)``, with a clear error for anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


@dataclass(frozen=True)
class IPv8Settings:
    """How a node joins the network.

    Attributes:
        host: address to bind; a specific address (the default, loopback) is also what the node
            advertises, so nodes on one machine find each other.  ``"0.0.0.0"`` binds all
            interfaces and lets ipv8 estimate the address to advertise.
        port: UDP port (0: any free port).
        bootstrap: seed addresses to walk to; no public bootstrap servers are ever contacted.
        target_peers: below this many peers discovery ticks fast.
        fast_tick, slow_tick: discovery intervals below and at the target (seconds).
        ping_after: a peer silent this long is pinged (an introduction request).
        peer_timeout: a peer silent this long is evicted.
        small_message_bytes: messages up to this size travel as one signed datagram; larger
            ones as a chunked transfer.
        transfer: chunk size, caps and timeouts of large transfers.
        key_file: keep this node's identity (its Ed25519 key) in this file across restarts.
        socket_buffer: requested kernel buffer per direction (bytes).
    """

    host: str = "127.0.0.1"
    port: int = 0
    bootstrap: tuple[Address, ...] = ()
    target_peers: int = 20
    fast_tick: float = 0.1
    slow_tick: float = 1.0
    ping_after: float = 5.0
    peer_timeout: float = 15.0
    small_message_bytes: int = 1000
    transfer: TransferSettings = field(default_factory=TransferSettings)
    key_file: str | None = None
    socket_buffer: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ConfigurationError(f"port must be in 0..65535, got {self.port}")
        if self.peer_timeout <= self.ping_after:
            raise ConfigurationError("peer_timeout must be longer than ping_after")
        if not 0 < self.small_message_bytes <= 60_000:
            raise ConfigurationError("small_message_bytes must be in 1..60000")


class IPv8Transport(Transport):
    """A :class:`Transport` over py-ipv8 for one learning domain.

    ``await transport.start()`` binds the socket and starts discovery; ``send`` is
    fire-and-forget; :meth:`close` stops every task and closes the socket.
    """

    def __init__(
        self,
        domain: str,
        settings: IPv8Settings | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not domain:
            raise ConfigurationError(
                "a domain name is required: nodes of one domain learn together"
            )
        self.domain = domain
        self.settings = settings or IPv8Settings()
        self.rng = rng if rng is not None else np.random.default_rng()
        self.engine = TransferEngine(self.settings.transfer, self.rng)
        self.stats: Counter[str] = Counter()
        self._receiver: Receiver | None = None
        self.on_transfer_finished: Callable[[str, bool, str], None] | None = None
        """Called with (peer id, delivered, reason) when an outgoing transfer ends."""
        self._community: GossipCommunity | None = None
        self._endpoint: UDPEndpoint | None = None
        self._walker: RandomWalk | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._poll_handle: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._known: set[str] = set()
        self._closed = False
        self._peer: Peer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self._peer = Peer(self._load_key())
        options = [
            (socket.SOL_SOCKET, socket.SO_RCVBUF, s.socket_buffer),
            (socket.SOL_SOCKET, socket.SO_SNDBUF, s.socket_buffer),
        ]
        endpoint = UDPEndpoint(port=s.port, ip=s.host, sockopts=options)
        if not await endpoint.open():
            raise TransportError(f"cannot bind UDP {s.host}:{s.port} (in use or not allowed)")
        datagram_transport = getattr(endpoint, "_transport", None)
        if datagram_transport is not None and hasattr(datagram_transport, "max_size"):
            # asyncio reads each datagram into a fresh 256 KiB buffer by default; no UDP datagram
            # exceeds 64 KiB, and the smaller buffer stays off the mmap path (2-3x faster reads).
            datagram_transport.max_size = 65_536
        self._endpoint = endpoint
        community = GossipCommunity(
            CommunitySettings(my_peer=self._peer, endpoint=endpoint, network=Network()), self.domain
        )
        if s.host not in ("0.0.0.0", ""):
            # Advertise the bound address: otherwise ipv8 advertises a LAN address we do not
            # listen on, and peers on one machine never meet.
            community.my_estimated_lan = self.address
            community.my_estimated_wan = self.address
        community.on_datagram = self._deliver
        community.on_transfer_message = self._on_transfer_message
        self._community = community
        self._walker = RandomWalk(community, timeout=3.0, window_size=5, reset_chance=0)
        self._tasks.append(
            asyncio.get_running_loop().create_task(self._discovery(), name="quinkgl-discovery")
        )
        logger.info(
            "ipv8 transport for %r on %s:%s as %s", self.domain, *self.address, self.local_id[:12]
        )

    def _load_key(self) -> Any:
        path = Path(self.settings.key_file) if self.settings.key_file else None
        if path is not None and path.exists():
            return default_eccrypto.key_from_private_bin(path.read_bytes())
        key = default_eccrypto.generate_key("curve25519")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(key.key_to_bin())
            path.chmod(0o600)
        return key

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poll_handle is not None:
            self._poll_handle.cancel()
        for task in [*self._tasks, *self._sending]:
            task.cancel()
        for task in [*self._tasks, *self._sending]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._community is not None:
            await self._community.unload()
        if self._endpoint is not None:
            self._endpoint.close()

    # -- identity -------------------------------------------------------------------------------

    @property
    def local_id(self) -> str:
        if self._peer is None:
            raise TransportError("transport not started")
        return peer_id_of(self._peer.public_key.key_to_bin())

    @property
    def address(self) -> Address:
        if self._endpoint is None:
            raise TransportError("transport not started")
        host, port = self._endpoint.get_address()[:2]
        return str(host), int(port)

    @property
    def community(self) -> GossipCommunity:
        if self._community is None:
            raise TransportError("transport not started")
        return self._community

    # -- discovery and liveness -----------------------------------------------------------------

    async def _discovery(self) -> None:
        s = self.settings
        last_seed_walk = -1e9
        while True:
            peers = self.community.get_peers()
            now = time.monotonic()
            if len(peers) < s.target_peers:
                if s.bootstrap and (not peers or now - last_seed_walk > 5.0):
                    for seed in s.bootstrap:
                        if seed != self.address:
                            self.community.walk_to(seed)
                    last_seed_walk = now
                if self._walker is not None:
                    self._walker.take_step()
            self._check_liveness()
            await asyncio.sleep(s.fast_tick if len(peers) < s.target_peers else s.slow_tick)

    def _check_liveness(self) -> None:
        s = self.settings
        now = time.time()
        current: set[str] = set()
        for peer in self.community.get_peers():
            peer_id = peer_id_of(peer.public_key.key_to_bin())
            silent = now - peer.last_response if peer.last_response else 0.0
            if silent > s.peer_timeout:
                self._evict(peer, peer_id)
                continue
            if silent > s.ping_after:
                self.community.send_introduction_request(peer)
            self.community.freeze(peer_id, (str(peer.address[0]), int(peer.address[1])))
            current.add(peer_id)
        self._known = current

    def _evict(self, peer: Peer, peer_id: str) -> None:
        self.community.network.remove_peer(peer)
        self.community.forget(peer_id)
        self.stats["peers_evicted"] += 1
        self._execute(self.engine.drop_peer(peer_id))
        logger.info("evicted silent peer %s", peer_id[:12])

    def peer_address(self, peer_id: str) -> Address | None:
        """Where ``peer_id`` is reached, if known."""
        return self._community.address_of(peer_id) if self._community is not None else None

    def introduce(self, address: Address) -> None:
        """Walk to ``address`` (a peer learnt of through gossip, e.g. a Cyclon entry) so that
        ipv8 verifies it and it becomes reachable.  Harmless if nobody answers there."""
        if not self._closed and self._community is not None and address != self.address:
            self.community.walk_to((str(address[0]), int(address[1])))
            self.stats["introductions_attempted"] += 1

    def peers(self) -> list[str]:
        return sorted(self._known) if self._community is not None else []

    # -- messages -------------------------------------------------------------------------------

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def send(self, peer_id: str, data: bytes) -> None:
        if self._closed or self._community is None:
            raise TransportError("transport is closed" if self._closed else "transport not started")
        address = self.community.address_of(peer_id)
        if address is None:
            raise TransportError(f"unknown peer {peer_id[:16]!r}")
        if len(data) <= self.settings.small_message_bytes:
            nonce = int(self.rng.integers(0, 2**63))
            self.community.send_datagram(address, nonce, data)
            self.stats["datagrams_sent"] += 1
            return
        if len(data) < HASH_IN_THREAD_BYTES:
            self._execute(self.engine.send(peer_id, data, time.monotonic()))
            return
        task = asyncio.get_running_loop().create_task(self._send_large(peer_id, bytes(data)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_large(self, peer_id: str, data: bytes) -> None:
        """Hash a large message in a worker thread (hashlib releases the GIL), then send it."""
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).digest())
        if not self._closed:
            self._execute(self.engine.send(peer_id, data, time.monotonic(), digest))

    def _on_transfer_message(self, peer_id: str, message: Message) -> None:
        self._execute(self.engine.handle(peer_id, message, time.monotonic()))

    def _execute(self, actions: Sequence[object]) -> None:
        for action in actions:
            if isinstance(action, Send):
                address = self.community.address_of(str(action.peer))
                if address is not None and not self._closed:
                    self.community.send_transfer_message(address, action.message)
            elif isinstance(action, Deliver):
                self._deliver(str(action.peer), action.data)
            elif isinstance(action, Finished):
                self.stats[
                    "transfers_ok" if action.ok else f"transfers_failed_{action.reason}"
                ] += 1
                if self.on_transfer_finished is not None:
                    self.on_transfer_finished(str(action.peer), action.ok, action.reason)
        self._schedule_poll()

    def _deliver(self, peer_id: str, data: bytes | bytearray) -> None:
        self.stats["messages_received"] += 1
        if self._receiver is None:
            return
        try:
            self._receiver(peer_id, data)  # type: ignore[arg-type]  # bytes-like, read-only
        except Exception:  # a receiver bug must not kill the network loop
            logger.exception("message handler failed on a message from %s", peer_id[:12])

    def _schedule_poll(self) -> None:
        if self._poll_handle is None and self.engine.active and not self._closed:
            loop = asyncio.get_running_loop()
            self._poll_handle = loop.call_later(0.002, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        self._execute(self.engine.poll(time.monotonic()))

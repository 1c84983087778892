"""An in-memory network in virtual time, for tests and simulation.

Messages cross it as the real encoded bytes, so byte counts are honest.  Latency, uplink
bandwidth, loss, duplication, partitions and churn (nodes going offline and back) are modelled
and seeded: the same seed gives the same deliveries in the same order.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from quinkgl.errors import ConfigurationError, TransportError
from quinkgl.transport.base import Receiver, Transport


class VirtualClock:
    """A discrete-event clock: callbacks run in time order, ties in scheduling order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def schedule(self, at: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (max(at, self.now), next(self._seq), callback))

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.schedule(self.now + delay, callback)

    def run_until(self, until: float, max_events: int = 10_000_000) -> int:
        """Run every event due up to ``until`` (inclusive); return how many ran."""
        ran = 0
        while self._queue and self._queue[0][0] <= until:
            if ran >= max_events:
                raise TransportError(f"more than {max_events} events before t={until}")
            at, _, callback = heapq.heappop(self._queue)
            self.now = at
            callback()
            ran += 1
        self.now = max(self.now, until)
        return ran

    def run_until_idle(self, max_events: int = 10_000_000) -> int:
        """Run until no event is left (bounded by ``max_events``)."""
        ran = 0
        while self._queue:
            ran += self.run_until(self._queue[0][0], max_events - ran)
        return ran

    def pending(self) -> int:
        return len(self._queue)


@dataclass(frozen=True)
class NetworkSettings:
    """The simulated network.

    Attributes:
        latency: mean one-way delay in seconds.
        jitter: delays are uniform in ``latency * (1 +- jitter)``.
        bandwidth: each node's uplink in bytes/s (messages queue behind each other); ``None``
            for unlimited.
        loss: probability a message is dropped.
        duplicate: probability a delivered message arrives twice.
    """

    latency: float = 0.05
    jitter: float = 0.5
    bandwidth: float | None = None
    loss: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        if self.latency < 0 or not 0 <= self.jitter <= 1:
            raise ConfigurationError("latency must be >= 0 and jitter in [0, 1]")
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise ConfigurationError(f"bandwidth must be > 0 or None, got {self.bandwidth}")
        for name in ("loss", "duplicate"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be in [0, 1), got {getattr(self, name)}")


class MemoryNetwork:
    """Connects :class:`MemoryTransport` endpoints through a modelled network."""

    def __init__(
        self,
        settings: NetworkSettings | None = None,
        clock: VirtualClock | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = settings or NetworkSettings()
        self.clock = clock or VirtualClock()
        self.rng = np.random.default_rng([seed, 0x6E6574])
        self.endpoints: dict[str, MemoryTransport] = {}
        self.offline: set[str] = set()
        self._groups: dict[str, int] | None = None
        self._uplink_free: dict[str, float] = {}
        self.stats: Counter[str] = Counter()

    def attach(self, peer_id: str) -> MemoryTransport:
        if peer_id in self.endpoints:
            raise ConfigurationError(f"peer id {peer_id!r} is already attached")
        transport = MemoryTransport(self, peer_id)
        self.endpoints[peer_id] = transport
        return transport

    # -- faults -----------------------------------------------------------------------------

    def set_online(self, peer_id: str, online: bool) -> None:
        """Take a node offline (it neither sends nor receives) or bring it back."""
        if online:
            self.offline.discard(peer_id)
        else:
            self.offline.add(peer_id)

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Split the network: messages cross no group boundary until :meth:`heal`.
        Peers in no group form one more group together."""
        self._groups = {}
        for index, group in enumerate(groups):
            for peer in group:
                self._groups[peer] = index

    def heal(self) -> None:
        self._groups = None

    def _separated(self, a: str, b: str) -> bool:
        if self._groups is None:
            return False
        return self._groups.get(a, -1) != self._groups.get(b, -1)

    # -- delivery ---------------------------------------------------------------------------

    def _send(self, src: str, dst: str, data: bytes) -> None:
        if dst not in self.endpoints:
            raise TransportError(f"unknown peer {dst!r}")
        self.stats["messages_sent"] += 1
        self.stats["bytes_sent"] += len(data)
        if src in self.offline:
            self.stats["dropped_offline"] += 1
            return
        settings = self.settings
        depart = self.clock.now
        if settings.bandwidth is not None:
            depart = max(depart, self._uplink_free.get(src, 0.0)) + len(data) / settings.bandwidth
            self._uplink_free[src] = depart
        if settings.loss and self.rng.random() < settings.loss:
            self.stats["dropped_loss"] += 1
            return
        copies = 2 if settings.duplicate and self.rng.random() < settings.duplicate else 1
        for _ in range(copies):
            spread = settings.jitter * (2 * self.rng.random() - 1) if settings.jitter else 0.0
            arrival = depart + settings.latency * (1 + spread)
            self.clock.schedule(arrival, functools.partial(self._deliver, src, dst, data))

    def _deliver(self, src: str, dst: str, data: bytes) -> None:
        endpoint = self.endpoints.get(dst)
        if endpoint is None or endpoint.closed or dst in self.offline:
            self.stats["dropped_offline"] += 1
            return
        if self._separated(src, dst):
            self.stats["dropped_partition"] += 1
            return
        self.stats["messages_delivered"] += 1
        self.stats["bytes_delivered"] += len(data)
        endpoint._receive(src, data)


class MemoryTransport(Transport):
    """One endpoint on a :class:`MemoryNetwork`; every attached peer is reachable."""

    def __init__(self, network: MemoryNetwork, peer_id: str) -> None:
        self._network = network
        self._id = peer_id
        self._receiver: Receiver | None = None
        self.closed = False

    @property
    def local_id(self) -> str:
        return self._id

    def send(self, peer_id: str, data: bytes) -> None:
        if self.closed:
            raise TransportError("transport is closed")
        self._network._send(self._id, peer_id, bytes(data))

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def peers(self) -> list[str]:
        return [p for p in self._network.endpoints if p != self._id]

    def _receive(self, src: str, data: bytes) -> None:
        if self._receiver is not None:
            self._receiver(src, data)

    async def close(self) -> None:
        self.closed = True

"""Reliable transfer of large messages over datagrams, as a sans-I/O state machine.

A message larger than one datagram travels as a *transfer*:

1. the sender sends an ``Offer`` (transfer id, size, SHA-256, chunk size); the transport signs it;
2. the receiver accepts with an ``Ack`` (or refuses with a ``Done``, signed) and allocates a buffer;
3. the sender streams unsigned ``Chunk`` datagrams within a congestion window; the receiver
   acknowledges with a cumulative count plus a bitmap of what it holds beyond it (selective ack);
4. missing chunks are resent when later ones are acknowledged (fast retransmit) or on timeout,
   halving the window; progress grows it again;
5. when every chunk is in and the SHA-256 matches, the receiver delivers the bytes and sends a
   signed ``Done``.

Memory is bounded: offers beyond the per-peer and total byte caps, or the per-peer count of
concurrent transfers, are refused; idle transfers time out and are freed.  The engine never touches
a socket or a clock: it is given the time and returns :class:`Action` lists for the driver.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quinkgl.errors import ConfigurationError

logger = logging.getLogger(__name__)

DONE_OK = 0
DONE_REFUSED = 1
DONE_CORRUPT = 2
BITMAP_BYTES = 256  # selective acks describe up to 2,048 chunks beyond the cumulative point

Peer = Hashable


@dataclass(frozen=True)
class TransferSettings:
    """Limits and tuning of the transfer protocol.

    Attributes:
        chunk_size: payload bytes per chunk; ~1,200 suits the internet (no IP fragmentation),
            up to ~60,000 suits loopback and LANs.
        max_message_bytes: largest message accepted or sent.
        max_incoming_per_peer: concurrent incoming transfers from one peer.
        max_incoming_bytes_per_peer: buffer bytes one peer may hold here at once.
        max_incoming_bytes_total: buffer bytes all peers together may hold here at once.
        max_outgoing_per_peer: concurrent outgoing transfers to one peer; more are dropped.
        max_window_bytes: cap on unacknowledged bytes in flight per transfer.
        initial_window: chunks in flight at the start of a transfer.
        min_rto, max_rto: bounds of the retransmission timeout (seconds).
        ack_delay: longest a receiver sits on unacknowledged chunks (seconds).
        idle_timeout: a transfer without progress for this long is abandoned and freed.
        offer_retries: times an unanswered offer is resent before giving up.
    """

    chunk_size: int = 1200
    max_message_bytes: int = 256 * 1024 * 1024
    max_incoming_per_peer: int = 2
    max_incoming_bytes_per_peer: int = 512 * 1024 * 1024
    max_incoming_bytes_total: int = 1024 * 1024 * 1024
    max_outgoing_per_peer: int = 2
    max_window_bytes: int = 4 * 1024 * 1024
    initial_window: int = 16
    min_rto: float = 0.05
    max_rto: float = 2.0
    ack_delay: float = 0.005
    idle_timeout: float = 20.0
    offer_retries: int = 5

    def __post_init__(self) -> None:
        if not 64 <= self.chunk_size <= 65_000:
            raise ConfigurationError(f"chunk_size must be in 64..65000, got {self.chunk_size}")
        if self.max_message_bytes < 1 or self.max_window_bytes < self.chunk_size:
            raise ConfigurationError(
                "max_message_bytes must be >= 1 and max_window_bytes >= chunk_size"
            )
        if min(self.max_incoming_per_peer, self.max_outgoing_per_peer, self.initial_window) < 1:
            raise ConfigurationError("per-peer transfer counts and initial_window must be >= 1")
        if not 0 < self.min_rto <= self.max_rto:
            raise ConfigurationError("need 0 < min_rto <= max_rto")

    @property
    def max_window(self) -> int:
        return max(1, min(self.max_window_bytes // self.chunk_size, BITMAP_BYTES * 8))


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    transfer_id: int
    size: int
    digest: bytes
    chunk_size: int


@dataclass(frozen=True)
class Chunk:
    transfer_id: int
    index: int
    data: bytes | memoryview


@dataclass(frozen=True)
class Ack:
    transfer_id: int
    cumulative: int
    bitmap: bytes


@dataclass(frozen=True)
class Done:
    transfer_id: int
    status: int


Message = Offer | Chunk | Ack | Done


@dataclass(frozen=True)
class Send:
    """Send ``message`` to ``peer`` (Offer and Done must be signed)."""

    peer: Peer
    message: Message


@dataclass(frozen=True)
class Deliver:
    """A complete, verified message from ``peer``."""

    peer: Peer
    data: bytes | bytearray


@dataclass(frozen=True)
class Finished:
    """An outgoing transfer ended: ``ok`` when the receiver confirmed it."""

    peer: Peer
    transfer_id: int
    ok: bool
    reason: str = ""


Action = Send | Deliver | Finished


# -- state ------------------------------------------------------------------------------------


@dataclass
class _Outgoing:
    peer: Peer
    transfer_id: int
    data: bytes
    digest: bytes
    chunk_size: int
    count: int
    offered_at: float
    offers_sent: int = 1
    accepted: bool = False
    acked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    acked_count: int = 0
    in_flight: OrderedDict[int, float] = field(default_factory=OrderedDict)
    resend: list[int] = field(default_factory=list)
    next_new: int = 0
    cwnd: float = 16.0
    rto: float = 0.2
    last_cut: float = -1.0
    last_progress: float = 0.0

    def chunk(self, index: int) -> Chunk:
        start = index * self.chunk_size
        return Chunk(
            self.transfer_id, index, memoryview(self.data)[start : start + self.chunk_size]
        )


@dataclass
class _Incoming:
    peer: Peer
    transfer_id: int
    size: int
    digest: bytes
    chunk_size: int
    count: int
    buffer: bytearray
    received: np.ndarray
    hasher: Any = None
    hashed: int = 0
    received_count: int = 0
    cumulative: int = 0
    unacked: int = 0
    last_ack: float = 0.0
    last_activity: float = 0.0


class TransferEngine:
    """Both directions of every transfer of one endpoint.

    Args:
        settings: limits and tuning.
        rng: draws transfer ids.
    """

    def __init__(
        self, settings: TransferSettings | None = None, rng: np.random.Generator | None = None
    ) -> None:
        self.settings = settings or TransferSettings()
        self.rng = rng if rng is not None else np.random.default_rng()
        self.outgoing: dict[tuple[Peer, int], _Outgoing] = {}
        self.incoming: dict[tuple[Peer, int], _Incoming] = {}
        self._completed: OrderedDict[tuple[Peer, int], tuple[int, float]] = OrderedDict()
        self.incoming_bytes = 0
        self.stats: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return bool(self.outgoing or self.incoming)

    def handle(self, peer: Peer, message: Message, now: float) -> list[Action]:
        """Dispatch a message from ``peer`` to the handler of its kind."""
        if isinstance(message, Chunk):
            return self.on_chunk(peer, message, now)
        if isinstance(message, Ack):
            return self.on_ack(peer, message, now)
        if isinstance(message, Offer):
            return self.on_offer(peer, message, now)
        return self.on_done(peer, message, now)

    # -- sending --------------------------------------------------------------------------------

    def send(
        self, peer: Peer, data: bytes, now: float, digest: bytes | None = None
    ) -> list[Action]:
        """Start sending ``data`` to ``peer``; too large or too many at once is refused.

        ``digest`` is the SHA-256 of ``data`` if the caller computed it already (for example
        in a worker thread, so that hashing a large model does not stall the event loop)."""
        s = self.settings
        if len(data) == 0 or len(data) > s.max_message_bytes:
            self.stats["send_refused_size"] += 1
            return [Finished(peer, 0, False, "size")]
        if sum(1 for p, _ in self.outgoing if p == peer) >= s.max_outgoing_per_peer:
            self.stats["send_dropped_busy"] += 1
            return [Finished(peer, 0, False, "busy")]
        transfer_id = int(self.rng.integers(1, 2**63))
        count = -(-len(data) // s.chunk_size)
        payload = data if isinstance(data, bytes) else bytes(data)
        out = _Outgoing(
            peer=peer,
            transfer_id=transfer_id,
            data=payload,
            digest=digest if digest is not None else hashlib.sha256(payload).digest(),
            chunk_size=s.chunk_size,
            count=count,
            offered_at=now,
            acked=np.zeros(count, dtype=bool),
            cwnd=float(min(s.initial_window, s.max_window)),
            rto=max(s.min_rto, 0.2),
            last_progress=now,
        )
        self.outgoing[(peer, transfer_id)] = out
        self.stats["transfers_started"] += 1
        return [Send(peer, Offer(transfer_id, len(payload), out.digest, s.chunk_size))]

    def on_ack(self, peer: Peer, ack: Ack, now: float) -> list[Action]:
        out = self.outgoing.get((peer, ack.transfer_id))
        if out is None:
            self.stats["ack_unknown"] += 1
            return []
        if not out.accepted:
            out.accepted = True
            out.rto = min(
                self.settings.max_rto, max(self.settings.min_rto, 4 * (now - out.offered_at))
            )
        newly = self._apply_ack(out, ack)
        if newly:
            out.last_progress = now
            out.cwnd = min(float(self.settings.max_window), out.cwnd + newly)
            self._fast_retransmit(out, ack, now)
        return self._fill_window(out, now)

    def _apply_ack(self, out: _Outgoing, ack: Ack) -> int:
        before = out.acked_count
        cumulative = min(max(ack.cumulative, 0), out.count)
        if cumulative:
            fresh = ~out.acked[:cumulative]
            out.acked_count += int(fresh.sum())
            out.acked[:cumulative] = True
        bits = np.unpackbits(
            np.frombuffer(ack.bitmap[:BITMAP_BYTES], dtype=np.uint8), bitorder="little"
        )
        indices = cumulative + 1 + np.flatnonzero(bits)
        indices = indices[indices < out.count]
        if indices.size:
            fresh_idx = indices[~out.acked[indices]]
            out.acked[fresh_idx] = True
            out.acked_count += int(fresh_idx.size)
        for index in [i for i in out.in_flight if out.acked[i]]:
            del out.in_flight[index]
        out.resend = [i for i in out.resend if not out.acked[i]]
        return out.acked_count - before

    def _fast_retransmit(self, out: _Outgoing, ack: Ack, now: float) -> None:
        """Chunks sent before one the receiver already holds are presumed lost."""
        highest = ack.cumulative
        bits = np.unpackbits(
            np.frombuffer(ack.bitmap[:BITMAP_BYTES], dtype=np.uint8), bitorder="little"
        )
        set_bits = np.flatnonzero(bits)
        if set_bits.size:
            highest = ack.cumulative + 1 + int(set_bits[-1])
        lost = [i for i, sent in out.in_flight.items() if i < highest and now - sent > out.rto / 4]
        if lost:
            for index in lost:
                del out.in_flight[index]
            out.resend.extend(lost)
            self.stats["chunks_fast_retransmitted"] += len(lost)
            self._cut_window(out, now)

    def _cut_window(self, out: _Outgoing, now: float) -> None:
        if now - out.last_cut >= out.rto:
            out.cwnd = max(2.0, out.cwnd / 2)
            out.last_cut = now

    def _fill_window(self, out: _Outgoing, now: float) -> list[Action]:
        actions: list[Action] = []
        while len(out.in_flight) < int(out.cwnd):
            if out.resend:
                index = out.resend.pop(0)
                self.stats["chunks_resent"] += 1
            elif out.next_new < out.count:
                index = out.next_new
                out.next_new += 1
            else:
                break
            if out.acked[index]:
                continue
            out.in_flight[index] = now
            actions.append(Send(out.peer, out.chunk(index)))
        self.stats["chunks_sent"] += len(actions)
        return actions

    def on_done(self, peer: Peer, done: Done, now: float) -> list[Action]:
        out = self.outgoing.pop((peer, done.transfer_id), None)
        if out is None:
            return []
        ok = done.status == DONE_OK
        self.stats["transfers_delivered" if ok else "transfers_refused"] += 1
        reason = "" if ok else ("refused" if done.status == DONE_REFUSED else "corrupt")
        return [Finished(peer, done.transfer_id, ok, reason)]

    # -- receiving ------------------------------------------------------------------------------

    def on_offer(self, peer: Peer, offer: Offer, now: float) -> list[Action]:
        key = (peer, offer.transfer_id)
        if key in self._completed:  # our Done was lost: say it again, deliver nothing twice
            return self._repeat_done(key, now)
        existing = self.incoming.get(key)
        if existing is not None:  # the sender missed our first ack
            return [self._ack(existing, now)]
        reason = self._refusal(peer, offer)
        if reason:
            self.stats[f"offer_refused_{reason}"] += 1
            logger.debug("refusing transfer %x from %s: %s", offer.transfer_id, peer, reason)
            self._remember(key, DONE_REFUSED, now)
            return [Send(peer, Done(offer.transfer_id, DONE_REFUSED))]
        count = -(-offer.size // offer.chunk_size)
        inc = _Incoming(
            peer=peer,
            transfer_id=offer.transfer_id,
            size=offer.size,
            digest=bytes(offer.digest),
            chunk_size=offer.chunk_size,
            count=count,
            buffer=bytearray(offer.size),
            received=np.zeros(count, dtype=bool),
            hasher=hashlib.sha256(),
            last_activity=now,
        )
        self.incoming[key] = inc
        self.incoming_bytes += offer.size
        self.stats["offers_accepted"] += 1
        return [self._ack(inc, now)]

    def _refusal(self, peer: Peer, offer: Offer) -> str:
        s = self.settings
        if not 0 < offer.size <= s.max_message_bytes:
            return "size"
        if not 64 <= offer.chunk_size <= 65_000 or len(offer.digest) != 32:
            return "malformed"
        mine = [t for (p, _), t in self.incoming.items() if p == peer]
        if len(mine) >= s.max_incoming_per_peer:
            return "busy"
        if sum(t.size for t in mine) + offer.size > s.max_incoming_bytes_per_peer:
            return "peer_memory"
        if self.incoming_bytes + offer.size > s.max_incoming_bytes_total:
            return "memory"
        return ""

    def on_chunk(self, peer: Peer, chunk: Chunk, now: float) -> list[Action]:
        key = (peer, chunk.transfer_id)
        inc = self.incoming.get(key)
        if inc is None:
            if key in self._completed:
                return self._repeat_done(key, now)
            self.stats["chunk_unknown_transfer"] += 1
            return []
        index = chunk.index
        expected = (
            min(inc.chunk_size, inc.size - index * inc.chunk_size) if 0 <= index < inc.count else -1
        )
        if len(chunk.data) != expected:
            self.stats["chunk_malformed"] += 1
            return []
        inc.last_activity = now
        if inc.received[index]:
            self.stats["chunk_duplicate"] += 1
            inc.unacked += 1
            return [self._ack(inc, now)]
        start = index * inc.chunk_size
        inc.buffer[start : start + expected] = chunk.data
        inc.received[index] = True
        inc.received_count += 1
        inc.unacked += 1
        if index == inc.cumulative:
            while inc.cumulative < inc.count and inc.received[inc.cumulative]:
                inc.cumulative += 1
            # Hash the in-order prefix as it grows, so completion costs no pass over the data.
            end = min(inc.cumulative * inc.chunk_size, inc.size)
            inc.hasher.update(memoryview(inc.buffer)[inc.hashed : end])
            inc.hashed = end
        if inc.received_count == inc.count:
            return self._complete(inc, now)
        if inc.unacked >= self._ack_every(inc):
            return [self._ack(inc, now)]
        return []

    def _ack_every(self, inc: _Incoming) -> int:
        return max(2, min(32, (256 * 1024) // inc.chunk_size))

    def _ack(self, inc: _Incoming, now: float) -> Send:
        start = inc.cumulative + 1
        window = inc.received[start : start + BITMAP_BYTES * 8]
        bitmap = np.packbits(window, bitorder="little").tobytes() if window.size else b""
        inc.unacked = 0
        inc.last_ack = now
        return Send(inc.peer, Ack(inc.transfer_id, inc.cumulative, bitmap))

    def _complete(self, inc: _Incoming, now: float) -> list[Action]:
        key = (inc.peer, inc.transfer_id)
        self._free(key)
        if inc.hashed != inc.size or inc.hasher.digest() != inc.digest:
            self.stats["transfers_corrupt"] += 1
            self._remember(key, DONE_CORRUPT, now)
            logger.debug("transfer %x from %s failed its SHA-256", inc.transfer_id, inc.peer)
            return [Send(inc.peer, Done(inc.transfer_id, DONE_CORRUPT))]
        self.stats["transfers_received"] += 1
        self._remember(key, DONE_OK, now)
        return [
            Send(inc.peer, Done(inc.transfer_id, DONE_OK)),
            Deliver(inc.peer, inc.buffer),
        ]

    def _free(self, key: tuple[Peer, int]) -> None:
        inc = self.incoming.pop(key, None)
        if inc is not None:
            self.incoming_bytes -= inc.size

    def _remember(self, key: tuple[Peer, int], status: int, now: float) -> None:
        self._completed[key] = (status, now)
        while len(self._completed) > 4096:
            self._completed.popitem(last=False)

    def _repeat_done(self, key: tuple[Peer, int], now: float) -> list[Action]:
        """The sender still talks about a finished transfer, so our Done was lost: repeat it,
        at most once per ``min_rto`` (each Done is signed, so repeats are rate limited)."""
        status, last = self._completed[key]
        if now - last < self.settings.min_rto:
            self.stats["done_repeat_suppressed"] += 1
            return []
        self._completed[key] = (status, now)
        return [Send(key[0], Done(key[1], status))]

    # -- time -----------------------------------------------------------------------------------

    def poll(self, now: float) -> list[Action]:
        """Timers: resend unanswered offers and timed-out chunks, send delayed acks, abandon
        idle transfers.  Call every few milliseconds while :attr:`active`."""
        s = self.settings
        actions: list[Action] = []
        for key, out in list(self.outgoing.items()):
            if out.accepted and now - out.last_progress > s.idle_timeout:
                del self.outgoing[key]
                self.stats["transfers_timed_out"] += 1
                actions.append(Finished(out.peer, out.transfer_id, False, "timeout"))
                continue
            if not out.accepted:
                backoff = min(s.max_rto, out.rto * 2 ** (out.offers_sent - 1))
                if now - out.offered_at > backoff:
                    if out.offers_sent > s.offer_retries:
                        del self.outgoing[key]
                        self.stats["transfers_unanswered"] += 1
                        actions.append(Finished(out.peer, out.transfer_id, False, "unanswered"))
                        continue
                    out.offers_sent += 1
                    out.offered_at = now
                    actions.append(
                        Send(
                            out.peer,
                            Offer(out.transfer_id, len(out.data), out.digest, out.chunk_size),
                        )
                    )
                continue
            expired = [i for i, sent in out.in_flight.items() if now - sent > out.rto]
            if expired:
                for index in expired:
                    del out.in_flight[index]
                out.resend.extend(expired)
                self.stats["chunks_timed_out"] += len(expired)
                self._cut_window(out, now)
                out.rto = min(s.max_rto, out.rto * 1.5)
            actions.extend(self._fill_window(out, now))
        for key, inc in list(self.incoming.items()):
            if now - inc.last_activity > s.idle_timeout:
                self._free(key)
                self.stats["incoming_timed_out"] += 1
                continue
            if inc.unacked and now - inc.last_ack >= s.ack_delay:
                actions.append(self._ack(inc, now))
        return actions

    def drop_peer(self, peer: Peer) -> list[Action]:
        """Forget every transfer with ``peer`` (it left or was evicted)."""
        actions: list[Action] = []
        for key in [k for k in self.outgoing if k[0] == peer]:
            out = self.outgoing.pop(key)
            actions.append(Finished(peer, out.transfer_id, False, "peer_lost"))
        for key in [k for k in self.incoming if k[0] == peer]:
            self._free(key)
        return actions

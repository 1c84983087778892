"""The transfer protocol between two engines over a simulated lossy, reordering channel."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quinkgl.errors import ConfigurationError
from quinkgl.transport.transfer import (
    DONE_OK,
    Chunk,
    Deliver,
    Done,
    Finished,
    Offer,
    Send,
    TransferEngine,
    TransferSettings,
)


class Channel:
    """Two engines joined by a channel with delay, jitter, loss, duplication and corruption."""

    def __init__(
        self, settings: TransferSettings, loss=0.0, duplicate=0.0, jitter=0.0, corrupt=0.0, seed=0
    ):
        self.rng = np.random.default_rng(seed)
        self.engines = {
            "a": TransferEngine(settings, np.random.default_rng(seed + 1)),
            "b": TransferEngine(settings, np.random.default_rng(seed + 2)),
        }
        self.loss, self.duplicate, self.jitter, self.corrupt = loss, duplicate, jitter, corrupt
        self.queue: list = []
        self.seq = itertools.count()
        self.now = 0.0
        self.delivered: dict[str, list[bytes]] = {"a": [], "b": []}
        self.finished: list[Finished] = []
        self.packets = 0

    def handle(self, src: str, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.packets += 1
                if self.rng.random() < self.loss:
                    continue
                message = action.message
                if isinstance(message, Chunk) and self.rng.random() < self.corrupt:
                    data = bytearray(message.data)
                    data[0] ^= 0xFF
                    message = Chunk(message.transfer_id, message.index, bytes(data))
                copies = 2 if self.rng.random() < self.duplicate else 1
                for _ in range(copies):
                    delay = 0.001 + self.jitter * self.rng.random()
                    dst = "b" if src == "a" else "a"
                    heapq.heappush(
                        self.queue, (self.now + delay, next(self.seq), dst, src, message)
                    )
            elif isinstance(action, Deliver):
                self.delivered[src].append(action.data)
            elif isinstance(action, Finished):
                self.finished.append(action)

    def dispatch(self, dst: str, src: str, message) -> None:
        self.handle(dst, self.engines[dst].handle(src, message, self.now))

    def run(self, until: float = 60.0, tick: float = 0.002) -> None:
        next_poll = 0.0
        while self.now < until and (self.queue or any(e.active for e in self.engines.values())):
            if self.queue and self.queue[0][0] <= next_poll:
                self.now, _, dst, src, message = heapq.heappop(self.queue)
                self.dispatch(dst, src, message)
            else:
                self.now = next_poll
                for name, engine in self.engines.items():
                    self.handle(name, engine.poll(self.now))
                next_poll += tick


def blob(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def test_clean_channel_delivers_exactly_once():
    ch = Channel(TransferSettings(chunk_size=1000))
    data = blob(123_457)
    ch.handle("a", ch.engines["a"].send("b", data, 0.0))
    ch.run()
    assert ch.delivered["b"] == [data]
    assert [f.ok for f in ch.finished] == [True]
    assert not ch.engines["a"].outgoing and not ch.engines["b"].incoming
    assert ch.engines["b"].incoming_bytes == 0
    assert ch.engines["a"].stats["chunks_resent"] == 0


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 60_000),
    loss=st.sampled_from([0.0, 0.05, 0.2, 0.4]),
    duplicate=st.sampled_from([0.0, 0.1]),
    jitter=st.sampled_from([0.0, 0.005]),
    seed=st.integers(0, 10_000),
)
def test_lossy_reordering_channel_still_delivers_intact(size, loss, duplicate, jitter, seed):
    ch = Channel(
        TransferSettings(chunk_size=700, offer_retries=20), loss, duplicate, jitter, seed=seed
    )
    data = blob(size, seed)
    ch.handle("a", ch.engines["a"].send("b", data, 0.0))
    ch.run(until=120.0)
    assert ch.delivered["b"] == [data]
    assert ch.finished and ch.finished[-1].ok


def test_corrupted_chunks_are_caught_by_the_digest():
    ch = Channel(TransferSettings(chunk_size=500), corrupt=1.0)
    ch.handle("a", ch.engines["a"].send("b", blob(5_000), 0.0))
    ch.run()
    assert ch.delivered["b"] == []
    assert [(f.ok, f.reason) for f in ch.finished] == [(False, "corrupt")]
    assert ch.engines["b"].stats["transfers_corrupt"] == 1 and not ch.engines["b"].incoming


def test_offers_beyond_the_caps_are_refused_without_allocating():
    s = TransferSettings(
        chunk_size=100,
        max_message_bytes=10_000,
        max_incoming_per_peer=1,
        max_incoming_bytes_total=15_000,
    )
    engine = TransferEngine(s)
    digest = bytes(32)
    [reply] = engine.on_offer("p", Offer(1, 20_000, digest, 100), 0.0)
    assert reply.message == Done(1, 1) and engine.incoming_bytes == 0
    engine.on_offer("p", Offer(2, 9_000, digest, 100), 0.0)
    [busy] = engine.on_offer("p", Offer(3, 100, digest, 100), 0.0)
    assert busy.message == Done(3, 1)
    [full] = engine.on_offer("q", Offer(4, 9_000, digest, 100), 0.0)
    assert full.message == Done(4, 1)
    assert engine.incoming_bytes == 9_000
    assert (
        engine.stats["offer_refused_size"]
        == engine.stats["offer_refused_busy"]
        == engine.stats["offer_refused_memory"]
        == 1
    )


def test_chunks_for_unknown_transfers_and_bad_chunks_are_dropped():
    engine = TransferEngine(TransferSettings(chunk_size=100))
    assert engine.on_chunk("p", Chunk(99, 0, b"x" * 100), 0.0) == []
    engine.on_offer("p", Offer(7, 250, bytes(32), 100), 0.0)
    assert engine.on_chunk("p", Chunk(7, 5, b"x" * 100), 0.0) == []  # index out of range
    assert engine.on_chunk("p", Chunk(7, 2, b"x" * 100), 0.0) == []  # last chunk is 50 bytes
    assert engine.on_chunk("q", Chunk(7, 0, b"x" * 100), 0.0) == []  # right id, wrong peer
    assert engine.stats["chunk_unknown_transfer"] == 2 and engine.stats["chunk_malformed"] == 2


def test_abandoned_transfers_time_out_and_are_freed():
    s = TransferSettings(chunk_size=100, idle_timeout=1.0, offer_retries=2)
    receiver = TransferEngine(s)
    receiver.on_offer("p", Offer(1, 1_000, bytes(32), 100), 0.0)
    assert receiver.incoming_bytes == 1_000
    receiver.poll(0.5)
    receiver.poll(1.6)
    assert receiver.incoming_bytes == 0 and not receiver.incoming
    sender = TransferEngine(s)
    sender.send("ghost", b"x" * 1_000, 0.0)
    finished = []
    for t in np.arange(0.0, 10.0, 0.01):
        finished += [a for a in sender.poll(float(t)) if isinstance(a, Finished)]
    assert [(f.ok, f.reason) for f in finished] == [(False, "unanswered")]
    assert not sender.outgoing


def test_lost_done_is_answered_again_without_a_second_delivery():
    ch = Channel(TransferSettings(chunk_size=1000))
    data = blob(3_000)
    ch.handle("a", ch.engines["a"].send("b", data, 0.0))
    ch.run()
    offer = Offer(ch.finished[0].transfer_id, 3_000, b"\0" * 32, 1000)
    replies = ch.engines["b"].on_offer("a", offer, ch.now + 1.0)
    assert [r.message for r in replies] == [Done(offer.transfer_id, DONE_OK)]
    assert ch.delivered["b"] == [data]


def test_outgoing_transfers_per_peer_are_bounded():
    engine = TransferEngine(TransferSettings(max_outgoing_per_peer=1))
    engine.send("p", b"one", 0.0)
    [refused] = engine.send("p", b"two", 0.0)
    assert isinstance(refused, Finished) and refused.reason == "busy"


def test_settings_are_validated():
    with pytest.raises(ConfigurationError):
        TransferSettings(chunk_size=10)
    with pytest.raises(ConfigurationError):
        TransferSettings(max_window_bytes=100, chunk_size=1000)


def test_window_throughput_on_a_clean_channel_is_not_rto_bound():
    """50 MB in 60 KB chunks over a 1 ms channel should take well under a simulated second."""
    ch = Channel(TransferSettings(chunk_size=60_000, max_window_bytes=4 * 1024 * 1024))
    data = blob(50 * 1024 * 1024)
    ch.handle("a", ch.engines["a"].send("b", data, 0.0))
    ch.run(tick=0.001)
    assert ch.delivered["b"] == [data]
    assert ch.now < 1.0, ch.now

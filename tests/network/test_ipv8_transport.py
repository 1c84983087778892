"""The ipv8 transport on real UDP sockets on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from quinkgl.errors import ConfigurationError
from quinkgl.testing import TransportConformance
from quinkgl.transport import Transport
from quinkgl.transport.ipv8 import IPv8Settings, IPv8Transport, community_id_for, parse_address

pytestmark = pytest.mark.network


async def open_mesh(count: int, domain: str = "conformance", **settings) -> list[IPv8Transport]:
    first = IPv8Transport(domain, IPv8Settings(**settings))
    await first.start()
    rest = [
        IPv8Transport(domain, IPv8Settings(bootstrap=(first.address,), **settings))
        for _ in range(count - 1)
    ]
    for t in rest:
        await t.start()
    return [first, *rest]


async def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


class TestIPv8Transport(TransportConformance):
    async def open(self, count: int) -> list[Transport]:
        return list(await open_mesh(count))

    async def settle(self, transports: list[Transport]) -> None:
        ts = [t for t in transports if isinstance(t, IPv8Transport)]
        await wait_for(lambda: all(len(t.peers()) >= len(ts) - 1 for t in ts))
        await wait_for(lambda: not any(t.engine.active for t in ts))
        await asyncio.sleep(0.2)


def test_domains_get_distinct_overlays():
    assert community_id_for("a") != community_id_for("b")
    assert len(community_id_for("vision")) == 20


def test_two_domains_never_exchange_a_byte():
    async def scenario() -> None:
        a = IPv8Transport("alpha", IPv8Settings())
        await a.start()
        b = IPv8Transport("beta", IPv8Settings(bootstrap=(a.address,)))
        await b.start()
        got: list[bytes] = []
        a.set_receiver(lambda s, d: got.append(d))
        await asyncio.sleep(1.0)
        assert a.peers() == [] and b.peers() == []
        assert a.community.stats["datagrams_received"] == 0
        await a.close()
        await b.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("chunk", [1200, 60_000])
def test_large_transfers_at_both_chunk_sizes(chunk):
    from quinkgl.transport.transfer import TransferSettings

    async def scenario() -> None:
        a, b = await open_mesh(2, domain=f"big{chunk}", transfer=TransferSettings(chunk_size=chunk))
        await wait_for(lambda: a.peers() and b.peers())
        got: list[bytes] = []
        b.set_receiver(lambda s, d: got.append(d))
        blob = bytes(range(256)) * 8000  # 2 MB
        a.send(b.local_id, blob)
        assert await wait_for(lambda: got, timeout=20)
        assert got == [blob]
        assert a.stats["transfers_ok"] == 1
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_bad_addresses_are_clear_errors():
    with pytest.raises(ConfigurationError):
        parse_address("localhost")
    with pytest.raises(ConfigurationError):
        parse_address("host:99999")
    assert parse_address("127.0.0.1:7000") == ("127.0.0.1", 7000)


def test_peer_dying_mid_transfer_frees_it_and_a_restarted_peer_is_served():
    async def scenario() -> None:
        from quinkgl.transport.transfer import TransferSettings

        quick = dict(
            ping_after=0.5,
            peer_timeout=1.5,
            transfer=TransferSettings(chunk_size=1200, idle_timeout=3.0),
        )
        sender, receiver = await open_mesh(2, domain="dies-mid-transfer", **quick)
        await wait_for(lambda: sender.peers() and receiver.peers())
        blob = bytes(30_000_000)
        sender.send(receiver.local_id, blob)
        assert await wait_for(
            lambda: any(t.received_count > 100 for t in receiver.engine.incoming.values()), 10
        )
        await receiver.close()  # gone without a word, mid-transfer
        assert await wait_for(lambda: not sender.engine.outgoing and not sender.peers(), 10)
        assert sender.stats["peers_evicted"] == 1
        reborn = IPv8Transport(
            "dies-mid-transfer", IPv8Settings(bootstrap=(sender.address,), **quick)
        )
        await reborn.start()
        got: list[bytes] = []
        reborn.set_receiver(lambda s, d: got.append(d))
        assert await wait_for(lambda: reborn.local_id in sender.peers(), 10)
        sender.send(reborn.local_id, b"x" * 50_000)
        assert await wait_for(lambda: got == [b"x" * 50_000], 10)
        await sender.close()
        await reborn.close()

    asyncio.run(scenario())


def test_introduce_meets_a_peer_learnt_of_through_gossip():
    async def scenario() -> None:
        a = IPv8Transport("introductions", IPv8Settings())
        b = IPv8Transport("introductions", IPv8Settings())
        await a.start()
        await b.start()
        await asyncio.sleep(0.3)
        assert a.peers() == [] and b.peers() == []  # no bootstrap: strangers
        a.introduce(b.address)
        assert await wait_for(lambda: b.local_id in a.peers() and a.local_id in b.peers())
        assert a.peer_address(b.local_id) == b.address
        await a.close()
        await b.close()

    asyncio.run(scenario())

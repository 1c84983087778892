"""Hostile input against a real node on loopback: it stays up, refuses, counts and logs once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct

import numpy as np
import pytest

from quinkgl import protocol
from quinkgl.codec import encode_weights
from quinkgl.transport.ipv8 import IPv8Settings, IPv8Transport
from quinkgl.transport.ipv8.community import CHUNK_ID, DatagramPayload, OfferPayload
from quinkgl.transport.transfer import TransferSettings

from .test_ipv8_transport import open_mesh, wait_for

pytestmark = pytest.mark.network


def raw_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def run(coro) -> None:
    asyncio.run(coro)


def test_garbage_and_valid_prefix_garbage_are_dropped(caplog):
    async def scenario() -> None:
        victim, friend = await open_mesh(2, domain="hostile-garbage")
        await wait_for(lambda: victim.peers())
        got: list[bytes] = []
        victim.set_receiver(lambda s, d: got.append(d))
        sock = raw_socket()
        prefix = victim.community.get_prefix()
        with caplog.at_level(logging.WARNING, logger="quinkgl.transport.ipv8.community"):
            for i in range(300):
                sock.sendto(os.urandom(1 + i % 200), victim.address)
                for msg_id in (1, 2, 3, 4, 5):
                    sock.sendto(prefix + bytes([msg_id]) + os.urandom(i % 90), victim.address)
            await asyncio.sleep(0.5)
        stats = victim.community.stats
        assert stats["refused_malformed"] + stats["refused_unknown_sender"] > 300
        assert got == []
        reasons = [r.getMessage() for r in caplog.records]
        assert len(reasons) == len(
            {m.split("(")[1].split(")")[0] for m in reasons}
        )  # once per reason
        friend.send(victim.local_id, b"still alive")  # the node still works
        assert await wait_for(lambda: got == [b"still alive"])
        sock.close()
        await victim.close()
        await friend.close()

    run(scenario())


def test_replayed_signed_packet_from_another_address_is_refused():
    async def scenario() -> None:
        victim, sender = await open_mesh(2, domain="hostile-replay")
        await wait_for(lambda: victim.peers() and sender.peers())
        got: list[bytes] = []
        victim.set_receiver(lambda s, d: got.append(d))
        packet = sender.community.ezr_pack(
            DatagramPayload.msg_id, DatagramPayload(12345, b"pay me")
        )
        sender.community.endpoint.send(victim.address, packet)
        assert await wait_for(lambda: got == [b"pay me"])
        sock = raw_socket()
        sock.sendto(packet, victim.address)  # replay from another address
        sender.community.endpoint.send(victim.address, packet)  # replay from the right address
        await asyncio.sleep(0.3)
        assert got == [b"pay me"]
        assert victim.community.stats["refused_address_mismatch"] == 1
        assert victim.community.stats["refused_replayed"] == 1
        # the sender's frozen address was not taken over
        assert victim.community.address_of(sender.local_id) == sender.address
        sock.close()
        await victim.close()
        await sender.close()

    run(scenario())


def test_oversized_offers_and_unknown_chunks_allocate_nothing():
    async def scenario() -> None:
        small = TransferSettings(max_message_bytes=1_000_000)
        victim, attacker = await open_mesh(2, domain="hostile-offer", transfer=small)
        await wait_for(lambda: victim.peers() and attacker.peers())
        for i in range(50):
            offer = OfferPayload(1000 + i, 2**40, b"\x00" * 32, 1200)
            attacker.community.endpoint.send(
                victim.address, attacker.community.ezr_pack(OfferPayload.msg_id, offer)
            )
            chunk = (
                attacker.community.get_prefix()
                + bytes([CHUNK_ID])
                + struct.pack(">QI", 777 + i, 0)
                + b"x" * 1200
            )
            attacker.community.endpoint.send(victim.address, chunk)
        await asyncio.sleep(0.5)
        stats = victim.engine.stats
        assert stats["offer_refused_size"] == 50
        assert stats["chunk_unknown_transfer"] == 50
        assert victim.engine.incoming_bytes == 0 and not victim.engine.incoming
        await victim.close()
        await attacker.close()

    run(scenario())


def test_too_many_concurrent_offers_from_one_peer_are_capped():
    async def scenario() -> None:
        limits = TransferSettings(max_incoming_per_peer=2, max_message_bytes=10_000_000)
        victim, attacker = await open_mesh(2, domain="hostile-flood", transfer=limits)
        await wait_for(lambda: victim.peers() and attacker.peers())
        for i in range(20):  # offers that are never followed by chunks
            offer = OfferPayload(5000 + i, 5_000_000, b"\x00" * 32, 1200)
            attacker.community.endpoint.send(
                victim.address, attacker.community.ezr_pack(OfferPayload.msg_id, offer)
            )
        await asyncio.sleep(0.5)
        assert len(victim.engine.incoming) == 2
        assert victim.engine.incoming_bytes == 10_000_000
        assert victim.engine.stats["offer_refused_busy"] == 18
        await victim.close()
        await attacker.close()

    run(scenario())


def test_wrong_architecture_and_nan_models_are_refused_by_a_real_node(caplog):
    torch = pytest.importorskip("torch", reason="GossipNode here wraps a PyTorch model")
    from quinkgl import GossipNode, NodeSettings, PyTorchModel, TrainingConfig

    async def scenario() -> None:
        model = PyTorchModel(torch.nn.Sequential(torch.nn.Linear(4, 3)))
        node = GossipNode(
            "victim",
            "hostile-models",
            model,
            training_config=TrainingConfig(epochs=1),
            settings=NodeSettings(gossip_interval=0.05),
        )
        await node.start()
        attacker = IPv8Transport("hostile-models", IPv8Settings(bootstrap=(node.address,)))
        await attacker.start()
        assert await wait_for(lambda: attacker.peers() and node.transport.peers())
        rng = np.random.default_rng(0)
        data = (rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30))
        await node.run_continuous(data, rounds=1)
        before = {k: v.copy() for k, v in node.aggregator.weights.items()}
        meta = {"samples": 10, "age": 1, "incarnation": "evil", "version": 1, "round": 1}
        wrong = {"0.weight": np.zeros((5, 4), np.float32), "0.bias": np.zeros(5, np.float32)}
        nan = {k: np.full_like(v, np.nan) for k, v in before.items()}
        with caplog.at_level(logging.WARNING, logger="quinkgl.aggregation.aggregator"):
            for i in range(10):
                for weights in (wrong, nan):
                    meta["version"] = i + 1
                    frame = protocol.pack(protocol.MODEL, encode_weights(weights, meta))
                    attacker.send(node.peer_id, frame)
            assert await wait_for(lambda: sum(node.aggregator.rejections.values()) >= 20)
        assert node.aggregator.rejections == {"architecture": 10, "non_finite": 10}
        assert not node.aggregator.pending
        for k in before:
            np.testing.assert_array_equal(node.aggregator.weights[k], before[k])
        assert len(caplog.records) == 2  # one line per reason, not per packet
        await node.run_continuous(data, rounds=2)  # still learning
        assert [r["round"] for r in node.history] == [1, 2, 3]
        await attacker.close()
        await node.stop()

    run(scenario())


def test_a_flood_of_signed_packets_is_rate_limited():
    async def scenario() -> None:
        victim, attacker = await open_mesh(2, domain="hostile-flood-signed")
        await wait_for(lambda: victim.peers() and attacker.peers())
        got: list[bytes] = []
        victim.set_receiver(lambda s, d: got.append(d))
        for i in range(3000):
            attacker.community.send_datagram(victim.address, 10_000 + i, b"spam")
        await asyncio.sleep(0.5)
        stats = victim.community.stats
        assert stats["refused_rate_limited"] > 2000
        assert len(got) < 600
        await asyncio.sleep(0.2)  # tokens refill: the peer is throttled, not banned
        attacker.send(victim.local_id, b"honest again")
        assert await wait_for(lambda: b"honest again" in got)
        await victim.close()
        await attacker.close()

    run(scenario())

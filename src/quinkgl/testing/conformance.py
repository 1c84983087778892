"""The conformance suite every Transport passes.

Subclass :class:`TransportConformance` in a pytest module and implement :meth:`open` and
:meth:`settle`; pytest then runs every ``test_*`` method against that transport::

    class TestMyTransport(TransportConformance):
        async def open(self, count): ...     # start `count` connected transports
        async def settle(self, transports): ... # let in-flight messages arrive

Each test runs its own event loop, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from quinkgl.errors import TransportError
from quinkgl.transport.base import Transport

Inbox = list[tuple[str, bytes]]


def _store(inbox: Inbox, sender: str, data: bytes) -> None:
    inbox.append((sender, bytes(data)))


class TransportConformance:
    """Behaviour every transport must show.  Delivery is not guaranteed in general, but the
    harness's network must be loss-free so that these checks are exact."""

    #: the largest message the suite sends; a transport with a smaller limit lowers it.
    large_message = 60_000

    async def open(self, count: int) -> list[Transport]:
        raise NotImplementedError

    async def settle(self, transports: list[Transport]) -> None:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------

    def _run(
        self, scenario: Callable[[list[Transport], list[Inbox]], Awaitable[Any]], n: int
    ) -> None:
        async def main() -> None:
            transports = await self.open(n)
            inboxes: list[Inbox] = [[] for _ in transports]
            for transport, inbox in zip(transports, inboxes, strict=True):
                transport.set_receiver(functools.partial(_store, inbox))
            try:
                await scenario(transports, inboxes)
            finally:
                for transport in transports:
                    await transport.close()

        asyncio.run(main())

    # -- the checks -------------------------------------------------------------------------

    def test_peers_know_each_other(self) -> None:
        async def scenario(ts: list[Transport], _: list[Inbox]) -> None:
            await self.settle(ts)
            for t in ts:
                others = {o.local_id for o in ts if o is not t}
                assert others <= set(t.peers()), f"{t.local_id} sees {t.peers()}"
                assert t.local_id not in t.peers()

        self._run(scenario, 3)

    def test_bytes_arrive_intact_with_the_sender_id(self) -> None:
        async def scenario(ts: list[Transport], boxes: list[Inbox]) -> None:
            await self.settle(ts)
            a, b = ts
            payloads = [b"", b"x", bytes(range(256)) * 10]
            for p in payloads:
                a.send(b.local_id, p)
            await self.settle(ts)
            assert sorted(d for _, d in boxes[1]) == sorted(payloads)
            assert {s for s, _ in boxes[1]} == {a.local_id}
            assert boxes[0] == []

        self._run(scenario, 2)

    def test_large_message(self) -> None:
        async def scenario(ts: list[Transport], boxes: list[Inbox]) -> None:
            await self.settle(ts)
            blob = bytes(i % 251 for i in range(self.large_message))
            ts[0].send(ts[1].local_id, blob)
            await self.settle(ts)
            assert [d for _, d in boxes[1]] == [blob]

        self._run(scenario, 2)

    def test_both_directions_and_many_messages(self) -> None:
        async def scenario(ts: list[Transport], boxes: list[Inbox]) -> None:
            await self.settle(ts)
            a, b = ts
            for i in range(50):
                a.send(b.local_id, f"a{i}".encode())
                b.send(a.local_id, f"b{i}".encode())
            await self.settle(ts)
            assert sorted(d for _, d in boxes[1]) == sorted(f"a{i}".encode() for i in range(50))
            assert sorted(d for _, d in boxes[0]) == sorted(f"b{i}".encode() for i in range(50))

        self._run(scenario, 2)

    def test_unknown_peer_is_an_error(self) -> None:
        async def scenario(ts: list[Transport], _: list[Inbox]) -> None:
            try:
                ts[0].send("no-such-peer", b"hello")
            except TransportError:
                return
            raise AssertionError("sending to an unknown peer must raise TransportError")

        self._run(scenario, 1)

    def test_closed_transport_refuses_to_send_and_close_is_idempotent(self) -> None:
        async def scenario(ts: list[Transport], _: list[Inbox]) -> None:
            await self.settle(ts)
            a, b = ts
            await a.close()
            await a.close()
            try:
                a.send(b.local_id, b"late")
            except TransportError:
                return
            raise AssertionError("a closed transport must raise TransportError on send")

        self._run(scenario, 2)

from __future__ import annotations

from quinkgl.testing import MemoryNetwork, NetworkSettings, TransportConformance, VirtualClock
from quinkgl.transport import Transport


class TestMemoryTransport(TransportConformance):
    async def open(self, count: int) -> list[Transport]:
        self.network = MemoryNetwork(NetworkSettings(latency=0.01))
        return [self.network.attach(f"n{i}") for i in range(count)]

    async def settle(self, transports: list[Transport]) -> None:
        self.network.clock.run_until_idle()


def collect(network: MemoryNetwork, peer: str) -> list[tuple[float, str, bytes]]:
    box: list[tuple[float, str, bytes]] = []
    network.endpoints[peer].set_receiver(lambda s, d: box.append((network.clock.now, s, d)))
    return box


def test_latency_and_bandwidth_in_virtual_time():
    net = MemoryNetwork(NetworkSettings(latency=0.1, jitter=0.0, bandwidth=1000.0))
    a, _ = net.attach("a"), net.attach("b")
    box = collect(net, "b")
    a.send("b", b"x" * 500)
    a.send("b", b"y" * 500)  # queues behind the first on a's uplink
    net.clock.run_until_idle()
    assert [round(t, 6) for t, _, _ in box] == [0.6, 1.1]
    assert net.stats["bytes_sent"] == 1000


def test_loss_and_duplication_are_seeded():
    def run(seed: int) -> list[bytes]:
        net = MemoryNetwork(NetworkSettings(loss=0.3, duplicate=0.2), seed=seed)
        a, _ = net.attach("a"), net.attach("b")
        box = collect(net, "b")
        for i in range(200):
            a.send("b", str(i).encode())
        net.clock.run_until_idle()
        return [d for _, _, d in box]

    first = run(1)
    assert first == run(1)
    assert first != run(2)
    assert 100 < len(first) < 200
    assert len(set(first)) < len(first)  # some arrived twice


def test_partitions_and_offline_nodes_drop_messages():
    net = MemoryNetwork(NetworkSettings(latency=0.01))
    a, _, _ = (net.attach(p) for p in "abc")
    box_b, box_c = collect(net, "b"), collect(net, "c")
    net.partition([{"a", "b"}, {"c"}])
    a.send("b", b"1")
    a.send("c", b"2")
    net.clock.run_until_idle()
    assert [d for *_, d in box_b] == [b"1"] and box_c == []
    net.heal()
    net.set_online("c", False)
    a.send("c", b"3")
    net.clock.run_until_idle()
    assert box_c == [] and net.stats["dropped_offline"] == 1
    net.set_online("c", True)
    a.send("c", b"4")
    net.clock.run_until_idle()
    assert [d for *_, d in box_c] == [b"4"]


def test_clock_runs_events_in_order():
    clock = VirtualClock()
    seen: list[str] = []
    clock.schedule(2.0, lambda: seen.append("late"))
    clock.schedule(1.0, lambda: seen.append("early"))
    clock.schedule(1.0, lambda: seen.append("early-second"))
    assert clock.run_until(1.5) == 2
    assert seen == ["early", "early-second"] and clock.now == 1.5
    clock.run_until_idle()
    assert seen[-1] == "late"

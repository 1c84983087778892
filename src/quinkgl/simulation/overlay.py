"""Peer-sampling overlays without learning: N nodes shuffling views over the in-memory network.

Used to check topology properties at scale (in-degree balance, connectivity under removal) with
the real message path: aggregator tick -> encoded bytes -> network -> aggregator receive.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quinkgl.aggregation import ModelAggregator
from quinkgl.topology import CyclonTopology, PeerInfo
from quinkgl.transport import MemoryNetwork, MemoryTransport, NetworkSettings


@dataclass
class OverlayNode:
    aggregator: ModelAggregator
    transport: MemoryTransport
    alive: bool = True


class CyclonOverlay:
    """``n`` Cyclon nodes, each starting from a random view, shuffling once per cycle."""

    def __init__(self, n: int, view_size: int = 20, shuffle_length: int = 5, seed: int = 0) -> None:
        self.network = MemoryNetwork(NetworkSettings(latency=0.01, jitter=0.5), seed=seed)
        self.rng = np.random.default_rng([seed, 1])
        seeds = np.random.SeedSequence([seed, 2]).spawn(n)
        weights = {"w": np.zeros(1, dtype=np.float32)}
        ids = [f"p{i}" for i in range(n)]
        self.nodes: dict[str, OverlayNode] = {}
        for peer_id, node_seed in zip(ids, seeds, strict=True):
            aggregator = ModelAggregator(
                peer_id,
                weights,
                num_samples=1,
                topology=CyclonTopology(view_size, shuffle_length),
                rng=np.random.default_rng(node_seed),
            )
            transport = self.network.attach(peer_id)
            node = OverlayNode(aggregator, transport)
            transport.set_receiver(self._receiver(node))
            self.nodes[peer_id] = node
        for peer_id, node in self.nodes.items():
            others = [p for p in ids if p != peer_id]
            for j in self.rng.choice(len(others), size=min(view_size, len(others)), replace=False):
                node.aggregator.peer_seen(PeerInfo(others[int(j)]), 0.0)
        self.cycles = 0

    def _receiver(self, node: OverlayNode) -> Callable[[str, bytes], None]:
        def receive(sender: str, data: bytes) -> None:
            for out in node.aggregator.receive(sender, data, self.network.clock.now):
                node.transport.send(out.peer_id, out.data)

        return receive

    def views(self) -> dict[str, list[str]]:
        return {
            pid: [p.peer_id for p in n.aggregator.topology.live_peers()]
            for pid, n in self.nodes.items()
            if n.alive
        }

    def run(self, cycles: int) -> None:
        """Every alive node starts one shuffle per cycle, in a random order per cycle."""
        clock = self.network.clock
        for _ in range(cycles):
            alive = [pid for pid, n in self.nodes.items() if n.alive]
            start = clock.now
            for k, i in enumerate(self.rng.permutation(len(alive))):
                node = self.nodes[alive[int(i)]]
                at = start + (k + 1) / (len(alive) + 1)
                clock.schedule(at, functools.partial(self._shuffle, node))
            clock.run_until(start + 1.0)
            self.cycles += 1
        clock.run_until_idle()

    def _shuffle(self, node: OverlayNode) -> None:
        for out in node.aggregator.tick(self.network.clock.now):
            node.transport.send(out.peer_id, out.data)

    def remove(self, fraction: float) -> list[str]:
        """Kill a random ``fraction`` of the alive nodes (they stop answering, no goodbye)."""
        alive = sorted(pid for pid, n in self.nodes.items() if n.alive)
        picks = self.rng.choice(len(alive), int(len(alive) * fraction), replace=False)
        victims = [alive[int(i)] for i in picks]
        for pid in victims:
            self.nodes[pid].alive = False
            self.network.set_online(pid, False)
        return victims

    def in_degrees(self) -> np.ndarray:
        """In-degree of every alive node, counting only links from alive nodes."""
        views = self.views()
        counts = dict.fromkeys(views, 0)
        for view in views.values():
            for peer in view:
                if peer in counts:
                    counts[peer] += 1
        return np.array(list(counts.values()))

    def dead_links(self) -> int:
        views = self.views()
        return sum(1 for view in views.values() for p in view if p not in views)

    def strongly_connected(self) -> bool:
        """Whether every alive node reaches every other over alive links, both ways."""
        views = self.views()
        graph = {p: [q for q in v if q in views] for p, v in views.items()}
        reverse: dict[str, list[str]] = {p: [] for p in graph}
        for p, qs in graph.items():
            for q in qs:
                reverse[q].append(p)
        start = next(iter(graph))
        return _reach(graph, start) == len(graph) == _reach(reverse, start)


def _reach(graph: dict[str, list[str]], start: str) -> int:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in graph[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return len(seen)

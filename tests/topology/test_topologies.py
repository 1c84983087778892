from __future__ import annotations

import numpy as np
import pytest

from quinkgl import CyclonTopology, PeerInfo, RandomTopology
from quinkgl.errors import ConfigurationError
from quinkgl.simulation.overlay import CyclonOverlay
from quinkgl.topology.cyclon import REQUEST, RESPONSE


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_random_topology_picks_uniformly_among_live_peers():
    topo = RandomTopology(liveness_timeout=10.0)
    topo.bind(PeerInfo("me"))
    for i in range(5):
        topo.peer_seen(PeerInfo(f"p{i}"), now=0.0)
    topo.peer_seen(PeerInfo("me"), now=0.0)
    topo.peer_seen(PeerInfo("p0"), now=15.0)  # only p0 is fresh at t=15
    assert [p.peer_id for p in topo.live_peers()] == ["p0"]
    topo.peer_seen(PeerInfo("p1"), now=15.0)
    counts = {"p0": 0, "p1": 0}
    generator = rng()
    for _ in range(2000):
        counts[topo.select_peers(1, generator)[0].peer_id] += 1
    assert abs(counts["p0"] - counts["p1"]) < 200
    topo.peer_lost("p0")
    assert [p.peer_id for p in topo.select_peers(3, generator)] == ["p1"]


def test_random_topology_caps_memory():
    topo = RandomTopology(max_peers=3)
    topo.bind(PeerInfo("me"))
    for i in range(10):
        topo.peer_seen(PeerInfo(f"p{i}"), now=float(i))
    assert sorted(p.peer_id for p in topo.live_peers()) == ["p7", "p8", "p9"]


def test_cyclon_shuffle_exchanges_entries_by_the_protocol():
    a, b = CyclonTopology(view_size=4, shuffle_length=2), CyclonTopology(4, 2)
    a.bind(PeerInfo("a"))
    b.bind(PeerInfo("b"))
    for peer in ("b", "x1", "x2"):
        a.peer_seen(PeerInfo(peer), 0.0)
    for peer in ("y1", "y2", "y3"):
        b.peer_seen(PeerInfo(peer), 0.0)
    a.view["b"].age = 5  # b is a's oldest neighbour, so a shuffles with b
    [(target, request)] = a.tick(1.0, rng())
    assert target == "b" and request["type"] == REQUEST
    assert request["entries"][0][:2] == ["a", 0]  # a fresh entry for the initiator
    assert "b" not in a.view  # the target leaves the initiator's view
    [(back, response)] = b.handle("a", request, 1.0, rng(1))
    assert back == "a" and response["type"] == RESPONSE and len(response["entries"]) == 2
    assert "a" in b.view and len(b.view) <= 4
    a.handle("b", response, 1.1, rng(2))
    assert len(a.view) <= 4 and "a" not in a.view
    assert {e[0] for e in response["entries"]} <= set(a.view)


def test_cyclon_ignores_malformed_entries():
    topo = CyclonTopology(view_size=3, shuffle_length=3)
    topo.bind(PeerInfo("me"))
    junk = {
        "type": REQUEST,
        "entries": [
            ["ok", 1, None],
            ["", 1, None],
            [7, 1, None],
            ["x" * 500, 1, None],
            ["neg", -1, None],
            "nope",
            ["addr", 0, ["h", 99999]],
        ],
    }
    topo.handle("sender", junk, 0.0, rng())
    assert set(topo.view) == {"ok"}


def test_cyclon_rejects_bad_settings():
    with pytest.raises(ConfigurationError):
        CyclonTopology(view_size=5, shuffle_length=6)


def test_cyclon_at_1000_nodes_balances_in_degree_and_survives_half_failing():
    overlay = CyclonOverlay(1000, view_size=20, shuffle_length=5, seed=0)
    initial_spread = overlay.in_degrees().std()
    overlay.run(50)
    degrees = overlay.in_degrees()
    assert degrees.std() <= 3.0, degrees.std()
    assert degrees.std() < initial_spread
    assert overlay.strongly_connected()

    overlay.remove(0.5)
    assert overlay.strongly_connected()
    dead_before = overlay.dead_links()
    overlay.run(30)
    assert overlay.strongly_connected()
    assert overlay.dead_links() < dead_before / 3, (overlay.dead_links(), dead_before)

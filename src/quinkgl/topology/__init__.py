"""Peer sampling: whom a node gossips with."""

from quinkgl.topology.base import Topology, TopologyMessage
from quinkgl.topology.cyclon import CyclonTopology
from quinkgl.topology.peer import PeerInfo
from quinkgl.topology.random import RandomTopology

__all__ = ["CyclonTopology", "PeerInfo", "RandomTopology", "Topology", "TopologyMessage"]

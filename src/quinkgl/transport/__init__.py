"""Transports: how bytes travel between nodes (in memory for simulation, ipv8 for real)."""

from quinkgl.transport.base import Receiver, Transport
from quinkgl.transport.memory import MemoryNetwork, MemoryTransport, NetworkSettings, VirtualClock

__all__ = [
    "MemoryNetwork",
    "MemoryTransport",
    "NetworkSettings",
    "Receiver",
    "Transport",
    "VirtualClock",
]

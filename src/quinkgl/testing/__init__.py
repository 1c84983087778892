"""A public test kit: the in-memory network, its virtual clock, and the conformance suite every
:class:`~quinkgl.transport.Transport` must pass."""

from quinkgl.testing.conformance import TransportConformance
from quinkgl.transport.memory import MemoryNetwork, NetworkSettings, VirtualClock

__all__ = ["MemoryNetwork", "NetworkSettings", "TransportConformance", "VirtualClock"]

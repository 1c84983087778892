"""Many nodes in one process on the in-memory network, seeded and in virtual time."""

from quinkgl.simulation.settings import SimulationSettings
from quinkgl.simulation.simulator import Simulation, SimulationResult, run_simulation

__all__ = ["Simulation", "SimulationResult", "SimulationSettings", "run_simulation"]

"""Simulator throughput: node updates per second at N = 100 and 1,000 with the MLP on digits.

A node update is one wake of one node: merge what arrived, train one epoch on its partition,
encode its model and send it to `fanout` peers (who decode and validate it).  The baseline in the
same run is the bare training step on the same partitions without any gossip, so the ratio shows
what the gossip machinery costs on top of training.

    python benchmarks/simulation_speed.py [--rounds 3] [--nodes 100 1000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from quinkgl.models.pytorch import mix_seed
from quinkgl.simulation import Simulation, SimulationSettings


def measure(nodes: int, rounds: int) -> dict[str, float]:
    settings = SimulationSettings(
        nodes=nodes,
        split="iid",
        rounds=rounds,
        epochs=1,
        eval_every=0,
        centralized=False,
        seed=0,
    )
    simulation = Simulation(settings)
    for node in simulation.nodes[:20]:  # warm up torch's lazy initialisation
        simulation.trainer.train(node.data, simulation.config)
    # Baseline: the same training work with no merging, encoding or network.
    start = time.perf_counter()
    for r in range(rounds):
        for node in simulation.nodes:
            simulation.trainer.set_weights(node.aggregator.weights)
            simulation.trainer.train(
                node.data, simulation.config, round_seed=mix_seed(node.index, r)
            )
    baseline = nodes * rounds / (time.perf_counter() - start)
    result = simulation.run()
    gossip_seconds = result.wall_seconds - result.eval_seconds
    rate = result.node_updates / gossip_seconds
    return {
        "nodes": nodes,
        "rounds": rounds,
        "node_updates": result.node_updates,
        "node_updates_per_second": round(rate, 1),
        "train_only_updates_per_second": round(baseline, 1),
        "gossip_over_train_only": round(rate / baseline, 3),
        "bytes_sent": result.stats["bytes_sent"],
        "messages_sent": result.stats["messages_sent"],
        "seconds": round(gossip_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    report = {
        "benchmark": "simulation_speed",
        "model": "mlp",
        "dataset": "digits",
        "python": platform.python_version(),
        "results": [measure(n, args.rounds) for n in args.nodes],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

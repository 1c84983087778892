"""``quinkgl simulate``: many nodes in one process, seeded, with a centralized baseline."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from tqdm import tqdm

from quinkgl.cli.common import write_outputs
from quinkgl.data import DatasetLoader
from quinkgl.models.zoo import MODELS
from quinkgl.simulation import Simulation, SimulationSettings
from quinkgl.simulation.report import summary_table
from quinkgl.simulation.settings import LR_SCHEDULES, MODES, SPLITS, TOPOLOGIES

DEFAULTS = {f.name: f.default for f in fields(SimulationSettings)}


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "simulate",
        help="simulate a gossip learning swarm in one process",
        description="Simulate N gossip learning nodes on an in-memory network in virtual time. "
        "With no options: 20 nodes on digits, Dirichlet(0.5) label skew, 40 rounds.",
    )
    d = DEFAULTS
    p.add_argument("--nodes", type=int, default=d["nodes"])
    p.add_argument("--dataset", default=d["dataset"], choices=DatasetLoader.NAMES)
    p.add_argument("--model", default=d["model"], choices=MODELS)
    p.add_argument("--split", default=d["split"], choices=SPLITS)
    p.add_argument("--alpha", type=float, default=d["alpha"], help="Dirichlet concentration")
    p.add_argument("--classes-per-node", type=int, default=d["classes_per_node"])
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--mode", default=d["mode"], choices=MODES)
    p.add_argument("--topology", default=d["topology"], choices=TOPOLOGIES)
    p.add_argument("--view-size", type=int, default=d["view_size"], help="Cyclon view size")
    p.add_argument("--shuffle-length", type=int, default=d["shuffle_length"])
    p.add_argument("--fanout", type=int, default=d["fanout"])
    p.add_argument(
        "--aggregation", default=d["aggregation"], choices=("data_size", "uniform", "age")
    )
    p.add_argument("--epochs", type=int, default=d["epochs"], help="local epochs per round")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["learning_rate"], dest="learning_rate")
    p.add_argument("--lr-schedule", default=d["lr_schedule"], choices=LR_SCHEDULES)
    p.add_argument("--lr-floor", type=float, default=d["lr_floor"], help="final lr / initial lr")
    p.add_argument("--optimizer", default=d["optimizer"], choices=("sgd", "adam"))
    p.add_argument("--churn", type=float, default=d["churn"], help="share of nodes offline")
    p.add_argument("--loss", type=float, default=d["loss"], help="message loss probability")
    p.add_argument("--duplicate", type=float, default=d["duplicate"])
    p.add_argument("--latency", type=float, default=d["latency"], help="seconds, one way")
    p.add_argument("--bandwidth", type=float, default=d["bandwidth"], help="uplink bytes/s")
    p.add_argument("--compression", default=d["compression"], choices=("none", "zstd"))
    p.add_argument("--test-fraction", type=float, default=d["test_fraction"])
    p.add_argument("--eval-every", type=int, default=d["eval_every"])
    p.add_argument("--no-centralized", dest="centralized", action="store_false")
    p.add_argument("--json-out", help="write the full result as JSON here")
    p.add_argument("--plot", help="write a PNG of accuracy vs rounds and vs bytes here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = SimulationSettings(**{name: getattr(args, name) for name in DEFAULTS})
    with tqdm(
        total=settings.rounds, unit="round", disable=True if args.quiet else None, leave=False
    ) as bar:
        last = {"round": 0}

        def progress(record: dict[str, Any]) -> None:
            bar.update(record["round"] - last["round"])
            last["round"] = record["round"]
            bar.set_postfix(acc=f"{record['mean_accuracy']:.3f}", online=record["online"])

        simulation = Simulation(settings, on_round=progress)
        if not args.quiet:
            print(
                f"simulating {settings.nodes} nodes on {settings.dataset} "
                f"({settings.split} split) for {settings.rounds} rounds, seed {settings.seed}"
            )
        result = simulation.run().to_json()
    print(summary_table(result))
    write_outputs(result, args.json_out, args.plot)
    return 0

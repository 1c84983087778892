"""``quinkgl train``: centralized training of a built-in model, the reference for gossip."""

from __future__ import annotations

import argparse
from typing import Any

from quinkgl.cli.common import add_data_options, write_json
from quinkgl.models import TrainingConfig
from quinkgl.simulation.experiment import load_experiment_data, train_centralized


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "train", help="train one model on all the data (the centralized baseline)"
    )
    add_data_options(parser)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    parser.add_argument("--json-out", help="write the result as JSON here")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    data = load_experiment_data(args.dataset, args.test_fraction, args.seed)
    config = TrainingConfig(
        epochs=1,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
    )
    result = train_centralized(data, args.model, config, epochs=args.epochs, seed=args.seed)
    print(
        f"{args.model} on {args.dataset}: test accuracy {result['accuracy']:.4f} "
        f"after {args.epochs} epochs ({result['wall_seconds']:.1f} s)"
    )
    if args.json_out:
        write_json(args.json_out, {"dataset": args.dataset, "model": args.model, **result})
    return 0

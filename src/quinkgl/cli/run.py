"""``quinkgl run``: one gossip learning node on this machine, over ipv8."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import signal
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from quinkgl.cli.common import write_json
from quinkgl.data import DatasetLoader
from quinkgl.errors import ConfigurationError
from quinkgl.models.base import ModelWrapper, TrainingConfig
from quinkgl.models.zoo import MODELS, build_model
from quinkgl.node import GossipNode, NodeSettings
from quinkgl.simulation.experiment import load_experiment_data, split_data
from quinkgl.simulation.settings import LR_SCHEDULES, SPLITS
from quinkgl.topology import CyclonTopology, RandomTopology, Topology

DEMO_DOMAIN = "quinkgl-demo"


def add_learning_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``swarm`` (the swarm passes them on to every node)."""
    p.add_argument("--dataset", default="digits", choices=DatasetLoader.NAMES)
    p.add_argument("--model", default="mlp", choices=MODELS)
    p.add_argument("--split", default="dirichlet", choices=SPLITS)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--classes-per-node", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the data split")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--epochs", type=int, default=3, help="local epochs per round")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--lr-schedule", default="cosine", choices=LR_SCHEDULES)
    p.add_argument("--fanout", type=int, default=2)
    p.add_argument("--topology", default="random", choices=("random", "cyclon"))
    p.add_argument("--interval", type=float, default=0.5, help="seconds per round at least")
    p.add_argument("--domain", default=DEMO_DOMAIN, help="nodes of one domain learn together")
    p.add_argument("--chunk-size", type=int, default=60_000, help="1200 for the internet")
    p.add_argument("--compression", default="none", choices=("none", "zstd"))


def learning_option_names() -> list[str]:
    """The destinations of :func:`add_learning_options`, which a swarm passes on to its nodes."""
    probe = argparse.ArgumentParser(add_help=False)
    add_learning_options(probe)
    return [action.dest for action in probe._actions]


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run one node on this machine",
        description="Run one gossip learning node over ipv8. Its data is partition --index of "
        "--nodes of a built-in dataset, or comes from --user-file.",
    )
    add_learning_options(p)
    p.add_argument("--nodes", type=int, default=8, help="partitions the dataset is split into")
    p.add_argument("--index", type=int, default=0, help="which partition this node trains on")
    p.add_argument("--name", help="this node's name in logs (default node-INDEX)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--min-peers", type=int, default=0, help="wait (up to 60 s) for this many peers first"
    )
    p.add_argument("--key-file", help="keep this node's identity in this file")
    p.add_argument("--peer-timeout", type=float, default=15.0, help="evict peers silent this long")
    p.add_argument(
        "--user-file",
        help="a Python file of yours defining build_model() -> ModelWrapper and "
        "load_data() -> ((X, y), (X_test, y_test) or None)",
    )
    p.add_argument("--progress", default="bar", choices=("bar", "jsonl", "none"))
    p.add_argument("--json-out", help="write this node's result as JSON here")
    p.set_defaults(handler=run)


def _load_user_file(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"--user-file {path} does not exist")
    spec = importlib.util.spec_from_file_location("quinkgl_user_file", file)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("build_model", "load_data"):
        if not callable(getattr(module, name, None)):
            raise ConfigurationError(f"{path} must define {name}()")
    return module


def build_node_inputs(args: argparse.Namespace) -> tuple[ModelWrapper, Any, Any]:
    """The model, this node's training data and the held-out test data."""
    if args.user_file:
        module = _load_user_file(args.user_file)
        model = module.build_model()
        if not isinstance(model, ModelWrapper):
            raise ConfigurationError("build_model() must return a PyTorchModel or TensorFlowModel")
        train, test = module.load_data()
        return model, train, test
    if not 0 <= args.index < args.nodes:
        raise ConfigurationError(f"--index must be in 0..{args.nodes - 1}, got {args.index}")
    data = load_experiment_data(args.dataset, 0.2, args.seed)
    split = split_data(
        data.train, args.split, args.nodes, args.seed, args.alpha, args.classes_per_node
    )
    model = build_model(args.model, data.info.feature_shape, data.info.num_classes, args.seed)
    return model, split[args.index], data.test


def make_node(args: argparse.Namespace, model: ModelWrapper) -> GossipNode:
    from quinkgl.transport.ipv8 import parse_address

    topology: Topology = CyclonTopology() if args.topology == "cyclon" else RandomTopology()
    return GossipNode(
        node_id=args.name or f"node-{args.index}",
        domain=args.domain,
        model=model,
        topology=topology,
        training_config=TrainingConfig(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed
        ),
        port=args.port,
        bootstrap=[parse_address(b) for b in args.bootstrap],
        settings=NodeSettings(
            host=args.host,
            gossip_interval=args.interval,
            fanout=args.fanout,
            lr_schedule=args.lr_schedule,
            compression=args.compression,
            chunk_size=args.chunk_size,
            key_file=args.key_file,
            peer_timeout=args.peer_timeout,
        ),
    )


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def run_node(args: argparse.Namespace) -> dict[str, Any]:
    model, train, test = build_node_inputs(args)
    node = make_node(args, model)
    await node.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(node.stop()))
    jsonl = args.progress == "jsonl"
    if jsonl:
        emit("ready", name=node.node_id, address=list(node.address), peer_id=node.peer_id)
    else:
        host, port = node.address
        print(f"{node.node_id} listening on {host}:{port} (peer id {node.peer_id[:12]})")
    bar = tqdm(total=args.rounds, unit="round", disable=True if args.progress != "bar" else None)

    def on_round(record: dict[str, Any]) -> None:
        record = {**record, "bytes_sent": node.summary()["transport"].get("bytes_sent", 0)}
        if jsonl:
            emit("round", name=node.node_id, **record)
        bar.update(1)
        bar.set_postfix(acc=f"{record.get('accuracy', float('nan')):.3f}", peers=record["peers"])

    if args.min_peers:
        await node.wait_for_peers(args.min_peers, timeout=60.0)
    started = time.monotonic()
    try:
        await node.run_continuous(
            train, rounds=args.rounds, duration=args.duration, eval_data=test, on_round=on_round
        )
        final = model.evaluate(test) if test is not None else {}
        summary = node.summary()
    finally:
        bar.close()
        await node.stop()
    result = {
        "name": node.node_id,
        "accuracy": final.get("accuracy"),
        "loss": final.get("loss"),
        "rounds": len(node.history),
        "wall_seconds": time.monotonic() - started,
        "bytes_sent": int(summary["transport"].get("bytes_sent", 0)) if summary["transport"] else 0,
        "summary": summary,
        "history": node.history,
    }
    return result


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(run_node(args))
    if args.progress == "jsonl":
        emit("done", **result)
    else:
        accuracy = result["accuracy"]
        shown = f", final accuracy {accuracy:.4f}" if accuracy is not None else ""
        print(f"{result['name']}: {result['rounds']} rounds{shown}")
    if args.json_out:
        write_json(args.json_out, result)
    return 0 if result["rounds"] > 0 else 1

"""``quinkgl swarm``: N real node processes on this machine, gossiping over UDP on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from quinkgl.cli.common import write_outputs
from quinkgl.cli.run import add_learning_options, learning_option_names
from quinkgl.errors import ConfigurationError, QuinkGLError
from quinkgl.models.base import TrainingConfig, scheduled_learning_rate
from quinkgl.simulation.experiment import load_experiment_data, train_centralized

FORWARDED = tuple(learning_option_names())


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "swarm",
        help="run N real node processes on loopback (the demo)",
        description="Start N node processes on this machine that find each other over UDP on "
        "loopback and learn together; then compare them with a centralized baseline.",
    )
    add_learning_options(p)
    p.add_argument("--nodes", type=int, default=8)
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    p.add_argument("--no-centralized", dest="centralized", action="store_false")
    p.add_argument("--json-out", help="write the result as JSON here")
    p.add_argument("--plot", help="write a PNG of accuracy vs rounds and vs bytes here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def node_command(args: argparse.Namespace, index: int, bootstrap: list[str]) -> list[str]:
    command = [sys.executable, "-m", "quinkgl.cli.main", "run", "--progress", "jsonl"]
    command += ["--nodes", str(args.nodes), "--index", str(index)]
    command += ["--min-peers", str(args.nodes - 1)]  # start the rounds together
    for name in FORWARDED:
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for address in bootstrap:
        command += ["--bootstrap", address]
    return command


class Swarm:
    """Owns the node processes: starts them, follows their progress, always stops them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: list[asyncio.subprocess.Process] = []
        self.results: dict[int, dict[str, Any]] = {}
        self.rounds: dict[int, list[dict[str, Any]]] = {i: [] for i in range(args.nodes)}
        self.bar = tqdm(
            total=args.nodes * args.rounds,
            unit="round",
            disable=True if args.quiet else None,
            leave=False,
        )

    async def start_node(self, index: int, bootstrap: list[str]) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *node_command(self.args, index, bootstrap),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    async def follow(
        self, index: int, process: asyncio.subprocess.Process, ready: asyncio.Future[str] | None
    ) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "ready" and ready is not None and not ready.done():
                ready.set_result(f"{event['address'][0]}:{event['address'][1]}")
            elif kind == "round":
                self.rounds[index].append(event)
                self.bar.update(1)
                accs = [
                    r[-1]["accuracy"] for r in self.rounds.values() if r and "accuracy" in r[-1]
                ]
                self.bar.set_postfix(acc=f"{np.mean(accs):.3f}", peers=event.get("peers"))
            elif kind == "done":
                self.results[index] = event
        code = await process.wait()
        if ready is not None and not ready.done():
            ready.set_exception(
                QuinkGLError(f"node {index} exited with {code} before it was ready")
            )
        if code != 0 and index not in self.results:
            err = b""
            if process.stderr is not None:
                err = await process.stderr.read()
            tail = err.decode(errors="replace").strip().splitlines()[-5:]
            raise QuinkGLError(f"node {index} failed with exit code {code}: " + " | ".join(tail))

    async def run(self) -> None:
        first = await self.start_node(0, [])
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        followers = [asyncio.ensure_future(self.follow(0, first, ready))]
        seed = await asyncio.wait_for(ready, timeout=120)
        for index in range(1, self.args.nodes):
            process = await self.start_node(index, [seed])
            followers.append(asyncio.ensure_future(self.follow(index, process, None)))
        await asyncio.gather(*followers)

    async def shutdown(self) -> None:
        """Stop every node still running: SIGTERM, then SIGKILL after a grace period."""
        alive = [p for p in self.processes if p.returncode is None]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in alive:
            try:
                await asyncio.wait_for(process.wait(), timeout=5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.bar.close()


async def run_swarm(args: argparse.Namespace) -> tuple[Swarm, float]:
    swarm = Swarm(args)
    started = time.monotonic()
    try:
        await asyncio.wait_for(swarm.run(), timeout=args.timeout)
    except asyncio.TimeoutError:
        raise QuinkGLError(f"the swarm did not finish within {args.timeout:.0f} s") from None
    finally:
        await swarm.shutdown()
    return swarm, time.monotonic() - started


def summarize(args: argparse.Namespace, swarm: Swarm, wall: float) -> dict[str, Any]:
    finals = [swarm.results[i]["accuracy"] for i in sorted(swarm.results)]
    history = []
    for r in range(1, args.rounds + 1):
        records = [
            next((e for e in swarm.rounds[i] if e["round"] == r), None) for i in swarm.rounds
        ]
        present = [e for e in records if e is not None and "accuracy" in e]
        if not present:
            continue
        accs = [e["accuracy"] for e in present]
        history.append(
            {
                "round": r,
                "mean_accuracy": float(np.mean(accs)),
                "min_accuracy": float(np.min(accs)),
                "max_accuracy": float(np.max(accs)),
                "bytes_sent": int(sum(e["bytes_sent"] for e in present)),
                "nodes_reporting": len(present),
            }
        )
    centralized = None
    if args.centralized:
        data = load_experiment_data(args.dataset, 0.2, args.seed)
        config = TrainingConfig(batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
        centralized = train_centralized(
            data,
            args.model,
            config,
            args.rounds * args.epochs,
            args.seed,
            learning_rate_at=lambda e: scheduled_learning_rate(
                args.lr, args.lr_schedule, 0.05, e // args.epochs, args.rounds
            ),
        )
    mean = float(np.mean(finals))
    central = centralized["accuracy"] if centralized else None
    bytes_sent = int(sum(swarm.results[i]["bytes_sent"] for i in swarm.results))
    return {
        "settings": {
            "nodes": args.nodes,
            **{k: getattr(args, k) for k in FORWARDED},
            "churn": 0.0,
            "loss": 0.0,
        },
        "rounds": args.rounds,
        "mean_accuracy": mean,
        "min_accuracy": float(np.min(finals)),
        "max_accuracy": float(np.max(finals)),
        "centralized_accuracy": central,
        "relative_to_centralized": mean / central if central else None,
        "node_accuracies": finals,
        "nodes": [
            {
                "name": swarm.results[i]["name"],
                "accuracy": swarm.results[i]["accuracy"],
                "rounds": swarm.results[i]["rounds"],
                "peers": swarm.rounds[i][-1]["peers"] if swarm.rounds[i] else 0,
                "merged_updates": swarm.results[i]["summary"]["aggregator"].get(
                    "merged_updates", 0
                ),
                "refused": swarm.results[i]["summary"]["rejections"],
                "bytes_sent": swarm.results[i]["bytes_sent"],
            }
            for i in sorted(swarm.results)
        ],
        "bytes_sent": bytes_sent,
        "wall_seconds": wall,
        "centralized": centralized,
        "history": history,
    }


def table(result: dict[str, Any]) -> str:
    central = result["centralized_accuracy"]
    lines = [
        f"  {'node':<8} {'accuracy':>8} {'rounds':>6} {'peers':>5} {'merged':>6} {'MB sent':>8}"
    ]
    for n in result["nodes"]:
        lines.append(
            f"  {n['name']:<8} {n['accuracy']:>8.4f} {n['rounds']:>6} {n['peers']:>5} "
            f"{n['merged_updates']:>6} {n['bytes_sent'] / 1e6:>8.2f}"
        )
    lines.append(f"  {'mean':<8} {result['mean_accuracy']:>8.4f}")
    if central is not None:
        share = result["relative_to_centralized"]
        lines.append(f"  {'central':<8} {central:>8.4f}   (mean is {share:.1%} of it)")
    lines.append(
        f"  {result['wall_seconds']:.1f} s, {result['bytes_sent'] / 1e6:.2f} MB sent in all"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.nodes < 2:
        raise ConfigurationError(f"a swarm needs at least 2 nodes, got {args.nodes}")
    if not args.quiet:
        print(
            f"starting {args.nodes} node processes on loopback "
            f"({args.dataset}, {args.split} split, {args.rounds} rounds)"
        )
    swarm, wall = asyncio.run(run_swarm(args))
    if len(swarm.results) != args.nodes:
        raise QuinkGLError(f"only {len(swarm.results)} of {args.nodes} nodes finished")
    result = summarize(args, swarm, wall)
    print(table(result))
    write_outputs(result, args.json_out, args.plot)
    return 0

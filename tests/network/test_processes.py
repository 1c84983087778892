"""Real node processes on loopback: the swarm demo, Ctrl-C, and a node killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the built-in models are PyTorch models")
pytestmark = [pytest.mark.network, pytest.mark.slow]

QUINKGL = [sys.executable, "-m", "quinkgl.cli.main"]


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline and str(os.getpid()) != entry.name:
                found.append(int(entry.name))
    return found


def test_swarm_of_eight_processes_matches_the_simulator(tmp_path):
    out = tmp_path / "s.json"
    args = ["--nodes", "8", "--dataset", "digits", "--split", "dirichlet", "--alpha", "0.5"]
    done = subprocess.run(
        [
            *QUINKGL,
            "swarm",
            *args,
            "--json-out",
            str(out),
            "--plot",
            str(tmp_path / "s.png"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    swarm = json.loads(out.read_text())
    assert all(node["peers"] == 7 for node in swarm["nodes"]), swarm[
        "nodes"
    ]  # all found each other
    assert all(node["rounds"] == 40 and node["merged_updates"] > 0 for node in swarm["nodes"])
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    sim_out = tmp_path / "sim.json"
    subprocess.run(
        [*QUINKGL, "simulate", *args, "--json-out", str(sim_out), "--quiet", "--no-centralized"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    simulated = json.loads(sim_out.read_text())
    assert abs(swarm["mean_accuracy"] - simulated["mean_accuracy"]) <= 0.03, (
        swarm["mean_accuracy"],
        simulated["mean_accuracy"],
    )
    assert "central" in done.stdout and "node-7" in done.stdout


def test_ctrl_c_stops_every_node_process():
    marker = f"ctrlc-{uuid.uuid4().hex[:8]}"
    parent = subprocess.Popen(
        [
            *QUINKGL,
            "swarm",
            "--nodes",
            "3",
            "--rounds",
            "10000",
            "--domain",
            marker,
            "--no-centralized",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(processes_with(marker)) < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(processes_with(marker)) == 4  # the parent and its three nodes
        time.sleep(3)
        parent.send_signal(signal.SIGINT)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(marker) == []
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


class Node:
    def __init__(
        self,
        tmp: Path,
        index: int,
        rounds: int,
        marker: str,
        port: int = 0,
        bootstrap: str | None = None,
        key: Path | None = None,
    ):
        command = [
            *QUINKGL,
            "run",
            "--progress",
            "jsonl",
            "--nodes",
            "3",
            "--index",
            str(index),
            "--rounds",
            str(rounds),
            "--interval",
            "0.3",
            "--chunk-size",
            "1200",
            "--peer-timeout",
            "3",
            "--domain",
            marker,
            "--port",
            str(port),
        ]
        if bootstrap:
            command += ["--bootstrap", bootstrap]
        if key:
            command += ["--key-file", str(key)]
        self.log = (tmp / f"node{index}-{time.monotonic_ns()}.jsonl").open("w+")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.DEVNULL)

    def events(self) -> list[dict]:
        self.log.flush()
        lines = Path(self.log.name).read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for(self, predicate, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.2)
        raise AssertionError(f"timed out; last events {self.events()[-2:]}")


def rounds_done(events: list[dict]) -> int:
    return max((e["round"] for e in events if e["event"] == "round"), default=0)


def test_killed_node_is_freed_and_catches_up_after_restart(tmp_path):
    marker = f"kill-{uuid.uuid4().hex[:8]}"
    key = tmp_path / "b.key"
    nodes: list[Node] = []
    try:
        seed = Node(tmp_path, 0, 70, marker)
        nodes.append(seed)
        ready = seed.wait_for(lambda ev: any(e["event"] == "ready" for e in ev), 60)
        address = "{}:{}".format(*next(e for e in ready if e["event"] == "ready")["address"])
        victim = Node(tmp_path, 1, 1000, marker, bootstrap=address, key=key)
        other = Node(tmp_path, 2, 70, marker, bootstrap=address)
        nodes += [victim, other]
        before = victim.wait_for(lambda ev: rounds_done(ev) >= 8, 90)
        victim_port = next(e for e in before if e["event"] == "ready")["address"][1]
        victim.process.send_signal(signal.SIGKILL)  # mid-round, likely mid-transfer
        victim.process.wait(timeout=10)
        killed_at = rounds_done(seed.events())
        time.sleep(5)
        assert rounds_done(seed.events()) > killed_at + 5  # the others carry on
        reborn = Node(tmp_path, 1, 30, marker, port=victim_port, bootstrap=address, key=key)
        nodes.append(reborn)
        finals = {}
        for name, node in (("seed", seed), ("other", other), ("reborn", reborn)):
            events = node.wait_for(lambda ev: any(e["event"] == "done" for e in ev), 180)
            finals[name] = next(e for e in events if e["event"] == "done")
        for name in ("seed", "other"):
            transport = finals[name]["summary"]["transport"]
            assert finals[name]["rounds"] == 70
            assert transport.get("peers_evicted", 0) >= 1, transport  # the dead peer was dropped
        reborn_done = finals["reborn"]
        assert reborn_done["summary"]["aggregator"]["merged_updates"] > 0  # rejoined
        best = max(finals["seed"]["accuracy"], finals["other"]["accuracy"])
        assert reborn_done["accuracy"] >= best - 0.1, (reborn_done["accuracy"], best)
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()
            node.log.close()

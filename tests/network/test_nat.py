"""NAT traversal: two nodes behind their own NATs meet through a public seed and exchange models
directly (nothing relays models in QuinkGL, so a model from the other NATed node came straight)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .natlab import HOST_IPS, SEED_IP, NatLab, unavailable_reason

pytest.importorskip("torch", reason="the nodes train built-in PyTorch models")
pytestmark = [pytest.mark.network, pytest.mark.slow]

REASON = unavailable_reason()


@pytest.mark.skipif(REASON is not None, reason=f"NAT lab unavailable: {REASON}")
def test_two_nodes_behind_nats_exchange_models_directly(tmp_path: Path):
    node = [sys.executable, "-m", "quinkgl.cli.main", "run", "--progress", "jsonl", "--nodes", "3"]
    node += [
        "--rounds",
        "25",
        "--interval",
        "0.3",
        "--epochs",
        "1",
        "--domain",
        "natlab",
        "--chunk-size",
        "1200",
    ]
    with NatLab() as lab:
        logs = {name: (tmp_path / f"{name}.jsonl").open("w") for name in ("seed", "h1", "h2")}
        procs = {
            "seed": subprocess.Popen(
                [
                    *lab.exec_prefix("pub"),
                    *node,
                    "--index",
                    "0",
                    "--host",
                    SEED_IP,
                    "--port",
                    "7400",
                    "--min-peers",
                    "2",
                ],
                stdout=logs["seed"],
                stderr=subprocess.DEVNULL,
            )
        }
        time.sleep(1.0)
        for index, host in enumerate(("h1", "h2"), start=1):
            procs[host] = subprocess.Popen(
                [
                    *lab.exec_prefix(host),
                    *node,
                    "--index",
                    str(index),
                    "--host",
                    HOST_IPS[host],
                    "--bootstrap",
                    f"{SEED_IP}:7400",
                    "--min-peers",
                    "2",
                ],
                stdout=logs[host],
                stderr=subprocess.DEVNULL,
            )
        try:
            for proc in procs.values():
                proc.wait(timeout=240)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for log in logs.values():
                log.close()
        events = {
            name: [
                json.loads(line)
                for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()
                if line.startswith("{")
            ]
            for name in procs
        }
    done = {name: next(e for e in evs if e["event"] == "done") for name, evs in events.items()}
    ids = {
        name: next(e for e in evs if e["event"] == "ready")["peer_id"]
        for name, evs in events.items()
    }
    for a, b in (("h1", "h2"), ("h2", "h1")):
        summary = done[a]["summary"]
        assert ids[b] in summary["peers"], f"{a} never met {b} through the seed"
        assert summary["accepted_from"].get(ids[b], 0) > 0, f"{a} got no model directly from {b}"
    assert all(d["rounds"] == 25 for d in done.values())

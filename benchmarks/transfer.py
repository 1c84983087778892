"""Model transfer throughput between two processes on loopback, against raw UDP and TCP.

For 1, 10 and 50 MB, a sender process moves the same bytes to a receiver process three ways:

- QuinkGL's transfer over ipv8 (signed offer, windowed chunks, selective acks, SHA-256 check,
  signed completion), with 60,000-byte and 1,200-byte chunks; timed until the receiver's signed
  completion arrives back;
- raw UDP datagrams of 60,000 bytes, unpaced and unacknowledged, read by a plain socket loop
  (the kernel's ceiling) and by an asyncio datagram protocol (the ceiling of any Python protocol
  that handles each datagram in the event loop, as ipv8 does); losses reported;
- one TCP connection, timed until the receiver acknowledges the last byte.

Then a small real swarm reports how many models its nodes exchanged per second.

    python benchmarks/transfer.py [--sizes 1 10 50] [--no-swarm]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quinkgl.transport.ipv8 import IPv8Settings, IPv8Transport
from quinkgl.transport.transfer import TransferSettings

DOMAIN = "quinkgl-benchmark"
DATAGRAM = 60_000
MB = 1024 * 1024


# -- receiver process ---------------------------------------------------------------------------


class DatagramCounter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0
        self.last = 0.0

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.received += len(data)
        self.last = time.time()


async def serve(chunk_size: int) -> None:
    """Receiver: ipv8 transport + raw UDP + TCP; reports its addresses on stdout."""
    transport = IPv8Transport(
        DOMAIN, IPv8Settings(transfer=TransferSettings(chunk_size=chunk_size))
    )
    await transport.start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MB)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    counter = DatagramCounter()
    loop = asyncio.get_running_loop()
    audp, _ = await loop.create_datagram_endpoint(lambda: counter, local_addr=("127.0.0.1", 0))
    audp.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MB)
    audp.max_size = 65_536  # type: ignore[attr-defined]
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    tcp.setblocking(False)
    print(
        json.dumps(
            {
                "ipv8": list(transport.address),
                "udp": udp.getsockname()[1],
                "asyncio_udp": audp.get_extra_info("sockname")[1],
                "tcp": tcp.getsockname()[1],
            }
        ),
        flush=True,
    )
    while True:
        conn, _ = await loop.sock_accept(tcp)
        command = json.loads((await loop.sock_recv(conn, 4096)).decode())
        if command["mode"] == "tcp":
            await loop.sock_sendall(conn, b"k")
            remaining = command["size"]
            while remaining:
                remaining -= len(await loop.sock_recv(conn, min(remaining, 4 * MB)))
            await loop.sock_sendall(conn, b"done")
        elif command["mode"] == "udp":
            await loop.sock_sendall(conn, b"k")
            received, last = 0, time.time()
            while received < command["size"]:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(udp, 65536), timeout=1.0)
                except asyncio.TimeoutError:
                    break
                received += len(data)
                last = time.time()
            await loop.sock_sendall(conn, json.dumps({"received": received, "last": last}).encode())
        elif command["mode"] == "asyncio_udp":
            counter.received = 0
            await loop.sock_sendall(conn, b"k")
            while counter.received < command["size"]:
                before = counter.received
                await asyncio.sleep(0.5)
                if counter.received == before:
                    break
            report = {"received": counter.received, "last": counter.last}
            await loop.sock_sendall(conn, json.dumps(report).encode())
        else:
            break
        conn.close()
    await transport.close()


# -- sender side --------------------------------------------------------------------------------


def start_receiver(chunk_size: int) -> tuple[subprocess.Popen[str], dict]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(chunk_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def control(port: int, command: dict) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(json.dumps(command).encode())
    assert conn.recv(1) == b"k"
    return conn


def measure_tcp(port: int, blob: bytes) -> float:
    conn = control(port, {"mode": "tcp", "size": len(blob)})
    start = time.perf_counter()
    conn.sendall(blob)
    assert conn.recv(4) == b"done"
    elapsed = time.perf_counter() - start
    conn.close()
    return len(blob) / elapsed / 1e6


def measure_udp(udp_port: int, tcp_port: int, blob: bytes, mode: str = "udp") -> dict:
    conn = control(tcp_port, {"mode": mode, "size": len(blob)})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MB)
    view = memoryview(blob)
    start = time.time()
    for offset in range(0, len(blob), DATAGRAM):
        sock.sendto(view[offset : offset + DATAGRAM], ("127.0.0.1", udp_port))
    report = json.loads(conn.recv(4096).decode())
    conn.close()
    sock.close()
    elapsed = max(report["last"] - start, 1e-9)
    return {
        "mb_per_s": round(report["received"] / elapsed / 1e6, 1),
        "delivered_fraction": round(report["received"] / len(blob), 4),
    }


async def measure_ipv8(address: list, chunk_size: int, blobs: list[bytes]) -> list[float]:
    settings = IPv8Settings(
        bootstrap=((address[0], address[1]),), transfer=TransferSettings(chunk_size=chunk_size)
    )
    sender = IPv8Transport(DOMAIN, settings)
    await sender.start()
    deadline = time.monotonic() + 20
    while not sender.peers() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if not sender.peers():
        raise RuntimeError("the receiver process was not found")
    [peer] = sender.peers()
    rates = []
    for blob in blobs:
        done = sender.stats["transfers_ok"]
        start = time.perf_counter()
        sender.send(peer, blob)
        while sender.stats["transfers_ok"] == done:
            if time.perf_counter() - start > 300:
                raise RuntimeError("transfer did not complete in 300 s")
            await asyncio.sleep(0.0005)
        rates.append(len(blob) / (time.perf_counter() - start) / 1e6)
    await sender.close()
    return rates


def swarm_rate() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "swarm.json"
        command = [
            sys.executable,
            "-m",
            "quinkgl.cli.main",
            "swarm",
            "--nodes",
            "4",
            "--rounds",
            "20",
        ]
        command += [
            "--interval",
            "0.1",
            "--epochs",
            "1",
            "--no-centralized",
            "--quiet",
            "--json-out",
            str(out),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        result = json.loads(out.read_text())
    merged = sum(node["merged_updates"] for node in result["nodes"])
    return {
        "nodes": 4,
        "rounds": 20,
        "wall_seconds": round(result["wall_seconds"], 2),
        "models_merged": merged,
        "models_merged_per_second": round(merged / result["wall_seconds"], 1),
        "bytes_sent": result["bytes_sent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50], help="MB")
    parser.add_argument("--no-swarm", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    blobs = [os.urandom(size * MB) for size in args.sizes]
    results = []
    for chunk_size in (60_000, 1_200):
        process, ports = start_receiver(chunk_size)
        try:
            rates = asyncio.run(measure_ipv8(ports["ipv8"], chunk_size, blobs))
            for size, blob, rate in zip(args.sizes, blobs, rates, strict=True):
                row = {"mb": size, "chunk_size": chunk_size, "quinkgl_mb_per_s": round(rate, 1)}
                if chunk_size == 60_000:
                    udp = measure_udp(ports["udp"], ports["tcp"], blob)
                    row["raw_udp_mb_per_s"] = udp["mb_per_s"]
                    row["raw_udp_delivered_fraction"] = udp["delivered_fraction"]
                    audp = measure_udp(ports["asyncio_udp"], ports["tcp"], blob, "asyncio_udp")
                    row["asyncio_udp_mb_per_s"] = audp["mb_per_s"]
                    row["asyncio_udp_delivered_fraction"] = audp["delivered_fraction"]
                    row["tcp_mb_per_s"] = round(measure_tcp(ports["tcp"], blob), 1)
                    row["quinkgl_over_raw_udp"] = round(rate / udp["mb_per_s"], 3)
                    row["quinkgl_over_asyncio_udp"] = round(rate / audp["mb_per_s"], 3)
                results.append(row)
        finally:
            with socket.create_connection(("127.0.0.1", ports["tcp"])) as conn:
                conn.sendall(json.dumps({"mode": "quit"}).encode())
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
    report: dict = {"benchmark": "transfer", "loopback": True, "results": results}
    if not args.no_swarm:
        report["swarm"] = swarm_rate()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

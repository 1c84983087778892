"""A small internet in network namespaces: a public segment with a seed host, and two private
LANs each behind its own NAT router (iptables MASQUERADE).  Needs root, ``ip`` and ``iptables``.

    public 198.51.100.0/24 (bridge in ns "pub"): seed .1, nat1 WAN .21, nat2 WAN .22
    lan1   10.1.0.0/24: nat1 .1, host h1 .2        lan2 10.2.0.0/24: nat2 .1, host h2 .2

All addresses exist only inside these namespaces; nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

SEED_IP = "198.51.100.1"
HOST_IPS = {"h1": "10.1.0.2", "h2": "10.2.0.2"}


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    probe = f"qgprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return f"network namespaces are not available: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NatLab:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:5]
        self.ns = {name: f"qg{tag}{name}" for name in ("pub", "nat1", "nat2", "h1", "h2")}
        self.tag = tag

    def sh(self, *args: str, ns: str | None = None) -> None:
        command = (["ip", "netns", "exec", self.ns[ns]] if ns else []) + list(args)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")

    def exec_prefix(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[name]]

    def __enter__(self) -> NatLab:
        if shutil.which("iptables") is None:
            raise RuntimeError(
                "iptables is missing: apt-get install iptables (make test does this)"
            )
        try:
            self._build()
        except Exception:
            self.__exit__()
            raise
        return self

    def _veth(self, a: str, ns_a: str, b: str, ns_b: str) -> None:
        self.sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        self.sh("ip", "link", "set", a, "netns", self.ns[ns_a])
        self.sh("ip", "link", "set", b, "netns", self.ns[ns_b])

    def _build(self) -> None:
        t = self.tag
        for name in self.ns.values():
            self.sh("ip", "netns", "add", name)
        for key in self.ns:
            self.sh("ip", "link", "set", "lo", "up", ns=key)
        self.sh("ip", "link", "add", "br0", "type", "bridge", ns="pub")
        self.sh("ip", "addr", "add", f"{SEED_IP}/24", "dev", "br0", ns="pub")
        self.sh("ip", "link", "set", "br0", "up", ns="pub")
        for i in (1, 2):
            wan, port, lan, host_if = f"w{i}{t}", f"p{i}{t}", f"l{i}{t}", f"e{i}{t}"
            nat, host = f"nat{i}", f"h{i}"
            self._veth(wan, nat, port, "pub")
            self.sh("ip", "link", "set", port, "master", "br0", ns="pub")
            self.sh("ip", "link", "set", port, "up", ns="pub")
            self.sh("ip", "addr", "add", f"198.51.100.{20 + i}/24", "dev", wan, ns=nat)
            self.sh("ip", "link", "set", wan, "up", ns=nat)
            self._veth(lan, nat, host_if, host)
            self.sh("ip", "addr", "add", f"10.{i}.0.1/24", "dev", lan, ns=nat)
            self.sh("ip", "link", "set", lan, "up", ns=nat)
            self.sh("ip", "addr", "add", f"{HOST_IPS[host]}/24", "dev", host_if, ns=host)
            self.sh("ip", "link", "set", host_if, "up", ns=host)
            self.sh("ip", "route", "add", "default", "via", f"10.{i}.0.1", ns=host)
            self.sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", ns=nat)
            self.sh(
                "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE", ns=nat
            )
            # Unsolicited packets are dropped before conntrack confirms an entry for them, as on a
            # home router; otherwise a puncture that arrives before our own first packet leaves
            # an entry that makes MASQUERADE pick another source port, and punching fails.
            self.sh("iptables", "-A", "INPUT", "-i", wan, "-p", "udp", "-j", "DROP", ns=nat)
            # Only replies and punched flows come in.
            self.sh(
                "iptables",
                "-A",
                "FORWARD",
                "-i",
                wan,
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
                ns=nat,
            )
            self.sh("iptables", "-A", "FORWARD", "-i", wan, "-j", "DROP", ns=nat)

    def __exit__(self, *exc: object) -> None:
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "pids", name], capture_output=True)
            pids = subprocess.run(
                ["ip", "netns", "pids", name], capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

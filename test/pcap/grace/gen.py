#!/usr/bin/python3
"""grace input: connections to two services opened at t=1 s; data on all of them again
at t=15 s (after a reload at t=10 s that removes rs2) and at t=50 s (after the 30 s
grace period of the first service ended)."""

import sys
from pathlib import Path

from scapy.all import IP, TCP, Ether, Raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

T0 = tp.T0_US
VIPS = {"graceful": "192.0.2.10", "abrupt": "192.0.2.11"}
PORTS = range(40000, 40040)
PHASES = {0: 1, 1: 15, 2: 50}  # phase -> second


def pkt(vip, sport, flags, payload=b""):
    p = Ether(src="00:00:5e:00:01:01", dst="02:00:00:00:00:01") / \
        IP(src="198.51.100.7", dst=vip) / TCP(sport=sport, dport=80, flags=flags)
    return p / Raw(payload) if payload else p


def frames():
    out = []
    for phase, sec in PHASES.items():
        t = T0 + sec * 1_000_000
        for vip in VIPS.values():
            for s in PORTS:
                flags = ["S", "A", "PA"] if phase == 0 else ["PA"]
                for f in flags:
                    out.append((t, pkt(vip, s, f, b"x" if "P" in f else b"")))
                    t += 100
    return out


if __name__ == "__main__":
    tp.write_pcap(Path(__file__).resolve().parent / "in.pcap", [(ts, bytes(f)) for ts, f in frames()])

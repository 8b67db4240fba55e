#!/usr/bin/python3
"""reload_timeouts input: UDP flows to one service opened at t=1 s. Group "touched"
sends again at t=3 s (after a reload at t=2 s that sets flows.timeouts.udp 300 -> 5 and
rs1's weight to 0) and at t=20 s; group "idle" sends again at t=20 s only."""

import sys
from pathlib import Path

from scapy.all import IP, UDP, Ether, Raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

T0 = tp.T0_US
GROUPS = {"touched": (range(40000, 40060), (1, 3, 20)), "idle": (range(41000, 41060), (1, 20))}


def pkt(sport):
    return Ether(src="00:00:5e:00:01:01", dst="02:00:00:00:00:01") / \
        IP(src="198.51.100.7", dst="192.0.2.53") / UDP(sport=sport, dport=53) / Raw(b"q")


def frames():
    out = []
    for sec in (1, 3, 20):
        t = T0 + sec * 1_000_000
        for ports, secs in GROUPS.values():
            if sec not in secs:
                continue
            for s in ports:
                out.append((t, pkt(s)))
                t += 100
    return out


if __name__ == "__main__":
    tp.write_pcap(Path(__file__).resolve().parent / "in.pcap", [(ts, bytes(f)) for ts, f in frames()])

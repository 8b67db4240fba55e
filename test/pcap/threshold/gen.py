#!/usr/bin/python3
"""threshold input: 200 connections opened before t=10 s, then phases at 10 and 20 s
in which every connection sends data again and 200 new connections open (see events.yaml)."""

import sys
from pathlib import Path

from scapy.all import IP, TCP, Ether, Raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

T0 = tp.T0_US  # 1700000000 s


def pkt(sport, flags, payload=b""):
    p = Ether(src="00:00:5e:00:01:01", dst="02:00:00:00:00:01") / \
        IP(src="198.51.100.7", dst="192.0.2.10") / TCP(sport=sport, dport=80, flags=flags)
    return p / Raw(payload) if payload else p


OLD = range(20000, 20200)        # opened in phase 0
NEW = {1: range(21000, 21200), 2: range(22000, 22200)}


def frames():
    out = []
    t = T0 + 1_000_000
    for s in OLD:
        for f in ("S", "A"):
            out.append((t, pkt(s, f)))
            t += 1000
        out.append((t, pkt(s, "PA", b"p0")))
        t += 1000
    for phase in (1, 2):
        t = T0 + phase * 10_000_000 + 500_000
        for s in OLD:
            out.append((t, pkt(s, "PA", b"p%d" % phase)))
            t += 1000
        for s in NEW[phase]:
            for f in ("S", "A"):
                out.append((t, pkt(s, f)))
                t += 1000
    return out


if __name__ == "__main__":
    tp.write_pcap(Path(__file__).resolve().parent / "in.pcap", [(ts, bytes(f)) for ts, f in frames()])

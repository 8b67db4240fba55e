#!/usr/bin/python3
"""conn_states input: TCP connections left in known IPVS states, UDP flows, and one
half-open connection old enough to have expired (SYN_RECV lasts 30 s) by the end."""

import sys
from pathlib import Path

from scapy.all import IP, TCP, UDP, Ether, Raw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
ROUTER = "00:00:5e:00:01:01"
T0 = tp.T0_US


def tcp(sport, flags, seq=1000, payload=b""):
    p = Ether(src=ROUTER, dst=PORT_MAC) / IP(src="198.51.100.7", dst="192.0.2.10") / \
        TCP(sport=sport, dport=80, flags=flags, seq=seq)
    return p / Raw(payload) if payload else p


def frames():
    out = []  # (time in us, frame)
    out.append((T0, tcp(40000, "S")))                       # expires: alone at t0
    t = T0 + 60_000_000                                     # everything else a minute later
    script = {
        "established": ["S", "A", "PA"],
        "fin_wait": ["S", "A", "FA"],
        "syn_recv": ["S"],
        "close": ["S", "A", "R"],
    }
    counts = {"established": 6, "fin_wait": 4, "syn_recv": 3, "close": 2}
    sport = 41000
    for state, n in counts.items():
        for _ in range(n):
            for flags in script[state]:
                out.append((t, tcp(sport, flags, payload=b"x" if "P" in flags else b"")))
                t += 1000
            sport += 1
    for i in range(5):
        out.append((t, Ether(src=ROUTER, dst=PORT_MAC) / IP(src="198.51.100.8", dst="192.0.2.11") /
                    UDP(sport=5000 + i, dport=53) / Raw(b"q")))
        t += 1000
    return out


EXPECT = {"rs1": (6, 4 + 3 + 2), "dns1": (0, 5)}

if __name__ == "__main__":
    tp.write_pcap(Path(__file__).resolve().parent / "in.pcap",
                  [(ts, bytes(f)) for ts, f in frames()])

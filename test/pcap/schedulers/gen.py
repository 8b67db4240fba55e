#!/usr/bin/python3
"""schedulers input: new connections (SYN, then ACK so that they count as established)
to an rr, a wrr and a wlc service, in a known order, and the ACKs of the first ones
again later (they must stay on their server)."""

import sys
from pathlib import Path

from scapy.all import IP, TCP, Ether

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def pkt(vip, sport, flags):
    return Ether(src="00:00:5e:00:01:01", dst="02:00:00:00:00:01") / \
        IP(src="198.51.100.7", dst=vip) / TCP(sport=sport, dport=80, flags=flags)


VIPS = {"rr": "192.0.2.10", "wrr": "192.0.2.11", "wlc": "192.0.2.12"}
N = 18


def frames():
    out = []
    for name, vip in VIPS.items():
        for i in range(N):
            out.append(pkt(vip, 30000 + i, "S"))
            out.append(pkt(vip, 30000 + i, "A"))
    for name, vip in VIPS.items():
        for i in range(N):
            out.append(pkt(vip, 30000 + i, "A"))
    return out


if __name__ == "__main__":
    tp.write_frames(Path(__file__).resolve().parent / "in.pcap", frames())

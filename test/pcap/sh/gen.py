#!/usr/bin/python3
"""Generates sh/in.pcap: 300 IPv4 clients with 6 TCP connections each (different source
ports) to the sh service 192.0.2.20:443, 100 of them also with 6 connections to the
maglev service 192.0.2.20:80, 80 IPv4 clients with 4 UDP flows each to the sh service
192.0.2.53:53, and 80 IPv6 clients with 4 connections each to [2001:db8:100::20]:443."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import Ether  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
CLIENTS_V4 = ("198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10")


def unique_clients(rng, n, make):
    out, seen = [], set()
    while len(out) < n:
        c = make()
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def frames():
    rng = random.Random(4242)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    v4 = unique_clients(rng, 380, lambda: tp.rand_v4(rng, CLIENTS_V4))
    v6 = unique_clients(rng, 80, lambda: tp.rand_v6(rng, "2001:db8:c000::/48"))
    flows = []
    n = 0

    def conns(client, vip, port, k, udp=False):
        nonlocal n
        for sport in rng.sample(range(1024, 65536), k):
            if udp:
                flows.append(tp.udp_flow(rng, eth, client, vip, sport, port, f"c{n}", npkts=1))
            else:
                flows.append(tp.tcp_flow(rng, eth, client, vip, sport, port, f"c{n}", npkts=2))
            n += 1

    for c in v4[:300]:
        conns(c, "192.0.2.20", 443, 6)
    for c in v4[:100]:
        conns(c, "192.0.2.20", 80, 6)
    for c in v4[300:]:
        conns(c, "192.0.2.53", 53, 4, udp=True)
    for c in v6:
        conns(c, "2001:db8:100::20", 443, 4)
    frames = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique(frames, "sh")
    return frames


def main():
    n = tp.write_frames(HERE / "in.pcap", frames(), step_us=200)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generates no_neighbor/in.pcap: 200 TCP flows (3 packets) to `half` (one of its two
servers has no neighbour entry), 50 flows (2 packets) each to `none` and `none6` (their
only server has none) and 20 flows to `ok6`, interleaved."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import Ether  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"


def frames():
    rng = random.Random(314)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    for n, (vip, port, count, npkts) in enumerate((("192.0.2.30", 80, 200, 3), ("192.0.2.31", 80, 50, 2),
                                                   ("2001:db8:100::31", 443, 50, 2), ("2001:db8:100::30", 443, 20, 2))):
        for k in range(count):
            src = tp.rand_v6(rng, "2001:db8:c000::/48") if ":" in vip else tp.rand_v4(rng, ("198.51.100.0/24",))
            flows.append(tp.tcp_flow(rng, eth, src, vip, 10000 + n * 1000 + k, port, f"s{n}f{k}", npkts=npkts))
    frames = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique(frames, "no_neighbor")
    return frames


def main():
    n = tp.write_frames(HERE / "in.pcap", frames(), step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

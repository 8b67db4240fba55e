#!/usr/bin/python3
"""Generates no_server/in.pcap: 40 TCP flows (3 packets) to `drained`, 20 (2 packets) to
`drained-sh`, 40 UDP flows (2 packets) to `live`, interleaved."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import Ether  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"


def frames():
    rng = random.Random(2718)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    for k in range(40):
        flows.append(tp.tcp_flow(rng, eth, tp.rand_v4(rng, ("198.51.100.0/24",)), "192.0.2.40", 20000 + k, 80,
                                 f"d{k}", npkts=3))
    for k in range(20):
        flows.append(tp.tcp_flow(rng, eth, tp.rand_v4(rng, ("198.51.100.0/24",)), "192.0.2.40", 21000 + k, 443,
                                 f"s{k}", npkts=2))
    for k in range(40):
        flows.append(tp.udp_flow(rng, eth, tp.rand_v4(rng, ("203.0.113.0/24",)), "192.0.2.41", 22000 + k, 53,
                                 f"l{k}", npkts=2))
    frames = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique(frames, "no_server")
    return frames


def main():
    n = tp.write_frames(HERE / "in.pcap", frames(), step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

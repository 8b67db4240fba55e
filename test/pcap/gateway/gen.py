#!/usr/bin/python3
"""Generates gateway/in.pcap: 300 TCP flows (3 packets) to the IPIP service and 60 to
the DR service, interleaved.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import Ether  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"


def frames():
    rng = random.Random(2026)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    for n, (vip, count) in enumerate((("192.0.2.10", 300), ("192.0.2.20", 60))):
        for k in range(count):
            src = str(tp.rand_v4(rng, ("198.51.100.0/24", "203.0.113.0/24")))
            pk = tp.tcp_flow(rng, eth, src, vip, 20000 + n * 1000 + k, 80, f"s{n}f{k}", npkts=3)
            flows.append([("fwd", f"{src} -> {vip} #{i}", p) for i, p in enumerate(pk)])
    out = tp.interleave(rng, flows)
    tp.assert_unique([bytes(x[2]) for x in out], "gateway")
    return [(kind, note, bytes(p)) for kind, note, p in out]


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

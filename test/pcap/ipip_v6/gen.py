#!/usr/bin/python3
"""Generates ipip_v6/in.pcap: client flows to two IPv6 IPIP services (TCP :443, UDP :53),
an IPv6 DR service and an IPv4 IPIP service (whose outer source is node.ipv4: no
ipip_source_v4), with varied traffic classes (DSCP and ECN), inner flow labels and hop
limits; fragmented UDP datagrams (fragment header); packets at the MTU boundary (inner
1460 bytes fits in 1500, 1461 does not: packet too big); kernel traffic.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, TCP, UDP, Ether, Raw,  # noqa: E402
                       IPv6ExtHdrFragment, fragment6)

PORT_MAC = "02:00:00:00:00:01"
CLIENTS6 = "2001:db8:c000::/48"
CLIENTS4 = ("198.51.100.0/24", "203.0.113.0/24")
SERVICES = (("2001:db8:100::10", 443, "tcp", 1800), ("2001:db8:100::53", 53, "udp", 1000),
            ("2001:db8:100::20", 80, "tcp", 150), ("192.0.2.10", 80, "tcp", 200))


def frames():
    rng = random.Random(66)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows, seen = [], set()
    n = 0
    for vip, port, proto, count in SERVICES:
        for _ in range(count):
            while True:
                src = str(tp.rand_v6(rng, CLIENTS6) if ":" in vip else tp.rand_v4(rng, CLIENTS4))
                sport = rng.randrange(1024, 65536)
                if (src, sport, vip, port) not in seen:
                    seen.add((src, sport, vip, port))
                    break
            tag = f"f{n}"
            n += 1
            if proto == "tcp":
                pk = tp.tcp_flow(rng, eth, src, vip, sport, port, tag, npkts=rng.choice((2, 3, 4)))
            else:
                pk = tp.udp_flow(rng, eth, src, vip, sport, port, tag, npkts=2)
            flows.append([("fwd", f"{proto} [{src}]:{sport} -> [{vip}]:{port} #{k}", tp.pad_frame(p))
                          for k, p in enumerate(pk)])

    def one(kind, note, pkt):
        flows.append([(kind, note, tp.pad_frame(pkt))])

    c = "2001:db8:c000::77"
    vip = "2001:db8:100::10"
    # Traffic class edges (all DSCP, both ECN bits), flow label edges, hop limits 1 and 255.
    for k, (tc, fl, hl) in enumerate(((0xFF, 0xFFFFF, 1), (0x03, 0, 255), (0xFC, 1, 2), (0x01, 0x80000, 64))):
        one("fwd", f"TC {tc:#04x} flow label {fl:#x} hop limit {hl}", eth /
            IPv6(src=c, dst=vip, tc=tc, fl=fl, hlim=hl) / TCP(sport=50000 + k, dport=443, flags="S", seq=k))
    # The MTU boundary (port mtu 1500): 40 + 1460 fits, 40 + 1461 does not.
    for k, (size, kind) in enumerate(((1460, "fwd"), (1461, "too_big"), (1459, "fwd"), (1500, "too_big"))):
        body = bytes((k * 5 + x) & 0xFF for x in range(size - 60))
        one(kind, f"inner {size} bytes", eth / IPv6(src=c, dst=vip, hlim=50, tc=0x20, fl=0x12345 + k) /
            TCP(sport=51000 + k, dport=443, flags="PA", seq=k) / Raw(body))
    # Fragmented UDP datagrams to the DNS VIP (fragment header): tunnelled, 3-tuple hash.
    for k in range(4):
        big = IPv6(src=f"2001:db8:c000::5{k}", dst="2001:db8:100::53", hlim=60, tc=0x28) / \
            IPv6ExtHdrFragment(id=0x1000 + k) / UDP(sport=5300 + k, dport=53) / Raw(bytes(range(256)) * 6)
        frs = fragment6(big, 600)
        flows.append([("fwd", f"fragment {m} of datagram {k}", eth / f) for m, f in enumerate(frs)])
    # The kernel's
    one("punt", "ND solicitation for the node", Ether(dst="33:33:ff:00:00:10", src=tp.ROUTER_MAC) /
        IPv6(src="fe80::1", dst="ff02::1:ff00:10", hlim=255) / ICMPv6ND_NS(tgt="2001:db8:0:1::10"))
    one("punt", "echo to the node", eth / IPv6(src=c, dst="2001:db8:0:1::10") / ICMPv6EchoRequest(id=1, seq=1))
    one("punt", "TCP to VIP6:22", eth / IPv6(src=c, dst=vip) / TCP(sport=52000, dport=22, flags="S"))
    one("punt", "IPv6-in-IPv6 to the node", eth / IPv6(src="2001:db8:0:1::1", dst="2001:db8:0:1::10") /
        IPv6(src=c, dst=vip) / TCP(sport=52001, dport=443, flags="S"))
    one("punt", "UDP to a non-VIP", eth / IPv6(src=c, dst="2001:db8:100::11") / UDP(sport=52002, dport=53) / Raw(b"x"))

    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "ipip_v6")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=50)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

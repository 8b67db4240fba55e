#!/usr/bin/python3
"""Generates ipip_v4/in.pcap: client flows to three IPIP services (TCP :80 and :443 on
192.0.2.10, UDP :53 on 192.0.2.53) and one DR service (192.0.2.20:80), with varied TOS
(DSCP and ECN), IDs, DF, TTLs, IPv4 options and Ethernet padding (zeros or junk);
fragmented UDP datagrams; packets at the MTU boundary (inner 1480 bytes fits in 1500,
1481 does not: DF -> ICMP, no DF -> dropped); kernel traffic.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, IPOption_NOP, IPOption_EOL,  # noqa: E402
                       IPOption_RR, Raw, fragment)

PORT_MAC = "02:00:00:00:00:01"
CLIENTS = ("198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10")
# (VIP, port, protocol, flows)
SERVICES = (("192.0.2.10", 80, "tcp", 900), ("192.0.2.10", 443, "tcp", 400),
            ("192.0.2.53", 53, "udp", 500), ("192.0.2.20", 80, "tcp", 150))


def pad(rng, frame):
    """Short frames padded as a NIC delivers them: mostly zeros, sometimes junk."""
    return tp.pad_frame(frame, b"\0" if rng.random() < 0.7 else bytes([rng.randrange(1, 256)]))


def frames():
    rng = random.Random(33)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows, seen = [], set()
    n = 0
    for vip, port, proto, count in SERVICES:
        for _ in range(count):
            while True:
                src = str(tp.rand_v4(rng, CLIENTS))
                sport = rng.randrange(1024, 65536)
                if (src, sport, vip, port) not in seen:
                    seen.add((src, sport, vip, port))
                    break
            tag = f"f{n}"
            n += 1
            ip_kw = {}
            if rng.random() < 0.05:  # IHL 6 and 7
                ip_kw = {"options": rng.choice(([IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()],
                                                [IPOption_RR(routers=["10.9.9.9"])]))}
            if proto == "tcp":
                pk = tp.tcp_flow(rng, eth, src, vip, sport, port, tag, npkts=rng.choice((3, 4, 5)), ip_kw=ip_kw)
            else:
                pk = tp.udp_flow(rng, eth, src, vip, sport, port, tag, npkts=2, ip_kw=ip_kw)
            flows.append([("fwd", f"{proto} {src}:{sport} -> {vip}:{port} #{k}", pad(rng, p))
                          for k, p in enumerate(pk)])

    def one(kind, note, pkt):
        flows.append([(kind, note, pad(rng, pkt))])

    c = "198.51.100.200"
    # TOS edge values (all DSCP and both ECN bits), TTL 1 and 255, ID 0 and 65535
    for k, (tos, ttl, ident) in enumerate(((0xFF, 1, 0), (0x03, 255, 65535), (0xFC, 2, 1), (0x01, 64, 0x8000))):
        one("fwd", f"TOS {tos:#04x} TTL {ttl} ID {ident}", eth /
            IP(src=c, dst="192.0.2.10", tos=tos, ttl=ttl, id=ident, flags="DF") /
            TCP(sport=50000 + k, dport=80, flags="S", seq=k))
    # The MTU boundary (port mtu 1500): 20 + 1480 fits, 20 + 1481 does not.
    for k, (size, df, kind) in enumerate(((1480, True, "fwd"), (1480, False, "fwd"),
                                          (1481, True, "too_big"), (1481, False, "drop:too_big_no_df"),
                                          (1500, True, "too_big"), (1479, True, "fwd"))):
        body = bytes((k * 7 + x) & 0xFF for x in range(size - 40))
        one(kind, f"inner {size} bytes{' DF' if df else ''}", eth /
            IP(src=c, dst="192.0.2.10", id=700 + k, flags="DF" if df else 0, ttl=50) /
            TCP(sport=51000 + k, dport=80, flags="PA", seq=k) / Raw(body))
    # Fragmented UDP datagrams to the DNS VIP: fragments (3-tuple hash) also tunnelled.
    for k in range(3):
        big = IP(src=f"203.0.113.{50 + k}", dst="192.0.2.53", id=900 + k, ttl=60, tos=0x28) / \
            UDP(sport=5300 + k, dport=53) / Raw(bytes(range(256)) * 6)
        frs = fragment(big, fragsize=600)
        flows.append([("fwd", f"fragment {m} of datagram {k}", pad(rng, eth / f)) for m, f in enumerate(frs)])
    # The kernel's
    one("punt", "ARP request for the node", Ether(dst="ff:ff:ff:ff:ff:ff", src=tp.ROUTER_MAC, type=0x0806) /
        ARP(op=1, hwsrc=tp.ROUTER_MAC, psrc="10.0.0.1", pdst="10.0.0.10"))
    one("punt", "ICMP echo to the node", eth / IP(src="10.0.0.1", dst="10.0.0.10", id=5) / ICMP(id=1, seq=1))
    one("punt", "TCP to VIP:22", eth / IP(src=c, dst="192.0.2.10", id=6) / TCP(sport=52000, dport=22, flags="S"))
    one("punt", "IP-in-IP sent to the node", eth / IP(src="10.0.0.1", dst="10.0.0.10", id=7) /
        IP(src=c, dst="192.0.2.10") / TCP(sport=52001, dport=80, flags="S"))
    one("punt", "UDP to a non-VIP", eth / IP(src=c, dst="192.0.2.11", id=8) / UDP(sport=52002, dport=80) / Raw(b"x"))

    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "ipip_v4")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=50)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generates ipv6_ext/in.pcap: TCP and UDP flows to IPv6 VIPs (DR and IPIP services)
whose packets carry, each its own, chains of extension headers before the transport
header: none, hop-by-hop (PadN, router alert), destination options (also 200+ bytes),
routing type 0 or 4 (segments left 0), an atomic fragment header, and a chain of
four; untagged and on VLAN 100. Plus IPv6 that the kernel gets: AH or no next header
before the transport, and ESP.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (IPv6, TCP, UDP, Ether, Raw, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, PadN,  # noqa: E402
                       RouterAlert, IPv6ExtHdrRouting, IPv6ExtHdrSegmentRouting, IPv6ExtHdrFragment, AH, ESP)

PORT_MAC = "02:00:00:00:00:01"
SERVICES = (("2001:db8:100::10", 80, "tcp", 250), ("2001:db8:100::10", 443, "tcp", 250),
            ("2001:db8:100::53", 53, "udp", 200))


def chains(rng):
    """(name, [headers]) choices; fresh objects each call."""
    return [
        ("none", []),
        ("hop-by-hop", [IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)])]),
        ("hop-by-hop router alert", [IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])]),
        ("destination options", [IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 4)])]),
        ("destination options 216 bytes", [IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 204)] +
                                                             [PadN(optdata=b"\0" * 4)])]),
        ("routing type 0", [IPv6ExtHdrRouting(type=0, addresses=["2001:db8:ffff::1"], segleft=0)]),
        ("segment routing", [IPv6ExtHdrSegmentRouting(addresses=["2001:db8:100::10", "2001:db8:ffff::3"],
                                                      segleft=0, lastentry=1)]),
        ("atomic fragment", [IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]),
                             IPv6ExtHdrFragment(offset=0, m=0, id=rng.randrange(1 << 32))]),
        ("hop-by-hop, dest-opts, routing, dest-opts", [IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]),
                                                       IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 12)]),
                                                       IPv6ExtHdrRouting(type=0, addresses=["2001:db8:ffff::4"],
                                                                         segleft=0),
                                                       IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 4)])]),
    ]


def with_ext(pkt, hdrs):
    """pkt (Ether/IPv6/L4/...) with extension headers between IPv6 and the transport."""
    ip = pkt[IPv6]
    l4 = ip.payload.copy()
    base = pkt.copy()
    base[IPv6].remove_payload()
    for h in hdrs:
        base = base / h
    return base / l4


def frames():
    rng = random.Random(6)
    flows, seen = [], set()
    n = 0
    for vip, port, proto, count in SERVICES:
        for _ in range(count):
            while True:
                src = str(tp.rand_v6(rng, "2001:db8:c000::/48"))
                sport = rng.randrange(1024, 65536)
                if (src, sport) not in seen:
                    seen.add((src, sport))
                    break
            eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
            n += 1
            if proto == "tcp":
                pk = tp.tcp_flow(rng, eth, src, vip, sport, port, f"x{n}", npkts=rng.choice((3, 4)), payload_max=900)
            else:
                pk = tp.udp_flow(rng, eth, src, vip, sport, port, f"x{n}", npkts=3)
            fl = []
            for k, p in enumerate(pk):
                name, hdrs = rng.choice(chains(rng))
                f = bytes(with_ext(p, hdrs))
                if rng.random() < 0.25:
                    f = f[:12] + struct.pack("!HH", 0x8100, 100) + f[12:]
                fl.append(("fwd", f"{proto} [{src}]:{sport} -> [{vip}]:{port} #{k} with {name}", tp.pad_frame(f)))
            flows.append(fl)

    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    c, vip = "2001:db8:c000::7", "2001:db8:100::10"

    def punt(note, p):
        flows.append([("punt", note, tp.pad_frame(p))])

    punt("AH before TCP to VIP6:443", eth / IPv6(src=c, dst=vip) / AH(spi=0x100, seq=1, icv=b"\0" * 12) /
         TCP(sport=40000, dport=443, flags="S"))
    punt("hop-by-hop then AH before UDP to the DNS VIP", eth / IPv6(src=c, dst="2001:db8:100::53") /
         IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]) / AH(spi=0x101, seq=1, icv=b"\0" * 12) /
         UDP(sport=40001, dport=53) / Raw(b"q" * 12))
    punt("ESP to VIP6", eth / IPv6(src=c, dst=vip) / ESP(spi=0x200, seq=1, data=b"\x11" * 32))
    punt("destination options then no next header", eth / IPv6(src=c, dst=vip) /
         IPv6ExtHdrDestOpt(nh=59, options=[PadN(optdata=b"\0" * 4)]))
    punt("hop-by-hop before TCP to VIP6:22", eth / IPv6(src=c, dst=vip) /
         IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]) / TCP(sport=40002, dport=22, flags="S"))
    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "ipv6_ext")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=100)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

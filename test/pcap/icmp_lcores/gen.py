#!/usr/bin/python3
"""Generates icmp_lcores/in.pcap: flows to rr, wrr, wlc and Maglev services (IPv4 TCP,
IPv6 TCP, IPv4 UDP) opened before T0 + 10 s (events.yaml changes every service then),
and from T0 + 20 s one ICMP error about each flow (fragmentation-needed, unreachable,
time-exceeded; ICMPv6 packet-too-big) from one of many routers, quoting the server's
answer VIP:port -> client:port, followed by one more packet of the flow.

records() returns [(ts_us, kind, frame)] with kind "flow" or "error"."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import ICMP, IP, IPv6, TCP, UDP, Ether, Raw, ICMPv6PacketTooBig  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
SERVICES = (("192.0.2.10", 80, "tcp"), ("192.0.2.11", 80, "tcp"), ("192.0.2.12", 80, "tcp"),
            ("192.0.2.13", 80, "tcp"), ("2001:db8:100::10", 80, "tcp"), ("192.0.2.53", 53, "udp"))
FLOWS = 40  # per service
ERR4 = ((3, 4), (3, 1), (3, 3), (11, 0))


def l4(proto, sport, dport, flags):
    return TCP(sport=sport, dport=dport, flags=flags) if proto == "tcp" else UDP(sport=sport, dport=dport)


def records():
    rng = random.Random(14003)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    for vip, port, proto in SERVICES:
        v4 = ":" not in vip
        for _ in range(FLOWS):
            client = str(tp.rand_v4(rng, ("198.51.100.0/24", "100.64.0.0/10")) if v4
                         else tp.rand_v6(rng, "2001:db8:c000::/48"))
            flows.append((vip, port, proto, client, rng.randrange(1024, 65536)))
    out = []
    # Phase 1: each flow's first two packets (TCP: SYN, ACK), in turn.
    t = tp.T0_US + 1_000_000
    for flags in ("S", "A"):
        for vip, port, proto, client, cport in flows:
            ip = IP(src=client, dst=vip) if ":" not in vip else IPv6(src=client, dst=vip)
            out.append((t, "flow", tp.pad_frame(eth / ip / l4(proto, cport, port, flags) / Raw(b"q" + flags.encode()))))
            t += 997
    # Phase 2, after the events: an error about each flow, then one more of its packets.
    t = tp.T0_US + 20_000_000
    order = list(range(len(flows)))
    rng.shuffle(order)
    for i in order:
        vip, port, proto, client, cport = flows[i]
        if ":" not in vip:
            router = f"203.0.{rng.randrange(113, 120)}.{rng.randrange(1, 255)}"
            typ, code = rng.choice(ERR4)
            sender = client if (typ, code) == (3, 3) else router
            quote = bytes(IP(src=vip, dst=client, flags="DF", id=rng.randrange(65536)) /
                          l4(proto, port, cport, "PA") / Raw(bytes(rng.randrange(256) for _ in range(40))))
            ic = ICMP(type=typ, code=code, nexthopmtu=1400) if (typ, code) == (3, 4) else ICMP(type=typ, code=code)
            err = eth / IP(src=sender, dst=vip, id=rng.randrange(65536)) / ic / Raw(quote[:28 + rng.choice((0, 40))])
        else:
            router = f"2001:db8:{rng.randrange(1, 0xffff):x}::1"
            quote = bytes(IPv6(src=vip, dst=client) / l4(proto, port, cport, "PA") / Raw(b"r" * 40))
            err = eth / IPv6(src=router, dst=vip) / ICMPv6PacketTooBig(mtu=1280) / Raw(quote[:48])
        out.append((t, "error", tp.pad_frame(err)))
        t += 1009
        ip = IP(src=client, dst=vip) if ":" not in vip else IPv6(src=client, dst=vip)
        out.append((t, "flow", tp.pad_frame(eth / ip / l4(proto, cport, port, "A") / Raw(b"more"))))
        t += 1009
    tp.assert_unique([f for _, _, f in out], "icmp_lcores")
    return out


def main():
    tp.write_pcap(HERE / "in.pcap", [(ts, f) for ts, _, f in records()])
    print(f"wrote {HERE / 'in.pcap'}")


if __name__ == "__main__":
    main()

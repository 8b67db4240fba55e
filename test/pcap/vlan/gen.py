#!/usr/bin/python3
"""Generates vlan/in.pcap: flows to DR and IPIP services (IPv4 and IPv6) whose servers
sit untagged, on VLANs 100, 200, 300 (a /25 inside the untagged /24) or behind gateways
on VLAN 4094. Each packet arrives untagged, priority-tagged (VLAN 0) or tagged with
VLAN 100, 200, 300, 4094 or 7 (configured nowhere), some with a PCP; the output's tag
must be its next hop's whatever the input's. Plus kernel traffic on VLANs, a
double-tagged frame (punted: one tag is parsed) and a tagged frame for another MAC.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import ARP, IP, TCP, UDP, Dot1Q, Ether, Raw  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
CLIENTS4 = ("198.51.100.0/24", "203.0.113.0/24")
CLIENTS6 = "2001:db8:c000::/48"
SERVICES = (("192.0.2.10", 80, "tcp", 300), ("192.0.2.10", 443, "tcp", 300), ("192.0.2.53", 53, "udp", 200),
            ("2001:db8:100::10", 80, "tcp", 200), ("2001:db8:100::10", 443, "tcp", 200))
ARRIVAL = (None, None, 0, 100, 200, 300, 4094, 7)


def tag(frame, vlan, pcp=0):
    """The frame with an 802.1Q tag (VLAN vlan, priority pcp) after the MACs; untagged
    when vlan is None."""
    frame = bytes(frame)
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", 0x8100, (pcp << 13) | vlan) + frame[12:]


def frames():
    rng = random.Random(802)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows, seen = [], set()
    n = 0

    def arrive(p):
        v = rng.choice(ARRIVAL)
        pcp = rng.choice((0, 0, 0, 5, 7)) if v is not None else 0
        return tp.pad_frame(tag(p, v, pcp)), v, pcp

    for vip, port, proto, count in SERVICES:
        for _ in range(count):
            while True:
                src = str(tp.rand_v6(rng, CLIENTS6) if ":" in vip else tp.rand_v4(rng, CLIENTS4))
                sport = rng.randrange(1024, 65536)
                if (src, sport, vip, port) not in seen:
                    seen.add((src, sport, vip, port))
                    break
            tag_ = f"f{n}"
            n += 1
            if proto == "tcp":
                pk = tp.tcp_flow(rng, eth, src, vip, sport, port, tag_, npkts=rng.choice((3, 4, 5)), payload_max=600)
            else:
                pk = tp.udp_flow(rng, eth, src, vip, sport, port, tag_, npkts=2)
            fl = []
            for k, p in enumerate(pk):
                f, v, pcp = arrive(p)
                fl.append(("fwd", f"{proto} {src}:{sport} -> {vip}:{port} #{k} on VLAN {v} PCP {pcp}", f))
            flows.append(fl)

    def one(kind, note, frame):
        flows.append([(kind, note, tp.pad_frame(frame))])

    c = "198.51.100.9"
    one("punt", "ARP request on VLAN 100 (broadcast)", tag(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:01:21",
        type=0x0806) / ARP(op=1, hwsrc="02:00:00:00:01:21", psrc="10.1.0.21", pdst="10.1.0.10"), 100))
    one("punt", "ARP reply on VLAN 4094", tag(Ether(dst=PORT_MAC, src="00:00:5e:00:01:04", type=0x0806) /
        ARP(op=2, hwsrc="00:00:5e:00:01:04", psrc="10.4.0.1", hwdst=PORT_MAC, pdst="10.4.0.10"), 4094))
    one("punt", "TCP to the node on VLAN 200", tag(eth / IP(src=c, dst="10.0.0.10", id=1) /
        TCP(sport=40000, dport=22, flags="S"), 200))
    one("punt", "TCP to VIP:80 double-tagged (100 in 200)", tag(tag(eth / IP(src=c, dst="192.0.2.10", id=2) /
        TCP(sport=40001, dport=80, flags="S"), 100), 200))
    one("punt", "TCP to VIP:80 in an 802.1ad S-tag", Ether(dst=PORT_MAC, src=tp.ROUTER_MAC, type=0x88A8) /
        Dot1Q(vlan=100) / IP(src=c, dst="192.0.2.10", id=3) / TCP(sport=40002, dport=80, flags="S"))
    one("drop:other_mac", "TCP to VIP:80 on VLAN 100 for another MAC",
        tag(Ether(dst="02:00:00:00:00:99", src=tp.ROUTER_MAC) / IP(src=c, dst="192.0.2.10", id=4) /
            TCP(sport=40003, dport=80, flags="S"), 100))
    one("fwd", "UDP to the DNS VIP on VLAN 1 with PCP 7 and DEI", bytes(Ether(dst=PORT_MAC, src=tp.ROUTER_MAC) /
        Dot1Q(vlan=1, prio=7, id=1) / IP(src=c, dst="192.0.2.53", id=5) / UDP(sport=40004, dport=53) / Raw(b"q" * 20)))

    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "vlan")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=100)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

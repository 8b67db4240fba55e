#!/usr/bin/python3
"""Generates echo/in.pcap: ICMP echo requests to VIPs (TCP and UDP services, IPv4 and
IPv6; payloads of 0 to 1400 bytes, short frames padded with zeros or junk; TOS, DF, IP
options, TTLs; untagged and on VLANs 100 and 7, from several MACs), and ICMP that stays
the kernel's: echo requests to the node or a non-VIP, broadcast, echo replies to a VIP,
a fragmented echo request; plus TCP to the VIP (forwarded).

frames() returns [(expectation, note, frame)] with "echo" for the requests that
answer_vip_echo answers (see ternpcap.check_frames)."""

import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ICMP, IP, IPv6, TCP, Ether, Raw, ICMPv6EchoRequest, ICMPv6EchoReply,  # noqa: E402
                       IPOption_RR, fragment)

PORT_MAC = "02:00:00:00:00:01"
SENDERS = (tp.ROUTER_MAC, "00:00:5e:00:01:02", "02:00:00:00:aa:01")


def tag(frame, vlan, pcp=0):
    frame = bytes(frame)
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", 0x8100, (pcp << 13) | vlan) + frame[12:]


def frames():
    rng = random.Random(8)
    out = []

    def add(kind, note, frame, vlan=None, junk=False):
        out.append((kind, note, tp.pad_frame(tag(frame, vlan, rng.choice((0, 6))), b"\xa5" if junk else b"\0")))

    for k in range(60):
        v4 = k % 3 != 2
        vip = rng.choice(("192.0.2.10", "192.0.2.53")) if v4 else "2001:db8:100::10"
        size = rng.choice((0, 8, 18, 56, 56, 1000, 1472 if v4 else 1452))
        payload = bytes(rng.randrange(256) for _ in range(size))
        eth = Ether(dst=PORT_MAC, src=rng.choice(SENDERS))
        vlan = rng.choice((None, None, 100, 7))
        if v4:
            client = str(tp.rand_v4(rng, ("198.51.100.0/24", "203.0.113.0/24")))
            opts = [IPOption_RR(routers=["10.9.9.9"])] if k % 11 == 0 else []
            p = eth / IP(src=client, dst=vip, ttl=rng.randrange(1, 256), id=rng.randrange(65536),
                         tos=rng.choice((0, 0x10, 0xB8)), flags=rng.choice(("DF", 0)), options=opts) / \
                ICMP(type=8, id=rng.randrange(65536), seq=k) / Raw(payload)
        else:
            client = str(tp.rand_v6(rng, "2001:db8:c000::/48"))
            p = eth / IPv6(src=client, dst=vip, hlim=rng.randrange(1, 256), tc=rng.choice((0, 0xB8)),
                           fl=rng.randrange(1 << 20)) / ICMPv6EchoRequest(id=rng.randrange(65536), seq=k, data=payload)
        add("echo", f"echo request {client} -> {vip}, {size} bytes, VLAN {vlan}", p, vlan, junk=k % 4 == 0)

    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    c, c6 = "198.51.100.7", "2001:db8:c000::7"
    add("punt", "echo request to the node", eth / IP(src=c, dst="10.0.0.10", id=1) / ICMP(type=8, id=1, seq=1))
    add("punt", "echo request to a non-VIP", eth / IP(src=c, dst="192.0.2.11", id=2) / ICMP(type=8, id=1, seq=2))
    add("punt", "echo request to a VIP, broadcast frame", Ether(dst="ff:ff:ff:ff:ff:ff", src=tp.ROUTER_MAC) /
        IP(src=c, dst="192.0.2.10", id=3) / ICMP(type=8, id=1, seq=3))
    add("punt", "echo reply to a VIP", eth / IP(src=c, dst="192.0.2.10", id=4) / ICMP(type=0, id=1, seq=4))
    add("punt", "echo request to the node (IPv6)", eth / IPv6(src=c6, dst="2001:db8:0:1::10") /
        ICMPv6EchoRequest(id=1, seq=5))
    add("punt", "echo reply to VIP6", eth / IPv6(src=c6, dst="2001:db8:100::10") / ICMPv6EchoReply(id=1, seq=6))
    big = IP(src=c, dst="192.0.2.10", id=7) / ICMP(type=8, id=1, seq=7) / Raw(b"z" * 2000)
    for m, f in enumerate(fragment(big, fragsize=1000)):
        add("punt", f"fragment {m} of an echo request to a VIP", eth / f)
    add("fwd", "TCP SYN to VIP:80", eth / IP(src=c, dst="192.0.2.10", id=8) / TCP(sport=40000, dport=80, flags="S"))
    tp.assert_unique([x[2] for x in out], "echo")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generates too_big/in.pcap for a port MTU of 1400: IPv4 TCP/UDP packets to IPIP
services of 1379..1500 bytes with and without DF (with IP options, various TOS), IPv6
TCP/UDP packets of 1359..1500 bytes (one behind a hop-by-hop header), arriving untagged
or on VLANs 200 and 7 from two routers; each big packet between small packets of its
flow, which are forwarded.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (IP, IPv6, TCP, UDP, Ether, Raw, IPOption_NOP, IPOption_RR, IPOption_EOL,  # noqa: E402
                       IPv6ExtHdrHopByHop, PadN)

PORT_MAC = "02:00:00:00:00:01"
ROUTERS = (tp.ROUTER_MAC, "00:00:5e:00:01:02")
MTU = 1400


def tag(frame, vlan, pcp=0):
    frame = bytes(frame)
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", 0x8100, (pcp << 13) | vlan) + frame[12:]


def body(n, seed):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def frames():
    rng = random.Random(1400)
    out = []
    flows = []

    def flow(v4, proto, size, df=True, opts=None, hbh=False, vlan=None, note=""):
        """A small packet, one of `size` bytes (IP total), another small one, of one flow."""
        k = len(flows)
        router = rng.choice(ROUTERS)
        eth = Ether(dst=PORT_MAC, src=router)
        if v4:
            src, dst = f"198.51.100.{10 + k}", "192.0.2.10" if proto == "tcp" else "192.0.2.53"
        else:
            src, dst = f"2001:db8:c000::{10 + k:x}", "2001:db8:100::10" if proto == "tcp" else "2001:db8:100::53"
        dport = (80 if v4 else 443) if proto == "tcp" else 53
        sport = 20000 + k

        def pkt(total, seq):
            if v4:
                ip = IP(src=src, dst=dst, id=rng.randrange(65536), ttl=rng.randrange(30, 65),
                        tos=rng.choice((0, 0xB8, 0x02, 0x03)), flags="DF" if df else 0, options=opts or [])
                hl = len(bytes(ip))
            else:
                ip = IPv6(src=src, dst=dst, hlim=rng.randrange(30, 65), tc=rng.choice((0, 0xB8, 0x01)),
                          fl=rng.randrange(1 << 20))
                if hbh:
                    ip = ip / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)])
                hl = len(bytes(ip))
            l4 = TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=1) if proto == "tcp" else \
                UDP(sport=sport, dport=dport)
            n = total - hl - len(bytes(l4))
            p = eth / ip / l4 / Raw(body(n, k * 3 + seq))
            assert len(bytes(p)) - 14 == total, (len(bytes(p)), total)
            return tp.pad_frame(tag(p, vlan, rng.choice((0, 3))))

        outer = 20 if v4 else 40
        big_kind = "fwd" if size + outer <= MTU else ("too_big" if df or not v4 else "drop:too_big_no_df")
        what = (f"{'IPv4' if v4 else 'IPv6'} {proto} {size} bytes{' DF' if v4 and df else ''}"
                f"{' opts' if opts else ''}{' hop-by-hop' if hbh else ''} VLAN {vlan} {note}")
        flows.append([("fwd", f"small before {what}", pkt(100, 1)),
                      (big_kind, what, pkt(size, 2)),
                      ("fwd", f"small after {what}", pkt(120, 3))])

    # IPv4: 1380 + 20 = 1400 fits; 1381 does not.
    for size in (1379, 1380):
        flow(True, "tcp", size)
        flow(True, "tcp", size, df=False)
    for size in (1381, 1382, 1400, 1450, 1499, 1500):
        flow(True, "tcp", size)
        flow(True, "tcp", size, vlan=200)
        flow(True, "udp", size, vlan=7)
    for size in (1381, 1500):
        flow(True, "tcp", size, df=False)
        flow(True, "udp", size, df=False, vlan=200)
    flow(True, "tcp", 1420, opts=[IPOption_RR(routers=["10.9.9.9", "10.9.9.8"]), IPOption_NOP(), IPOption_NOP()],
         note="(IHL 9)")
    flow(True, "tcp", 1381, opts=[IPOption_NOP()] * 3 + [IPOption_EOL()], vlan=200, note="(IHL 6)")
    # IPv6: 1360 + 40 = 1400 fits; 1361 does not.
    for size in (1359, 1360):
        flow(False, "tcp", size)
    for size in (1361, 1362, 1400, 1450, 1500):
        flow(False, "tcp", size)
        flow(False, "udp", size, vlan=200)
        flow(False, "tcp", size, vlan=7)
    flow(False, "tcp", 1361, hbh=True)
    flow(False, "udp", 1500, hbh=True, vlan=200)
    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "too_big")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

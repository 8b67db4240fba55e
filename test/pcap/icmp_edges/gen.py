#!/usr/bin/python3
"""Generates icmp_edges/in.pcap: ICMP corner cases of issue 3, each next to packets of
the flow it concerns.

- ICMP errors to a VIP that quote the server's answer behind IPv6 extension headers
  (a first fragment's fragment header, destination options, hop-by-hop), or an IPv4
  first fragment, or that carry a hop-by-hop header themselves: forwarded to the
  flow's server like any other.
- ICMP errors that do not fit the port MTU once encapsulated (an ICMPv6 error of 1280
  bytes with MTU 1300; IPv4 errors of 576 bytes, with and without DF, with MTU 590):
  never answered with ICMP (RFC 1122 3.2.2, RFC 4443 2.4(e)); punted or dropped.
- Too-big packets (IPv4 with DF, IPv6) that arrive priority-tagged (802.1Q VLAN 0):
  answered with a well-formed ICMP frame.
- An ICMPv6 error quoting a later fragment: punted.

frames(mtu) returns [(expectation, note, frame)] for a port MTU of 1300 (tern.yaml) or
590 (check.py's second run); the frames are the same."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ICMP, IP, IPv6, TCP, UDP, Dot1Q, Ether, Raw, ICMPv6PacketTooBig,  # noqa: E402
                       ICMPv6TimeExceeded, ICMPv6DestUnreach, IPv6ExtHdrFragment, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrHopByHop, PadN)

PORT_MAC = "02:00:00:00:00:01"
V4, DNS4, V6, DNS6 = "192.0.2.10", "192.0.2.53", "2001:db8:100::10", "2001:db8:100::53"
R4, R6 = "203.0.113.254", "2001:db8:ffff::1"


def body(n, seed):
    return bytes((seed * 13 + i * 7) & 0xFF for i in range(n))


def frames(mtu=1300):
    rng = random.Random(590)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []

    def flow(vip, port, proto, client, cport, errors):
        """Two small packets of client:cport -> vip:port and the given (kind, note, frame)s
        in between."""
        if proto == "tcp":
            pk = tp.tcp_flow(rng, eth, client, vip, cport, port, f"{client}-{cport}", npkts=2)
        else:
            pk = tp.udp_flow(rng, eth, client, vip, cport, port, f"{client}-{cport}", npkts=2)
        fl = [("fwd", f"{proto} {client}:{cport} -> {vip}:{port} #{k}", tp.pad_frame(p)) for k, p in enumerate(pk)]
        flows.append([fl[0]] + errors + fl[1:])

    def err6(ic, quote, hbh=False):
        ip = IPv6(src=R6, dst=quote_src6(quote), hlim=60)
        if hbh:
            ip = ip / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)])
        return tp.pad_frame(eth / ip / ic / Raw(quote))

    def err4(ic, quote, df):
        return tp.pad_frame(eth / IP(src=R4, dst=str(tp.ip_src_dst(quote)[0]), ttl=60, id=rng.randrange(65536),
                                     flags="DF" if df else 0, tos=0xC0) / ic / Raw(quote))

    def quote_src6(q):
        return str(tp.ip_src_dst(q)[0])

    # Quotes with extension headers or fragments: forwarded (small enough at either MTU).
    c = "2001:db8:c000::1"
    q = bytes(IPv6(src=DNS6, dst=c) / IPv6ExtHdrFragment(id=7, offset=0, m=1) / UDP(sport=53, dport=5001) /
              Raw(body(1000, 1)))[:300]
    flow(DNS6, 53, "udp", c, 5001, [("fwd", "packet-too-big quoting the first fragment of a DNS answer",
                                     err6(ICMPv6PacketTooBig(mtu=1280), q))])
    c = "2001:db8:c000::2"
    q = bytes(IPv6(src=DNS6, dst=c) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 4)]) /
              UDP(sport=53, dport=5002) / Raw(body(200, 2)))
    flow(DNS6, 53, "udp", c, 5002, [("fwd", "time-exceeded quoting an answer with destination options",
                                     err6(ICMPv6TimeExceeded(code=0), q))])
    c = "2001:db8:c000::3"
    q = bytes(IPv6(src=V6, dst=c) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]) /
              TCP(sport=443, dport=5003, flags="PA") / Raw(body(200, 3)))
    flow(V6, 443, "tcp", c, 5003, [("fwd", "unreachable quoting an answer with hop-by-hop",
                                    err6(ICMPv6DestUnreach(code=1), q))])
    c = "2001:db8:c000::4"
    q = bytes(IPv6(src=V6, dst=c) / TCP(sport=443, dport=5004, flags="PA") / Raw(body(200, 4)))
    flow(V6, 443, "tcp", c, 5004, [("fwd", "packet-too-big behind a hop-by-hop header of its own",
                                    err6(ICMPv6PacketTooBig(mtu=1280), q, hbh=True))])
    c = "198.51.100.5"
    q = bytes(IP(src=DNS4, dst=c, id=55, flags="MF", frag=0) / UDP(sport=53, dport=5005) / Raw(body(1000, 5)))[:200]
    flow(DNS4, 53, "udp", c, 5005, [("fwd", "frag-needed quoting the first fragment of a DNS answer",
                                     err4(ICMP(type=3, code=4, nexthopmtu=1200), q, True))])
    c = "2001:db8:c000::6"
    q = bytes(IPv6(src=DNS6, dst=c) / IPv6ExtHdrFragment(id=8, offset=100, m=0) / Raw(body(100, 6)))
    flows.append([("punt", "packet-too-big quoting a later fragment (no ports)", err6(ICMPv6PacketTooBig(mtu=1280), q))])

    # ICMP errors too big to encapsulate: never answered with ICMP.
    c = "2001:db8:c000::7"
    q = bytes(IPv6(src=V6, dst=c) / TCP(sport=443, dport=5007, flags="PA") / Raw(body(1400, 7)))[:1232]
    flow(V6, 443, "tcp", c, 5007, [("no_answer", "packet-too-big of 1280 bytes (1320 encapsulated)",
                                    err6(ICMPv6PacketTooBig(mtu=1280), q))])
    for k, df in enumerate((True, False)):
        c = f"198.51.100.{8 + k}"
        q = bytes(IP(src=DNS4, dst=c, id=60 + k) / UDP(sport=53, dport=5008 + k) / Raw(body(1000, 8 + k)))[:548]
        kind = "fwd" if 596 <= mtu else "no_answer"
        flow(DNS4, 53, "udp", c, 5008 + k, [(kind, f"time-exceeded of 576 bytes{' with DF' if df else ''} "
                                             f"(596 encapsulated)", err4(ICMP(type=11, code=0), q, df))])

    # Too big, arriving priority-tagged (VLAN 0, PCP 5).
    def prio(p):
        return tp.pad_frame(Ether(dst=PORT_MAC, src="00:00:5e:00:01:02") / Dot1Q(vlan=0, prio=5) / p)
    c = "198.51.100.11"
    flows.append([("fwd", "small TCP to VIP:80 priority-tagged", prio(IP(src=c, dst=V4, id=1, flags="DF") /
                   TCP(sport=5011, dport=80, flags="S"))),
                  ("too_big", "1400-byte TCP with DF to VIP:80 priority-tagged", prio(
                      IP(src=c, dst=V4, id=2, flags="DF") / TCP(sport=5011, dport=80, flags="PA") /
                      Raw(body(1360, 11))))])
    c = "2001:db8:c000::12"
    flows.append([("too_big", "1400-byte UDP to VIP6:53 priority-tagged", prio(
        IPv6(src=c, dst=DNS6) / UDP(sport=5012, dport=53) / Raw(body(1352, 12))))])
    out = [x for fl in flows for x in fl]
    tp.assert_unique([x[2] for x in out], "icmp_edges")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=1000)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

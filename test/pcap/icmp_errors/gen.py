#!/usr/bin/python3
"""Generates icmp_errors/in.pcap: client flows to DR and IPIP services (IPv4 TCP/UDP,
IPv6 TCP/UDP), and among each flow's packets ICMP errors sent to the VIP that quote the
server's answer (VIP:port -> client:port): IPv4 fragmentation-needed, time-exceeded,
host/port/admin unreachable; ICMPv6 packet-too-big, unreachable, time-exceeded; from
routers or the client, untagged or on VLAN 100, quoting 8 bytes of transport header up
to a whole packet (one with IP options). Some errors quote flows not in the capture.
And ICMP that must go to the kernel: errors quoting a VIP port or protocol without a
service, another source than the VIP, ICMP, a fragment, too few bytes for the ports;
echo replies, redirects, parameter problems and echo requests to a VIP; errors to the
node.

frames() returns [(expectation, note, frame)] (see ternpcap.check_frames)."""

import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ICMP, IP, IPv6, TCP, UDP, Ether, Raw, IPOption_NOP, IPOption_EOL,  # noqa: E402
                       ICMPv6PacketTooBig, ICMPv6DestUnreach, ICMPv6TimeExceeded, ICMPv6EchoReply,
                       ICMPv6EchoRequest, ICMPv6ParamProblem)

PORT_MAC = "02:00:00:00:00:01"
SERVICES = (("192.0.2.10", 80, "tcp"), ("192.0.2.10", 443, "tcp"), ("192.0.2.53", 53, "udp"),
            ("2001:db8:100::10", 80, "tcp"), ("2001:db8:100::10", 443, "tcp"), ("2001:db8:100::53", 53, "udp"))
ROUTERS4 = ("10.0.0.1", "203.0.113.254", "198.18.7.1")
ROUTERS6 = ("2001:db8:0:1::1", "2001:db8:ffff::1")
ERR4 = ((3, 4), (11, 0), (3, 1), (3, 3), (3, 13), (11, 1))
ERR6 = ((2, 0), (1, 4), (1, 1), (3, 0), (1, 3))


def tag(frame, vlan):
    frame = bytes(frame)
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", 0x8100, vlan) + frame[12:]


def reply(rng, vip, vport, client, cport, proto, size, opts=None):
    """The bytes of the server's answer (VIP -> client) that an error quotes."""
    if ":" in vip:
        ip = IPv6(src=vip, dst=client, hlim=64, fl=rng.randrange(1 << 20))
    else:
        ip = IP(src=vip, dst=client, ttl=64, id=rng.randrange(65536), flags="DF", options=opts or [])
    if proto == "tcp":
        l4 = TCP(sport=vport, dport=cport, flags="PA", seq=rng.randrange(1 << 32), ack=rng.randrange(1 << 32))
    else:
        l4 = UDP(sport=vport, dport=cport)
    return bytes(ip / l4 / Raw(bytes(rng.randrange(256) for _ in range(size))))


def error4(rng, sender, vip, typ, code, quote, vlan=None, src_mac=tp.ROUTER_MAC):
    ic = ICMP(type=typ, code=code)
    if (typ, code) == (3, 4):
        ic = ICMP(type=3, code=4, nexthopmtu=rng.choice((1280, 1400, 1450)))
    return tp.pad_frame(tag(Ether(dst=PORT_MAC, src=src_mac) /
                            IP(src=sender, dst=vip, ttl=rng.randrange(50, 255), id=rng.randrange(65536),
                               tos=0xC0) / ic / Raw(quote), vlan))


def error6(rng, sender, vip, typ, code, quote, vlan=None, src_mac=tp.ROUTER_MAC):
    ic = {2: lambda: ICMPv6PacketTooBig(mtu=rng.choice((1280, 1400))), 1: lambda: ICMPv6DestUnreach(code=code),
          3: lambda: ICMPv6TimeExceeded(code=code), 4: lambda: ICMPv6ParamProblem(code=code, ptr=6)}[typ]()
    return tp.pad_frame(tag(Ether(dst=PORT_MAC, src=src_mac) /
                            IPv6(src=sender, dst=vip, hlim=rng.randrange(50, 255)) / ic / Raw(quote), vlan))


def quote_len(rng, v4, full):
    """How much of the answer an error quotes: IP header + 8, a little more, or all
    (routers quote up to 576 / 1280 bytes in all)."""
    hl = 20 if v4 else 40
    cap = 548 if v4 else 1232
    return min(rng.choice((hl + 8, hl + 8, hl + 40, len(full))), cap)


def frames():
    rng = random.Random(1191)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    n = 0
    for vip, port, proto in SERVICES:
        v4 = ":" not in vip
        for k in range(45):
            client = str(tp.rand_v4(rng, ("198.51.100.0/24", "100.64.0.0/10")) if v4
                         else tp.rand_v6(rng, "2001:db8:c000::/48"))
            cport = 10000 + n
            n += 1
            if proto == "tcp":
                pk = tp.tcp_flow(rng, eth, client, vip, cport, port, f"e{n}", npkts=3, payload_max=300)
            else:
                pk = tp.udp_flow(rng, eth, client, vip, cport, port, f"e{n}", npkts=3)
            fl = [("fwd", f"{proto} {client}:{cport} -> {vip}:{port} #{m}", tp.pad_frame(p)) for m, p in enumerate(pk)]
            for e in range(rng.choice((1, 2))):
                full = reply(rng, vip, port, client, cport, proto, rng.randrange(0, 1400),
                             opts=[IPOption_NOP()] * 3 + [IPOption_EOL()] if v4 and k == 7 else None)
                q = full[:quote_len(rng, v4, full)]
                vlan = rng.choice((None, None, 100))
                if v4:
                    typ, code = rng.choice(ERR4)
                    sender = client if (typ, code) == (3, 3) else rng.choice(ROUTERS4)
                    f = error4(rng, sender, vip, typ, code, q, vlan)
                else:
                    typ, code = rng.choice(ERR6)
                    sender = client if (typ, code) == (1, 4) else rng.choice(ROUTERS6)
                    f = error6(rng, sender, vip, typ, code, q, vlan)
                note = f"ICMP{'' if v4 else 'v6'} {typ}/{code} from {sender} on VLAN {vlan} quoting " \
                       f"{len(q)} bytes of [{vip}]:{port} -> [{client}]:{cport}"
                fl.insert(rng.randrange(1, len(fl) + 1), ("fwd", note, f))
            flows.append(fl)
        # errors about flows that are not in the capture: still the ring's server
        for k in range(3):
            client = "198.51.100.250" if v4 else "2001:db8:c000::fa"
            full = reply(rng, vip, port, client, 60000 + k + n, proto, 100)
            f = error4(rng, ROUTERS4[0], vip, 3, 4, full) if v4 else error6(rng, ROUTERS6[0], vip, 2, 0, full)
            flows.append([("fwd", f"error quoting an unseen flow of {vip}:{port} #{k}", f)])

    vip, vip6, c, c6 = "192.0.2.10", "2001:db8:100::10", "198.51.100.7", "2001:db8:c000::7"

    def punt(note, frame):
        flows.append([("punt", note, tp.pad_frame(frame))])

    r = ROUTERS4[1]
    full = reply(rng, vip, 8080, c, 40000, "tcp", 50)
    punt("frag-needed quoting VIP:8080 (no service)", error4(rng, r, vip, 3, 4, full))
    full = reply(rng, vip, 80, c, 40001, "udp", 50)
    punt("frag-needed quoting UDP from VIP:80 (the service is TCP)", error4(rng, r, vip, 3, 4, full))
    full = reply(rng, "192.0.2.99", 80, c, 40002, "tcp", 50)
    punt("frag-needed to the VIP quoting another source", error4(rng, r, vip, 3, 4, full))
    full = bytes(IP(src=vip, dst=c, id=9) / ICMP(type=0, id=5, seq=5) / Raw(b"pong"))
    punt("time-exceeded quoting an ICMP echo reply from the VIP", error4(rng, r, vip, 11, 0, full))
    full = reply(rng, vip, 80, c, 40003, "tcp", 50)
    punt("unreachable quoting only 22 bytes (no ports)", error4(rng, r, vip, 3, 1, full[:22]))
    full = bytes(IP(src="192.0.2.53", dst=c, id=11, frag=100, proto=17) / Raw(b"y" * 60))
    punt("frag-needed quoting a non-first fragment from the DNS VIP", error4(rng, r, "192.0.2.53", 3, 4, full))
    punt("echo reply to the VIP", eth / IP(src=c, dst=vip, id=12) / ICMP(type=0, id=1, seq=1) / Raw(b"pong"))
    punt("echo request to the VIP (answer_vip_echo off)", eth / IP(src=c, dst=vip, id=13) / ICMP(type=8, id=1, seq=2))
    punt("redirect to the VIP", eth / IP(src="10.0.0.1", dst=vip, id=14) / ICMP(type=5, code=1, gw="10.0.0.2") /
         Raw(reply(rng, vip, 80, c, 40005, "tcp", 0)[:28]))
    punt("parameter problem to the VIP", eth / IP(src=r, dst=vip, id=15) / ICMP(type=12, code=0, ptr=20) /
         Raw(reply(rng, vip, 80, c, 40006, "tcp", 0)[:28]))
    punt("timestamp request to the VIP", eth / IP(src=c, dst=vip, id=16) / ICMP(type=13, id=3, seq=3, ts_ori=12345, ts_rx=0, ts_tx=0))
    punt("frag-needed to the node quoting the node's packet", error4(rng, r, "10.0.0.10", 3, 4,
         reply(rng, "10.0.0.10", 179, "10.0.0.1", 40007, "tcp", 10)))
    punt("frag-needed to the node quoting a VIP packet", error4(rng, r, "10.0.0.10", 3, 4,
         reply(rng, vip, 80, c, 40008, "tcp", 10)))
    # IPv6
    r6 = ROUTERS6[1]
    punt("packet-too-big quoting VIP6:8443 (no service)", error6(rng, r6, vip6, 2, 0,
         reply(rng, vip6, 8443, c6, 40010, "tcp", 50)))
    punt("unreachable quoting UDP from VIP6:443 (the service is TCP)", error6(rng, r6, vip6, 1, 4,
         reply(rng, vip6, 443, c6, 40011, "udp", 50)))
    punt("time-exceeded to VIP6 quoting another source", error6(rng, r6, vip6, 3, 0,
         reply(rng, "2001:db8:100::99", 443, c6, 40012, "tcp", 50)))
    punt("packet-too-big quoting only 42 bytes", error6(rng, r6, vip6, 2, 0,
         reply(rng, vip6, 443, c6, 40013, "tcp", 50)[:42]))
    punt("parameter problem to VIP6", error6(rng, r6, vip6, 4, 0, reply(rng, vip6, 443, c6, 40014, "tcp", 0)))
    punt("echo reply to VIP6", eth / IPv6(src=c6, dst=vip6) / ICMPv6EchoReply(id=1, seq=1))
    punt("echo request to VIP6 (answer_vip_echo off)", eth / IPv6(src=c6, dst=vip6) / ICMPv6EchoRequest(id=1, seq=2))
    punt("packet-too-big to the node", error6(rng, r6, "2001:db8:0:1::10", 2, 0,
         reply(rng, vip6, 443, c6, 40015, "tcp", 50)))

    out = tp.interleave(rng, flows)
    tp.assert_unique([x[2] for x in out], "icmp_errors")
    return out


def main():
    n = tp.write_frames(HERE / "in.pcap", [x[2] for x in frames()], step_us=200)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

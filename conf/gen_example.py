#!/usr/bin/python3
"""Generates conf/example.pcap, the capture that goes with conf/example.yaml:
what the router (00:00:5e:00:01:01) sends to the balancer's port (02:00:00:00:00:01)
during a moment of a small site's life. Deterministic (fixed seed and timestamps).

- TCP connections to text-https 198.35.26.96:443 (SYN, ACK, request, FIN),
  text-http 198.35.26.96:80 and text-https-v6 [2620:0:863:ed1a::1]:443;
- DNS queries over UDP to dns-udp 198.35.26.99:53;
- for the kernel: ARP for the node 10.64.0.10, IPv6 neighbour solicitation for
  2620:0:860:101::10, BGP from the router, SSH and ping to the node, ping to a VIP
  and TCP to a VIP port nobody serves.

Run with Debian's python (scapy): /usr/bin/python3 conf/gen_example.py
"""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "test" / "pcap" / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import (ARP, ICMP, IP, TCP, Ether, IPv6, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr,  # noqa: E402
                       ICMPv6EchoRequest, Raw)

PORT_MAC = "02:00:00:00:00:01"
ROUTER_MAC = "00:00:5e:00:01:01"
ROUTER, NODE, NODE6 = "10.64.0.1", "10.64.0.10", "2620:0:860:101::10"
TEXT_VIP, DNS_VIP, TEXT_VIP6 = "198.35.26.96", "198.35.26.99", "2620:0:863:ed1a::1"
CLIENTS_V4 = ("198.51.100.0/24", "203.0.113.0/24")
CLIENTS_V6 = "2001:db8:c000::/48"


def site_traffic(rng, eth):
    flows = []
    for k in range(30):
        flows.append(tp.tcp_flow(rng, eth, tp.rand_v4(rng, CLIENTS_V4), TEXT_VIP, rng.randrange(1024, 65536), 443,
                                 f"https{k}", npkts=rng.choice((4, 5)), payload_max=600))
    for k in range(12):
        flows.append(tp.tcp_flow(rng, eth, tp.rand_v4(rng, CLIENTS_V4), TEXT_VIP, rng.randrange(1024, 65536), 80,
                                 f"http{k}", npkts=4, payload_max=400))
    for k in range(12):
        flows.append(tp.tcp_flow(rng, eth, tp.rand_v6(rng, CLIENTS_V6), TEXT_VIP6, rng.randrange(1024, 65536), 443,
                                 f"https6-{k}", npkts=4, payload_max=600))
    for k in range(20):
        flows.append(tp.udp_flow(rng, eth, tp.rand_v4(rng, CLIENTS_V4), DNS_VIP, rng.randrange(1024, 65536), 53,
                                 f"q{k}", npkts=rng.choice((1, 2))))
    return flows


def kernel_traffic(rng, eth):
    out = []
    for k in range(6):
        out.append(Ether(dst="ff:ff:ff:ff:ff:ff", src=ROUTER_MAC, type=0x0806) /
                   ARP(op=1, hwsrc=ROUTER_MAC, psrc=ROUTER, hwdst="00:00:00:00:00:00", pdst=NODE))
        out.append(Ether(dst="33:33:ff:00:00:10", src=ROUTER_MAC) /
                   IPv6(src="fe80::1", dst="ff02::1:ff00:10", hlim=255) /
                   ICMPv6ND_NS(tgt=NODE6) / ICMPv6NDOptSrcLLAddr(lladdr=ROUTER_MAC))
        out.append(eth / IP(src=ROUTER, dst=NODE, ttl=1, id=100 + k) /
                   TCP(sport=179, dport=50179, flags="PA", seq=1000 + 19 * k, ack=5000) /
                   Raw(b"\xff" * 16 + b"\x00\x13\x04"))  # BGP KEEPALIVE
        out.append(eth / IP(src=ROUTER, dst=NODE, id=200 + k) / ICMP(type=8, id=0x4242, seq=k) / Raw(b"tern-ping"))
    out.append(eth / IP(src=ROUTER, dst=NODE, id=300) / ICMP(type=0, id=0x4243, seq=1))  # a reply to the node
    out.append(eth / IPv6(src=tp.rand_v6(rng, CLIENTS_V6), dst=TEXT_VIP6) / ICMPv6EchoRequest(id=7, seq=1))
    for k in range(4):
        out.append(eth / IP(src="192.0.2.99", dst=NODE, id=400 + k) /
                   TCP(sport=50022 + k, dport=22, flags="S" if k == 0 else "A", seq=77 + k))  # SSH
        out.append(eth / IP(src=tp.rand_v4(rng, CLIENTS_V4), dst=TEXT_VIP, id=500 + k) / ICMP(type=8, id=k, seq=1))
        out.append(eth / IP(src=tp.rand_v4(rng, CLIENTS_V4), dst=TEXT_VIP, id=600 + k) /
                   TCP(sport=rng.randrange(1024, 65536), dport=8080, flags="S"))  # no service on :8080
    return out


def frames():
    rng = random.Random(1001)
    eth = Ether(dst=PORT_MAC, src=ROUTER_MAC)
    flows = site_traffic(rng, eth) + [[p] for p in kernel_traffic(rng, eth)]
    f = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique([x for x in f if x[12:14] != b"\x08\x06" and x[:6] != b"\x33\x33\xff\x00\x00\x10"], "example")
    return f


def main():
    jit = random.Random(5)
    path = HERE / "example.pcap"
    n = tp.write_frames(path, frames(), step_us=2000, jitter=lambda i: jit.randrange(2000))
    print(f"wrote {path}: {n} frames")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generates dr_basic/in.pcap: 3000 client flows to the four services of tern.yaml
(TCP to 192.0.2.10:80 and :443, UDP to 192.0.2.53:53, TCP to [2001:db8:100::10]:443),
interleaved, plus some traffic for the kernel (ARP, ICMP, BGP, SSH, ICMP to a VIP)."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import ARP, ICMP, IP, TCP, Ether, IPOption_NOP, IPOption_EOL  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
NODE = "10.0.0.10"
CLIENTS_V4 = ("198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10")
CLIENTS_V6 = "2001:db8:c000::/48"
# (service VIP, port, protocol, flows)
SERVICES = (("192.0.2.10", 80, "tcp", 1100), ("192.0.2.10", 443, "tcp", 600),
            ("192.0.2.53", 53, "udp", 700), ("2001:db8:100::10", 443, "tcp", 600))


def client_flows(rng):
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows, seen = [], set()
    n = 0
    for vip, port, proto, count in SERVICES:
        for _ in range(count):
            while True:
                src = tp.rand_v6(rng, CLIENTS_V6) if ":" in vip else tp.rand_v4(rng, CLIENTS_V4)
                sport = rng.randrange(1024, 65536)
                if (src, sport, vip, port) not in seen:
                    seen.add((src, sport, vip, port))
                    break
            tag = f"f{n}"
            n += 1
            ip_kw = {}
            if ":" not in vip and rng.random() < 0.05:  # some IPv4 headers with options (IHL 6)
                ip_kw = {"options": [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]}
            if proto == "tcp":
                flows.append(tp.tcp_flow(rng, eth, src, vip, sport, port, tag, npkts=rng.choice((3, 4, 5)),
                                         ip_kw=ip_kw))
            else:
                flows.append(tp.udp_flow(rng, eth, src, vip, sport, port, tag, npkts=2, ip_kw=ip_kw))
    return flows


def kernel_traffic(rng):
    """Frames the balancer must punt, each different."""
    r = tp.ROUTER_MAC
    out = []
    for k in range(30):
        out.append(Ether(dst="ff:ff:ff:ff:ff:ff", src=r, type=0x0806) /
                   ARP(op=1, hwsrc=r, psrc="10.0.0.1", hwdst="00:00:00:00:00:00", pdst=f"10.0.0.{10 + k}"))
        out.append(Ether(dst=PORT_MAC, src=r) / IP(src="10.0.0.1", dst=NODE, id=k, ttl=64) /
                   ICMP(type=8, id=0x77, seq=k) / (b"ping%04d" % k))
        out.append(Ether(dst=PORT_MAC, src=r) / IP(src="10.0.0.1", dst=NODE, id=1000 + k, ttl=1) /
                   TCP(sport=179, dport=40000 + k, flags="PA", seq=k * 19, ack=1) / (b"\xff" * 16 + b"\x00\x13\x04"))
        out.append(Ether(dst=PORT_MAC, src=r) / IP(src=str(tp.rand_v4(rng, CLIENTS_V4)), dst=NODE, id=2000 + k) /
                   TCP(sport=rng.randrange(1024, 65536), dport=22, flags="S", seq=k))
        out.append(Ether(dst=PORT_MAC, src=r) / IP(src=str(tp.rand_v4(rng, CLIENTS_V4)), dst="192.0.2.10", id=3000 + k) /
                   ICMP(type=8, id=0x99, seq=k))
    return out


def frames():
    rng = random.Random(20231114)
    flows = client_flows(rng)
    flows += [[p] for p in kernel_traffic(rng)]
    frames = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique(frames, "dr_basic")
    return frames


def main():
    f = frames()
    jit = random.Random(7)
    n = tp.write_frames(HERE / "in.pcap", f, step_us=100, jitter=lambda i: jit.randrange(100))
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

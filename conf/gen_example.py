#!/usr/bin/python3
"""Generates conf/example.pcap, the capture that goes with conf/example.yaml:
what the routers (00:00:5e:00:01:01) send to the balancer's port (02:00:00:00:00:01)
during a few seconds of a small site's life. Deterministic (fixed seed and timestamps).

- client TCP connections (SYN, ACK, request(s), FIN) to text-https 198.35.26.96:443
  (enough of them that the shares of its servers show their weights),
  text-http :80 and text-https-v6 [2620:0:863:ed1a::1]:443; about a quarter have not
  ended when the capture does (no FIN yet: they stay ESTABLISHED, IPVS's ActiveConn);
- git-ssh 198.35.26.98:22 sessions, long-lived (no FIN);
- DNS queries over UDP to dns-udp 198.35.26.99:53 (servers on VLAN 1102);
- for the kernel: ARP for the node 10.64.0.10, IPv6 neighbour solicitations for
  2620:0:860:101::10, BGP keepalives from both routers, SSH and ping to the node, a
  ping reply to the node, pings to VIPs and TCP to a VIP port no service has.

frames() returns [(expectation, note, frame)] (test/pcap/lib/ternpcap.check_frames):
test/pcap/example checks every record against it.

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
ROUTERS, NODE, NODE6 = ("10.64.0.1", "10.64.0.2"), "10.64.0.10", "2620:0:860:101::10"
TEXT_VIP, GIT_VIP, DNS_VIP, TEXT_VIP6 = "198.35.26.96", "198.35.26.98", "198.35.26.99", "2620:0:863:ed1a::1"
CLIENTS_V4 = ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")
CLIENTS_V6 = "2001:db8:c000::/48"


def tcp(rng, eth, src, dst, dport, tag, npkts, payload_max, open_share):
    """A client's connection; with probability open_share it has not ended yet
    (its FIN is cut off)."""
    pkts = tp.tcp_flow(rng, eth, src, dst, rng.randrange(1024, 65536), dport, tag, npkts=npkts,
                       payload_max=payload_max)
    return pkts[:-1] if rng.random() < open_share else pkts


def site_traffic(rng, eth):
    """[(note, packets)] of the client flows, one entry per flow."""
    flows = []
    for k in range(640):
        flows.append((f"text-https {k}", tcp(rng, eth, tp.rand_v4(rng, CLIENTS_V4), TEXT_VIP, 443, f"s{k}",
                                             rng.choice((3, 4, 5)), 120, 0.25)))
    for k in range(80):
        flows.append((f"text-http {k}", tcp(rng, eth, tp.rand_v4(rng, CLIENTS_V4), TEXT_VIP, 80, f"h{k}", 4, 120, 0.25)))
    for k in range(60):
        flows.append((f"text-https-v6 {k}", tcp(rng, eth, tp.rand_v6(rng, CLIENTS_V6), TEXT_VIP6, 443, f"s6-{k}",
                                                4, 120, 0.25)))
    for k in range(16):
        flows.append((f"git-ssh {k}", tcp(rng, eth, tp.rand_v4(rng, CLIENTS_V4), GIT_VIP, 22, f"g{k}", 5, 120, 1.0)))
    for k in range(80):
        flows.append((f"dns-udp {k}", tp.udp_flow(rng, eth, tp.rand_v4(rng, CLIENTS_V4), DNS_VIP,
                                                  rng.randrange(1024, 65536), 53, f"q{k}", npkts=rng.choice((1, 2)))))
    return flows


def kernel_traffic(rng, eth):
    """[(note, packet)] of what is not for a VIP:port a service has: the kernel's."""
    out = []
    for k in range(4):
        for n, router in enumerate(ROUTERS):
            mac = f"00:00:5e:00:01:0{n + 1}"
            out.append(("ARP who-has the node", Ether(dst="ff:ff:ff:ff:ff:ff", src=mac, type=0x0806) /
                        ARP(op=1, hwsrc=mac, psrc=router, hwdst="00:00:00:00:00:00", pdst=NODE)))
            out.append(("BGP keepalive", Ether(dst=PORT_MAC, src=mac) /
                        IP(src=router, dst=NODE, ttl=1, id=100 + 10 * n + k) /
                        TCP(sport=179, dport=50179 + n, flags="PA", seq=1000 + 19 * k, ack=5000) /
                        Raw(b"\xff" * 16 + b"\x00\x13\x04")))
        out.append(("ND solicitation for the node", Ether(dst="33:33:ff:00:00:10", src=ROUTER_MAC) /
                    IPv6(src="fe80::1", dst="ff02::1:ff00:10", hlim=255) /
                    ICMPv6ND_NS(tgt=NODE6) / ICMPv6NDOptSrcLLAddr(lladdr=ROUTER_MAC)))
        out.append(("ping to the node", eth / IP(src=ROUTERS[0], dst=NODE, id=200 + k) /
                    ICMP(type=8, id=0x4242, seq=k) / Raw(b"tern-ping")))
    out.append(("ping reply to the node", eth / IP(src=ROUTERS[0], dst=NODE, id=300) / ICMP(type=0, id=0x4243, seq=1)))
    out.append(("ping to a VIP (v6)", eth / IPv6(src=tp.rand_v6(rng, CLIENTS_V6), dst=TEXT_VIP6) /
                ICMPv6EchoRequest(id=7, seq=1)))
    for k in range(4):
        out.append(("SSH to the node", eth / IP(src="192.0.2.99", dst=NODE, id=400 + k) /
                    TCP(sport=50022, dport=22, flags="S" if k == 0 else "A", seq=77 + k)))
        out.append(("ping to a VIP", eth / IP(src=tp.rand_v4(rng, CLIENTS_V4), dst=TEXT_VIP, id=500 + k) /
                    ICMP(type=8, id=k, seq=1)))
        out.append(("TCP to a VIP port no service has", eth / IP(src=tp.rand_v4(rng, CLIENTS_V4), dst=TEXT_VIP,
                                                               id=600 + k) /
                    TCP(sport=rng.randrange(1024, 65536), dport=8080, flags="S")))
    return out


def frames():
    """[(expectation, note, frame)] in capture order."""
    rng = random.Random(1001)
    eth = Ether(dst=PORT_MAC, src=ROUTER_MAC)
    flows = [[("fwd", note, p) for p in pkts] for note, pkts in site_traffic(rng, eth)]
    flows += [[("punt", note, p)] for note, p in kernel_traffic(rng, eth)]
    f = [(kind, note, bytes(p)) for kind, note, p in tp.interleave(rng, flows)]
    tp.assert_unique([x for _, _, x in f if x[12:14] != b"\x08\x06" and x[:6] != b"\x33\x33\xff\x00\x00\x10"],
                     "example")
    return f


def main():
    jit = random.Random(5)
    path = HERE / "example.pcap"
    n = tp.write_frames(path, [x for _, _, x in frames()], step_us=2000, jitter=lambda i: jit.randrange(2000))
    print(f"wrote {path}: {n} frames")


if __name__ == "__main__":
    main()

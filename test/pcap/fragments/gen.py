#!/usr/bin/python3
"""Generates fragments/in.pcap: UDP datagrams of 3000 bytes to the DNS VIPs, each cut into
3 fragments, delivered in order, reversed, or last-first, interleaved with each other:
- 80 IPv4 clients, one datagram each; 20 of them send a second datagram from another
  source port, and 20 also send small unfragmented queries;
- 20 IPv6 clients, one datagram each (fragment extension header);
- a fragmented TCP segment to the DNS VIP (no TCP service there) and a fragmented UDP
  datagram to the node: for the kernel."""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import ternpcap as tp  # noqa: E402
from scapy.all import IP, TCP, UDP, Ether, IPv6, IPv6ExtHdrFragment, Raw, fragment, fragment6  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
VIP, VIP6 = "192.0.2.53", "2001:db8:100::53"


def reorder(frags, k):
    if k % 3 == 1:
        return frags[::-1]
    if k % 3 == 2:
        return frags[1:] + frags[:1]
    return frags


def payload(rng, n):
    return bytes(rng.randrange(256) for _ in range(n))


def frames():
    rng = random.Random(99)
    eth = Ether(dst=PORT_MAC, src=tp.ROUTER_MAC)
    flows = []
    clients, seen = [], set()
    while len(clients) < 80:
        c = tp.rand_v4(rng, ("198.51.100.0/24", "203.0.113.0/24"))
        if c not in seen:
            seen.add(c)
            clients.append(c)
    ident = 5000
    for k, c in enumerate(clients):
        for sport in rng.sample(range(1024, 65536), 2 if k < 20 else 1):
            ident += 1
            dg = IP(src=str(c), dst=VIP, id=ident, ttl=rng.randrange(40, 65)) / UDP(sport=sport, dport=53) / \
                Raw(payload(rng, 3000))
            frs = fragment(dg, fragsize=1200)
            assert len(frs) == 3
            flows.append([eth / f for f in reorder(frs, ident)])
        if 20 <= k < 40:
            flows.append(tp.udp_flow(rng, eth, c, VIP, rng.randrange(1024, 65536), 53, f"q{k}", npkts=2))
    for k in range(20):
        c = tp.rand_v6(rng, "2001:db8:c000::/48")
        dg = IPv6(src=str(c), dst=VIP6) / IPv6ExtHdrFragment(id=0x10000 + k) / \
            UDP(sport=rng.randrange(1024, 65536), dport=53) / Raw(payload(rng, 3000))
        frs = fragment6(dg, 1280)
        assert len(frs) == 3, len(frs)
        flows.append([eth / f for f in reorder(frs, k)])
    tcp = IP(src="198.51.100.250", dst=VIP, id=7777) / TCP(sport=40000, dport=53, flags="PA") / Raw(payload(rng, 2500))
    flows.append([eth / f for f in fragment(tcp, fragsize=1000)])
    node = IP(src="198.51.100.251", dst="10.0.0.10", id=7778) / UDP(sport=40001, dport=53) / Raw(payload(rng, 2500))
    flows.append([eth / f for f in fragment(node, fragsize=1000)])
    frames = [bytes(p) for p in tp.interleave(rng, flows)]
    tp.assert_unique(frames, "fragments")
    return frames


def main():
    n = tp.write_frames(HERE / "in.pcap", frames(), step_us=500)
    print(f"wrote {HERE / 'in.pcap'}: {n} frames")


if __name__ == "__main__":
    main()

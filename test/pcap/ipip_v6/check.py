#!/usr/bin/python3
"""ipip_v6: IPv6-in-IPv6 forwarding, byte for byte.

Every frame for an IPv6 IPIP service leaves as: Ethernet to the server's MAC (connected
subnet) or the IPv6 gateway's (rs3, dns2), from the port's MAC; an outer IPv6 header
computed here (traffic class = inner, flow label = flow hash & 0xFFFFF, payload length =
inner length, next header 41, hop limit 64, source = the address of
2001:db8:0:200::/120 the flow hash picks, destination = the server); the inner packet
byte-identical. IPv6 DR keeps everything after the MACs; IPv4 IPIP without a v4 prefix
uses node.ipv4 as the outer source. Outer sources and flow labels: one per flow, sources
inside the prefix and all 256 used about equally. The boundary: inner 1460 bytes fit,
1461 get ICMPv6 packet-too-big (MTU 1460). Fragments are tunnelled (3-tuple hash). tshark
decodes IPv6-in-IPv6 with the expected addresses, flow labels and hop limits."""

import collections
import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    per_flow = tp.check_outer_sources(res, r, "2001:db8:0:200::/120")
    notes.append(tp.check_spread(per_flow, 256))
    # Flow labels read from OUT: one per flow, and flows spread over many labels.
    labels = collections.defaultdict(set)
    for o in res.values():
        if o.server is not None and o.server.service.forward == "ipip" and o.server.ip.version == 6:
            labels[o.flow].add(int.from_bytes(tp.L2(r.out[o.out].data).ip[1:4], "big") & 0xFFFFF)
    bad = {f: l for f, l in labels.items() if len(l) != 1}
    tp.expect(not bad, f"flows with several outer flow labels: {list(bad.items())[:5]}")
    distinct = len({next(iter(l)) for l in labels.values()})
    tp.expect(distinct >= 0.99 * len(labels), f"{len(labels)} flows share {distinct} flow labels")
    notes.append(f"{len(labels)} flows, one outer flow label each, {distinct} distinct labels")
    # IPv4 IPIP without ipip_source_v4: node.ipv4.
    node4 = ipaddress.ip_address(cfg.raw["node"]["ipv4"])
    v4 = tp.check_outer_sources(res, r, f"{node4}/32")
    tp.expect(len(v4) > 100, f"only {len(v4)} IPv4 IPIP flows")
    notes.append(f"{len(v4)} IPv4 IPIP flows, outer source {node4} (node.ipv4)")
    notes.append(tp.servers_used(cfg, res))
    return notes


if __name__ == "__main__":
    tp.main(check)

#!/usr/bin/python3
"""ipv6_ext: IPv6 extension headers before TCP/UDP to IPv6 VIPs, DR and IPIP.

Packets whose transport header follows hop-by-hop, destination options (also 216
bytes), routing (types 0 and 4 with no segments left), an atomic fragment header, or a
chain of four, reach the service of their real ports: DR with the IP packet untouched,
IPIP with the inner packet (extension headers included) byte-identical behind an outer
header computed here from the flow hash over the real ports (the outer source from
2001:db8:0:200::/64, the flow label); each packet of a flow carries its own chain, and
the flow stays on one server with one outer source and flow label. AH, ESP and no-next-
header go to the kernel. tshark decodes the chains inside the tunnels with good TCP/UDP
checksums."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    per_flow = tp.check_outer_sources(res, r, "2001:db8:0:200::/64")
    tp.expect(len(set(per_flow.values())) >= 0.99 * len(per_flow),
              f"{len(per_flow)} IPIP flows share {len(set(per_flow.values()))} outer sources")
    notes.append(f"{len(per_flow)} IPIP flows, one outer source each, {len(set(per_flow.values()))} distinct")
    chains = collections.Counter()
    mixed = 0
    by_flow = collections.defaultdict(set)
    for o in res.values():
        if o.server is None:
            continue
        name = o.note.split(" with ", 1)[1]
        chains[(name, o.server.service.forward)] += 1
        by_flow[o.flow].add(name)
    mixed = sum(1 for s in by_flow.values() if len(s) > 1)
    tp.expect(mixed > 500, f"only {mixed} flows mix extension header chains")
    tp.expect(all(chains[(c, f)] > 10 for c, _ in chains for f in ("dr", "ipip")),
              f"coverage: {sorted(chains.items())}")
    notes.append(f"{mixed} flows mix chains and stay on one server; per chain and forward: " +
                 ", ".join(f"{c}/{f} {n}" for (c, f), n in sorted(chains.items())))
    notes.append(tp.servers_used(cfg, res))
    return notes


if __name__ == "__main__":
    tp.main(check)

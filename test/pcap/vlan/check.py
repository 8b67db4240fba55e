#!/usr/bin/python3
"""vlan: 802.1Q next hops, byte for byte.

Each forwarded frame leaves tagged with its next hop's VLAN (a server's connected subnet,
longest prefix first: 10.0.0.200 is on VLAN 300's /25 inside the untagged /24), or
untagged, whatever it arrived with (untagged, priority-tagged, VLAN 100/200/300/4094, or
VLAN 7 that no config names): the tag is added, replaced or removed. DR keeps the IP
packet and padding; IPIP servers on no connected subnet (172.16.9.9, 2001:db8:99::1)
are reached through the gateway of their family on VLAN 4094 (gateway MAC, tag 4094,
outer destination = the server); outer sources are node.ipv4 / node.ipv6 (no prefix).
The output tag's PCP/DEI may be 0 or the input's. Kernel frames on VLANs and a
double-tagged frame are punted as they came. tshark reads the VLAN id of every OUT frame
(and its absence) as expected."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    # Read back from OUT: (arrival VLAN, server VLAN) pairs seen, so that the case
    # provably covers adding, replacing and removing tags.
    topo = tp.Topology(cfg)
    pairs = collections.Counter()
    for o in res.values():
        if o.server is None:
            continue
        vin = tp.L2(inp[o.i].data).vlan
        vout = tp.L2(r.out[o.out].data).vlan
        tp.expect(vout == topo.next_hop(o.server)[1], f"test bug: record {o.i}")
        pairs[(vin or None, vout)] += 1
    added = sum(c for (a, b), c in pairs.items() if a is None and b is not None)
    removed = sum(c for (a, b), c in pairs.items() if a is not None and b is None)
    replaced = sum(c for (a, b), c in pairs.items() if a is not None and b is not None and a != b)
    kept = sum(c for (a, b), c in pairs.items() if a is not None and a == b)
    tp.expect(min(added, removed, replaced, kept) > 20, f"coverage: added {added}, removed {removed}, "
              f"replaced {replaced}, kept {kept}")
    out_vlans = sorted({b or 0 for (_, b) in pairs})
    tp.expect(out_vlans == [0, 100, 200, 300, 4094], f"OUT VLANs {out_vlans}")
    notes.append(f"tags added {added}, removed {removed}, replaced {replaced}, kept {kept}; "
                 f"OUT on VLANs {out_vlans} (0 = untagged)")
    for host in ("far", "far6"):
        n = sum(1 for o in res.values() if o.server is not None and o.server.host == host)
        tp.expect(n > 0, f"nothing went to {host} through the gateway")
    notes.append(tp.servers_used(cfg, res))
    return notes


if __name__ == "__main__":
    tp.main(check)

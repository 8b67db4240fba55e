#!/usr/bin/python3
"""fragments: every fragment of a UDP datagram to a VIP (IPv4: MF/offset; IPv6: fragment
header), whatever their order, reaches the same server, byte-identical with a valid
IPv4 header checksum; fragments are hashed on (src, dst, protocol), so all datagrams of
one client to a VIP share a server, and clients spread over all servers. Fragments to a
VIP without a service for their protocol, or to the node, go to the kernel."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def datagram_of(frame):
    """(src, dst, id) of an IPv4 fragment or IPv6 fragment, else None."""
    f = tp.flow_of(frame)
    if f is None or not f.fragment:
        return None
    if f.family == 4:
        return (f.src, f.dst, frame[18:20])
    return (f.src, f.dst, frame[14 + 40 + 4:14 + 40 + 8])  # fragment header right after IPv6


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    out_idx, punt_idx, chosen = tp.check_run(cfg, inp, r)
    tp.expect(len(punt_idx) == 6, f"{len(punt_idx)} frames punted, want 6 (fragments of TCP to the DNS VIP "
                                  f"and of UDP to the node)")
    per_flow = tp.check_sticky(inp, chosen, "fragment")

    dgrams = collections.defaultdict(dict)
    for i, srv in chosen.items():
        d = datagram_of(inp[i].data)
        if d is not None:
            dgrams[d][i] = srv
    errs = tp.Errors("datagrams")
    for d, frs in dgrams.items():
        servers = set(frs.values())
        errs.check(len(frs) == 3, f"datagram {d[0]} -> {d[1]} id {d[2].hex()}: {len(frs)} fragments forwarded, want 3")
        errs.check(len(servers) == 1, f"datagram {d[0]} -> {d[1]} id {d[2].hex()}: fragments went to "
                                      f"{sorted(map(str, servers))}")
    errs.raise_if_any()
    tp.expect(len(dgrams) == 120, f"{len(dgrams)} fragmented datagrams forwarded, want 120")

    notes = [f"{len(dgrams)} datagrams x 3 fragments, each datagram on one server; "
             f"{len(out_idx)} forwarded, {len(punt_idx)} punted"]
    for svc in cfg.services:
        counts = collections.Counter(s for f, s in per_flow.items() if f.fragment and s.service is svc)
        for s in svc.active:
            tp.expect(counts[s] > 0, f"{svc.name}: no client's fragments went to {s.host}")
        notes.append(f"{svc.name}: clients' fragments per server " + tp.check_shares(counts, svc, "clients"))
    return notes


if __name__ == "__main__":
    tp.main(check)

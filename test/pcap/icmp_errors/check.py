#!/usr/bin/python3
"""icmp_errors: ICMP errors to a VIP about one of its flows reach that flow's server.

IPv4 fragmentation-needed, time-exceeded and unreachable (host, port, admin), ICMPv6
packet-too-big, unreachable and time-exceeded, sent to a VIP (by routers or the client,
untagged or on VLAN 100) and quoting the server's answer VIP:port -> client:port (8
bytes of transport header up to a whole packet, one quote with IP options), are
forwarded as their service forwards (DR: MACs only; IPIP: encapsulated, byte for byte
as computed here) to the server that the flow client:port -> VIP:port goes to: the same
server as the flow's own packets in this capture, with the same outer source address
(and IPv6 flow label), so the server's NIC queues it with the flow. Errors about flows
not in the capture go to an active server of the service. Quotes that match no service
(port, protocol, other source, ICMP, a later fragment, too short for the ports), other
ICMP to a VIP (echo reply, echo request with answer_vip_echo off, redirect, parameter
problem, timestamp) and errors to the node are punted byte-identical. The stats count
icmp_errors_forwarded. tshark decodes the forwarded errors and their quotes. Again with 2
lcores: the same frames."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def outer_id(frame):
    """(outer source, IPv6 flow label or None) of an IPIP frame."""
    ip = tp.L2(frame).ip
    src = tp.ip_src_dst(ip)[0]
    return (src, None) if ip[0] >> 4 == 4 else (src, int.from_bytes(ip[1:4], "big") & 0xFFFFF)


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    by_flow = collections.defaultdict(list)
    for o in res.values():
        if o.server is not None:
            by_flow[o.flow].append(o)
    errs = tp.Errors("ICMP errors and their flows")
    kinds = collections.Counter()
    matched = 0
    for o in res.values():
        if o.server is None or tp.icmp_of(inp[o.i].data) is None:
            continue
        fam, typ, code, _ = tp.icmp_of(inp[o.i].data)
        kinds[(fam, typ, code, o.server.service.forward)] += 1
        own = [x for x in by_flow[o.flow] if tp.icmp_of(inp[x.i].data) is None]
        if "unseen" in o.note:
            errs.check(not own, f"test bug: {o.note}")
            continue
        if not own:
            errs.add(f"input record {o.i} ({o.note}): its flow has no packets in the capture")
            continue
        matched += 1
        for x in own:
            errs.check(x.server is o.server, f"input record {o.i} ({o.note}) went to {o.server}, the flow's "
                       f"packet {x.i} to {x.server}")
            if o.server.service.forward == "ipip":
                errs.check(outer_id(r.out[o.out].data) == outer_id(r.out[x.out].data),
                           f"input record {o.i} ({o.note}): outer source/flow label "
                           f"{outer_id(r.out[o.out].data)}, the flow's packet {x.i} "
                           f"{outer_id(r.out[x.out].data)}")
    errs.raise_if_any()
    tp.expect(matched >= 300, f"only {matched} errors about flows in the capture")
    notes.append(f"{matched} ICMP errors reached their flow's server (IPIP: with the flow's outer source "
                 f"and flow label); by (family, type, code, forward): " +
                 ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
    n_punt = sum(1 for o in res.values() if o.kind == "punt")
    notes.append(f"{n_punt} ICMP messages for the kernel punted byte-identical")
    notes.append(tp.servers_used(cfg, res))
    # With 2 lcores an error and its flow usually land on different lcores (RSS hashes
    # the router's address): the server must still be the flow's.
    notes.append(tp.check_lcores(case, work, cfg, inp, r))
    return notes


if __name__ == "__main__":
    tp.main(check)

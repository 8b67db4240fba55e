#!/usr/bin/python3
"""ipip_v4: IPv4-in-IPv4 forwarding, byte for byte.

Every frame for an IPIP service leaves as: Ethernet to the server's MAC (connected
subnet) or the gateway's (rs3, tls*, dns2: no connected subnet), from the port's MAC;
an outer IPv4 header computed here (version 4, IHL 5, TOS = inner TOS, total length =
20 + inner, ID = inner ID, DF copied, never MF, TTL 64, protocol 4, valid checksum,
source = the address of 10.0.200.0/26 that the flow hash picks, destination = the
server); then the inner IP packet byte-identical without the Ethernet padding. DR
frames keep everything after the MACs. Outer sources: inside the prefix, one per flow,
all 64 used about equally. The MTU boundary: inner 1480 bytes fit; 1481 with DF gets
ICMP fragmentation-needed, without DF is dropped (too_big_no_df). Fragments are
tunnelled (3-tuple hash). tshark agrees: IPIP decoded, checksums good, fields match.
Again with 2 lcores: the same frames."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    per_flow = tp.check_outer_sources(res, r, "10.0.200.0/26")
    notes.append(tp.check_spread(per_flow, 64))
    notes.append(tp.servers_used(cfg, res))
    notes.append(tp.check_lcores(case, work, cfg, inp, r))
    return notes


if __name__ == "__main__":
    tp.main(check)

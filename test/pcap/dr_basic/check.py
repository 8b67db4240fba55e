#!/usr/bin/python3
"""dr_basic: DR forwarding over four services (IPv4 TCP x2, IPv4 UDP, IPv6 TCP).

Checks: every VIP packet leaves in OUT, rewritten to the port's MAC -> the MAC of an
active server of THAT service (never the weight-0 rs4 nor the disabled rs5), with the
IP packet byte-identical and its timestamp kept; kernel traffic is in PUNT byte-identical;
each flow sticks to one server; flows per server follow the weights; the stats agree."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    notes = [f"{len(inp)} in, {len(r.out)} out, {len(r.punt)} punted"]
    tp.expect(len(r.out) > 10000 and len(r.punt) == 150,
              f"expected > 10000 forwarded and 150 punted frames, got {len(r.out)} and {len(r.punt)}")
    out_idx, punt_idx, chosen = tp.check_run(cfg, inp, r)
    per_flow = tp.check_sticky(inp, chosen)
    notes.append(f"{len(per_flow)} flows, each on one server")
    tp.expect(len(per_flow) == 3000, f"{len(per_flow)} flows forwarded, want 3000")
    by_service = collections.defaultdict(collections.Counter)
    for srv in per_flow.values():
        by_service[srv.service][srv] += 1
    for svc in cfg.services:
        notes.append(f"{svc.name}: " + tp.check_shares(by_service[svc], svc, "flows"))
    return notes


if __name__ == "__main__":
    tp.main(check)

#!/usr/bin/python3
"""example: the shipped conf/example.pcap through conf/example.yaml. Every frame for a
VIP:port:protocol is forwarded DR to an active server of its service (cp1003 is disabled
for text-http), everything else is punted byte-identical, flows stick to a server, every
service gets traffic, and the stats agree."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    tp.expect((case / "tern.yaml").exists(), "conf/example.yaml is missing")
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    out_idx, punt_idx, chosen = tp.check_run(cfg, inp, r)
    per_flow = tp.check_sticky(inp, chosen)
    flows = collections.Counter(s.service.name for s in per_flow.values())
    for svc in cfg.services:
        tp.expect(flows[svc.name] > 0, f"{svc.name}: no flow forwarded")
    tp.expect(len(punt_idx) >= 30, f"only {len(punt_idx)} frames punted")
    return [f"{len(inp)} in: {len(out_idx)} forwarded, {len(punt_idx)} punted; flows per service: " +
            ", ".join(f"{k} {v}" for k, v in sorted(flows.items()))]


if __name__ == "__main__":
    tp.main(check)

#!/usr/bin/python3
"""schedulers: IPVS's rr, wrr and wlc choose new flows in IPVS's order (one lcore, so
the per-lcore state is the whole state); later packets of a flow stay on its server;
ActiveConn per server matches what was chosen."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

MACS = {bytes.fromhex("020000000121"): "a", bytes.fromhex("020000000122"): "b",
        bytes.fromhex("020000000123"): "c"}
VIP_OF = {"192.0.2.10": "rr", "192.0.2.11": "wrr", "192.0.2.12": "wlc"}


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, gen.frames(), case.name)
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    tp.expect(len(r.out) == len(inp), f"{len(r.out)} of {len(inp)} forwarded")
    first = collections.defaultdict(list)   # service -> server of each new flow, in order
    flow_server = {}
    for rec in r.out:
        f = tp.flow_of(rec.data)
        svc = VIP_OF[str(f.dst)]
        srv = MACS[rec.data[:6]]
        key = (svc, f.sport)
        if key not in flow_server:
            flow_server[key] = srv
            first[svc].append(srv)
        tp.expect(flow_server[key] == srv, f"{svc} flow {f.sport} moved from {flow_server[key]} to {srv}")
    want_rr = ["a", "b", "c"] * (gen.N // 3)
    want_wrr = ["a", "a", "b", "a", "b", "c", "a", "b", "c"] * (gen.N // 9)
    # wlc, weights a=2 b=1, every connection established (overhead = 256 * active):
    # choose the least active/weight, ties to the first.
    act = {"a": 0, "b": 0}
    want_wlc = []
    for _ in range(gen.N):
        pick = "a" if act["a"] * 1 <= act["b"] * 2 else "b"
        want_wlc.append(pick)
        act[pick] += 1
    tp.expect(first["rr"] == want_rr, f"rr chose {first['rr']}, want {want_rr}")
    tp.expect(first["wrr"] == want_wrr, f"wrr chose {first['wrr']}, want {want_wrr}")
    tp.expect(first["wlc"] == want_wlc, f"wlc chose {first['wlc']}, want {want_wlc}")
    conns = {(svc["name"], s["host"]): s["active_conns"] for svc in r.stats["services"] for s in svc["servers"]}
    for svc in ("rr", "wrr", "wlc"):
        for srv, n in collections.Counter(first[svc]).items():
            tp.expect(conns[(svc, srv)] == n, f"{svc}/{srv}: ActiveConn {conns[(svc, srv)]}, want {n}")
    return [f"rr {first['rr'][:6]}..., wrr {first['wrr'][:9]}, wlc {first['wlc'][:6]}..."]


if __name__ == "__main__":
    tp.main(check)

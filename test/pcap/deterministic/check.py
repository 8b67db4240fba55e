#!/usr/bin/python3
"""deterministic: dr_basic's input replayed twice with 1 lcore and twice with 2 lcores.
- same lcores: OUT and PUNT files byte-identical between the two runs, same stats counters;
- 2 lcores vs 1: the same multiset of OUT frames (as bytes, MACs included) and of PUNT
  frames, every flow on the same server, the same per-service and per-server counters;
- the 2-lcore run passes the full dr_basic checks with 2 lcores in the stats (apart from
  output order, which may interleave the lcores)."""

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def counters(st):
    """The stats that must not depend on the run: totals, drops, services and servers."""
    svcs = {s["name"]: (s.get("packets"), s.get("bytes"),
                        {x["host"]: (x.get("packets"), x.get("bytes")) for x in s.get("servers", [])})
            for s in st["services"]}
    return {"totals": st["totals"], "drops": st["drops"], "services": svcs}


def same_files(a, b, what):
    da, db = Path(a).read_bytes(), Path(b).read_bytes()
    if da == db:
        return
    n = next((k for k in range(min(len(da), len(db))) if da[k] != db[k]), min(len(da), len(db)))
    tp.fail(f"{what}: {a.name} and {b.name} differ ({len(da)} vs {len(db)} bytes, first difference "
            f"at byte {n})")


def multiset_diff(a, b, what):
    ca, cb = collections.Counter(r.data for r in a), collections.Counter(r.data for r in b)
    if ca == cb:
        return
    only_a, only_b = ca - cb, cb - ca
    tp.fail(f"{what}: {sum(only_a.values())} frames only with 1 lcore, {sum(only_b.values())} only with 2 lcores"
            + (f"; e.g. 1-lcore frame to {tp.mac_str(next(iter(only_a))[:6])}" if only_a else "")
            + (f"; e.g. 2-lcore frame to {tp.mac_str(next(iter(only_b))[:6])}" if only_b else ""))


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    a1 = tp.replay(case / "tern.yaml", case / "in.pcap", work, tag="l1-a", lcores=1)
    a2 = tp.replay(case / "tern.yaml", case / "in.pcap", work, tag="l1-b", lcores=1)
    b1 = tp.replay(case / "tern.yaml", case / "in.pcap", work, tag="l2-a", lcores=2)
    b2 = tp.replay(case / "tern.yaml", case / "in.pcap", work, tag="l2-b", lcores=2)
    tp.expect(len(a1.out) > 10000, f"only {len(a1.out)} frames forwarded with 1 lcore")

    same_files(a1.out_path, a2.out_path, "OUT, 1 lcore, two runs")
    same_files(a1.punt_path, a2.punt_path, "PUNT, 1 lcore, two runs")
    same_files(b1.out_path, b2.out_path, "OUT, 2 lcores, two runs")
    same_files(b1.punt_path, b2.punt_path, "PUNT, 2 lcores, two runs")
    tp.expect(counters(a1.stats) == counters(a2.stats), "stats differ between two 1-lcore runs")
    tp.expect(counters(b1.stats) == counters(b2.stats), "stats differ between two 2-lcore runs")

    multiset_diff(a1.out, b1.out, "OUT")
    multiset_diff(a1.punt, b1.punt, "PUNT")

    # Full checks on both: placement, DR rewrite, stats (with 1 and 2 lcores).
    _, _, ca = tp.check_run(cfg, inp, a1, lcores=1)
    _, _, cb = tp.check_run(cfg, inp, b1, lcores=2)
    fa, fb = tp.check_sticky(inp, ca), tp.check_sticky(inp, cb)
    errs = tp.Errors("flows, 1 vs 2 lcores")
    errs.check(set(fa) == set(fb), f"{len(set(fa) ^ set(fb))} flows forwarded in one run only")
    for f, s in fa.items():
        if f in fb and fb[f] is not s:
            errs.add(f"{tp.flow_str(f)}: {s} with 1 lcore, {fb[f]} with 2")
    errs.raise_if_any()
    tp.expect(counters(a1.stats) == counters(b1.stats), "totals, drops or per-service/server counters differ "
                                                        "between 1 and 2 lcores")
    per_lcore = [x.get("rx") for x in b1.stats["lcores"]]
    return [f"1 lcore: OUT {len(a1.out)}, PUNT {len(a1.punt)}, identical over two runs",
            f"2 lcores (rx per lcore {per_lcore}): identical over two runs, same frames and "
            f"same server for all {len(fa)} flows as 1 lcore"]


if __name__ == "__main__":
    tp.main(check)

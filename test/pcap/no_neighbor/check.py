#!/usr/bin/python3
"""no_neighbor: servers without a neighbours entry get no packets: those packets leave
neither in OUT nor in PUNT and are counted as no_neighbor. `none`/`none6` (only server
without MAC) lose every packet; `half` loses about half of its flows, whole flows at a
time, and forwards the rest to a1; ok6 is unaffected. The stats count a2, b1 and b6 at 0."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)

    svc_of = {i: tp.expected_action(cfg, rec.data)[1] for i, rec in enumerate(inp)}
    forwarded = {rec.data[12:] for rec in r.out}
    missing = [i for i, rec in enumerate(inp) if rec.data[12:] not in forwarded]
    # VIP frames of `half`, `none`, `none6` may be missing; check_run fails on any other loss and
    # checks the stats with no_neighbor = the number missing.
    _, _, chosen = tp.check_run(cfg, inp, r, drops={"no_neighbor": len(missing)},
                                may_drop=lambda i: svc_of[i].name in ("half", "none", "none6"))

    errs = tp.Errors("no_neighbor")
    for name in ("none", "none6"):
        n = sum(1 for i in chosen if svc_of[i].name == name)
        errs.check(n == 0, f"{name}: {n} packets forwarded though its only server has no MAC")
    n_ok6 = sum(1 for i in chosen if svc_of[i].name == "ok6")
    errs.check(n_ok6 == 40, f"ok6: {n_ok6} of 40 packets forwarded")
    errs.raise_if_any()

    # `half`: whole flows are either forwarded (to a1) or dropped.
    flows = {}
    for i, rec in enumerate(inp):
        if svc_of[i].name == "half":
            flows.setdefault(tp.flow_of(rec.data), []).append(i in chosen)
    mixed = [f for f, v in flows.items() if any(v) and not all(v)]
    tp.expect(not mixed, f"half: {len(mixed)} flows partly forwarded, partly dropped, e.g. {tp.flow_str(mixed[0]) if mixed else ''}")
    lost = sum(1 for v in flows.values() if not any(v))
    # a1 and a2 have equal weight: lost ~ Binomial(200, 1/2), sd = 7.1; 4 sigma.
    sd = math.sqrt(len(flows) * 0.25)
    tp.expect(abs(lost - len(flows) / 2) <= 4 * sd + 0.02 * len(flows) / 2 + 1,
              f"half: {lost} of {len(flows)} flows dropped, want about half (a2 has weight 1 of 2)")
    return [f"{len(missing)} packets dropped as no_neighbor (none: 100, none6: 100, half: {lost} whole flows "
            f"of {len(flows)}); ok6 forwarded 40/40"]


if __name__ == "__main__":
    tp.main(check)

#!/usr/bin/python3
"""punt_policed: the exception path's token buckets on the capture clock.
Each punted frame's class is gen.py's; a model of the buckets (one per
class, integer tokens of 1/1,000,000 of a packet, as dataplane/punt_policy.h
keeps them) run over the input in order says which frames reach PUNT:
exactly those, byte-identical and in order. The flood passes at the budget
(burst 10, then 100/s); BGP, ARP and the server's replies all pass, also
while a forged burst from the server's address overruns `trusted`'s own
bucket; the VIP frames are forwarded. The stats agree: drops.punt_policed
and punt_classes per class."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

HZ = 1_000_000
BUDGET, BURST, PRIORITY = 100, 10, 1000
CLASSES = ("arp_nd", "bgp", "trusted", "other")


class Bucket:
    def __init__(self):
        self.tokens, self.last, self.started = 0, 0, False

    def take(self, now, rate, depth):
        cap = depth * HZ
        if not self.started:
            self.started, self.tokens = True, cap
        elif now > self.last:
            self.tokens = min(cap, self.tokens + (now - self.last) * rate)
        self.last = max(self.last, now)
        self.tokens = min(self.tokens, cap)
        if self.tokens < HZ:
            return False
        self.tokens -= HZ
        return True


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    exp = tp.load_gen(case).frames()
    tp.check_generated(inp, [x[3] for x in exp], case.name)
    for (_, cls, note, frame) in exp:
        act, _ = tp.expected_action(cfg, frame)
        tp.expect(act == ("out" if cls == "out" else "punt"), f"test bug: '{note}' is {act}, gen.py says {cls}")

    buckets = {c: Bucket() for c in CLASSES}
    want_punt, passed, policed = [], dict.fromkeys(CLASSES, 0), dict.fromkeys(CLASSES, 0)
    for i, (ts_us, cls, _, _) in enumerate(exp):
        if cls == "out":
            continue
        rate, depth = (BUDGET, BURST) if cls == "other" else (PRIORITY, PRIORITY // 10)
        if buckets[cls].take(ts_us, rate, depth):
            want_punt.append(i)
            passed[cls] += 1
        else:
            policed[cls] += 1
    # The model's own sanity: the flood is cut to its budget, the priority classes are untouched but for the burst.
    tp.expect(policed["bgp"] == policed["arp_nd"] == 0 and 0 < policed["trusted"] < 300,
              f"test bug: model says passed {passed}, policed {policed}")
    tp.expect(abs(passed["other"] - (BURST + BUDGET * 2)) <= 2, f"test bug: other passed {passed['other']}")

    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    punt_idx = tp.match(inp, r.punt, "PUNT")
    out_idx = tp.match(inp, r.out, "OUT", key=tp.after_macs)
    if punt_idx != want_punt:
        extra = sorted(set(punt_idx) - set(want_punt))[:5]
        missing = sorted(set(want_punt) - set(punt_idx))[:5]
        tp.fail(f"PUNT holds {len(punt_idx)} frames, the model {len(want_punt)}; first extra {extra} "
                f"({[exp[i][2] for i in extra]}), first missing {missing} ({[exp[i][2] for i in missing]})")
    n_out = sum(1 for x in exp if x[1] == "out")
    tp.expect(sorted(out_idx) == [i for i, x in enumerate(exp) if x[1] == "out"],
              f"OUT holds {len(out_idx)} frames, want the {n_out} VIP frames")
    st = r.stats
    tp.expect(st["drops"]["punt_policed"] == sum(policed.values()),
              f"drops.punt_policed = {st['drops']['punt_policed']}, want {sum(policed.values())}")
    tp.expect(all(v == 0 for k, v in st["drops"].items() if k != "punt_policed"), f"other drops: {st['drops']}")
    tp.expect(st["totals"]["punt"] == len(want_punt), f"totals.punt {st['totals']['punt']}, want {len(want_punt)}")
    got = {c: (st["punt_classes"][c]["passed"], st["punt_classes"][c]["policed"]) for c in CLASSES}
    want = {c: (passed[c], policed[c]) for c in CLASSES}
    tp.expect(got == want, f"punt_classes {got}, want {want}")
    lc = st["lcores"]
    for c in CLASSES:
        s = sum(x["punt_classes"][c]["passed"] for x in lc), sum(x["punt_classes"][c]["policed"] for x in lc)
        tp.expect(s == want[c], f"lcores' punt_classes.{c} sum to {s}, want {want[c]}")
    return [f"PUNT = the model's {len(want_punt)} frames; passed {passed}, policed {policed}; "
            f"{len(out_idx)} VIP frames forwarded"]


if __name__ == "__main__":
    tp.main(check)

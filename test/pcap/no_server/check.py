#!/usr/bin/python3
"""no_server: every packet to a service whose servers all have weight 0 or are disabled
(maglev and sh) is dropped and counted as no_server, and appears neither in OUT nor in
PUNT; the live service next to it forwards all of its packets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    cfg = tp.load_config(case / "tern.yaml")
    inp = tp.read_pcap(case / "in.pcap")
    r = tp.replay(case / "tern.yaml", case / "in.pcap", work)
    svc_of = {i: tp.expected_action(cfg, rec.data)[1].name for i, rec in enumerate(inp)}
    drained = sum(1 for n in svc_of.values() if n.startswith("drained"))
    tp.expect(drained == 160, f"test bug: {drained} drained-service frames")
    _, _, chosen = tp.check_run(cfg, inp, r, drops={"no_server": drained},
                                may_drop=lambda i: svc_of[i].startswith("drained"))
    tp.expect(len(r.out) == 80 and all(svc_of[i] == "live" for i in chosen),
              f"{len(r.out)} frames forwarded, want exactly the 80 of `live`")
    return [f"{drained} frames to drained services dropped as no_server, 80 of `live` forwarded"]


if __name__ == "__main__":
    tp.main(check)

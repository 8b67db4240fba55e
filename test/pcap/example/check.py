#!/usr/bin/python3
"""example: the shipped conf/example.pcap through conf/example.yaml, every record checked
against conf/gen_example.py's expectations byte for byte (DR to an active server of the
frame's service, tagged with VLAN 1102 for the servers there; cp1003 is disabled for
text-http; everything else punted as it came); every active server gets flows;
text-https's new flows follow its weights (10/10/20/40); connections left open at the
end of the capture are ActiveConn in the stats, the ones that ended InActConn; and
scripts/example_summary.py reads the run as a newcomer would see it."""

import collections
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def check(case, work):
    tp.expect((case / "tern.yaml").exists(), "conf/example.yaml is missing")
    cfg, inp, r, res, notes = tp.run_case_checks(case, work)
    notes.append(tp.servers_used(cfg, res))

    # Flows (5-tuples) per server: text-https's follow the weights.
    flows = collections.defaultdict(set)
    for o in res.values():
        if o.server is not None:
            flows[o.server].add(tp.flow_of(inp[o.i].data))
    https = cfg.service("text-https")
    notes.append("text-https flows: " + tp.check_shares({s: len(flows[s]) for s in https.servers}, https, "example"))

    # ActiveConn: the connections whose FIN is not in the capture; InActConn the rest.
    fins = set()
    for rec in inp:
        f = tp.flow_of(rec.data)
        if f is not None and f.proto == 6 and tcp_flags(rec.data) & 1:
            fins.add(f)
    for svc in r.stats["services"]:
        for s in svc["servers"]:
            srv = cfg.service(svc["name"]).server(s["host"])
            f = flows[srv]
            open_ = sum(1 for x in f if x.proto == 6 and x not in fins)
            tp.expect(s["active_conns"] == open_ and s["inactive_conns"] == len(f) - open_,
                      f"{svc['name']}/{s['host']}: ActiveConn {s['active_conns']} InActConn {s['inactive_conns']}, want "
                      f"{open_} and {len(f) - open_} ({len(f)} flows, {open_} without a FIN)")
    active = sum(s["active_conns"] for svc in r.stats["services"] for s in svc["servers"])
    tp.expect(active > 0, "no connection is still open at the end of the capture: ActiveConn shows nothing")
    notes.append(f"ActiveConn {active} in all: the connections still open when the capture ends")

    # The summary scripts/run-example prints.
    summary = subprocess.run([sys.executable, str(tp.REPO / "scripts" / "example_summary.py"), str(case / "tern.yaml"),
                              str(case / "in.pcap"), r.punt_path, r.stats_path],
                             capture_output=True, text=True)
    tp.expect(summary.returncode == 0, f"example_summary.py exited {summary.returncode}: {summary.stderr}")
    text = summary.stdout
    kernel = collections.Counter(note for kind, note, _ in tp.load_gen(case).frames() if kind == "punt")
    for words, n in (("ARP", kernel["ARP who-has the node"]), ("BGP", kernel["BGP keepalive"]),
                     ("SSH to the node", kernel["SSH to the node"]), ("ND", kernel["ND solicitation for the node"])):
        tp.expect(any(line.split()[:1] == [str(n)] and words in line for line in text.splitlines()),
                  f"the summary does not say {n} {words} went to the kernel:\n{text}")
    for s in https.servers:
        tp.expect(any(s.host in line and f"weight {s.weight}" in line and f"{len(flows[s])} " in line
                      for line in text.splitlines()),
                  f"the summary does not show {s.host}'s {len(flows[s])} connections next to its weight:\n{text}")
    tp.expect("ActiveConn" in text and "one way" in text, f"the summary does not explain ActiveConn:\n{text}")
    return notes


def tcp_flags(frame):
    l2 = tp.L2(frame)
    ip = frame[l2.off:]
    if l2.etype == 0x0800:
        return ip[(ip[0] & 15) * 4 + 13]
    return ip[40 + 13]


if __name__ == "__main__":
    tp.main(check)

#!/usr/bin/python3
"""conn_states: ActiveConn/InActConn per server at the end of a replay, as IPVS counts
them in DR mode (ESTABLISHED active; SYN_RECV, FIN_WAIT, CLOSE and UDP inactive; a
half-open connection older than the SYN_RECV timeout gone), with 1 and 2 lcores."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402


def conns(stats):
    return {s["host"]: (s["active_conns"], s["inactive_conns"])
            for svc in stats["services"] for s in svc["servers"]}


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, f in gen.frames()], case.name)
    notes = []
    for lcores in (1, 2):
        r = tp.replay(case / "tern.yaml", case / "in.pcap", work, tag=f"l{lcores}", lcores=lcores)
        got = conns(r.stats)
        tp.expect(got == gen.EXPECT, f"--lcores {lcores}: connections {got}, want {gen.EXPECT}")
        tp.expect(len(r.out) == len(inp), f"--lcores {lcores}: {len(r.out)} of {len(inp)} forwarded")
        notes.append(f"--lcores {lcores}: {got}")
    return notes


if __name__ == "__main__":
    tp.main(check)

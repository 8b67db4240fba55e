#!/usr/bin/python3
"""threshold: `tern replay --events` marks servers down through the same control state
as tern run's monitors, so the depool threshold applies. Phase 1 (rs1, rs2, rs3 down,
threshold 0.5 of 4): rs1 and rs2 are depooled (their flows move), rs3 is kept pooled
(its flows stay, it takes new ones) and stderr says it could not be depooled. Phase 2
(rs1 up): rs1 is repooled and rs3 depooled at last (its flows move). 1 and 2 lcores."""

import collections
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

RS = {bytes.fromhex("0200000001%d" % (20 + i)): "rs%d" % i for i in range(1, 5)}


def phase_of(ts_ns):
    return min(2, (ts_ns // 1000 - tp.T0_US) // 10_000_000)


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, f in gen.frames()], case.name)
    notes = []
    for lcores in (1, 2):
        out = work / f"out{lcores}.pcap"
        cmd = [str(tp.tern_path()), "replay", "--config", str(case / "tern.yaml"), "--in",
               str(case / "in.pcap"), "--out", str(out), "--events", str(case / "events.yaml"),
               "--lcores", str(lcores)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        tp.expect(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        tp.expect("Could not depool server rs3 because of too many down" in p.stderr,
                  f"--lcores {lcores}: replay did not say rs3 was kept pooled:\n{p.stderr}")
        recs = tp.read_pcap(out)
        tp.expect(len(recs) == len(inp), f"--lcores {lcores}: {len(recs)} of {len(inp)} forwarded")
        where = collections.defaultdict(dict)  # sport -> phase -> server
        for rec in recs:
            sport = struct.unpack_from("!H", rec.data, 34)[0]
            srv = RS.get(rec.data[:6])
            tp.expect(srv is not None, f"unknown destination MAC {rec.data[:6].hex()}")
            ph = phase_of(rec.ts_ns)
            tp.expect(where[sport].get(ph) in (None, srv), f"flow {sport} on two servers in phase {ph}")
            where[sport][ph] = srv
        old = [where[s] for s in gen.OLD]
        tp.expect({w[0] for w in old} == {"rs1", "rs2", "rs3", "rs4"}, "phase 0 should use all four servers")
        for w in old:
            if w[0] in ("rs1", "rs2"):
                tp.expect(w[1] in ("rs3", "rs4"), f"a flow of a depooled server did not move: {w}")
            else:
                tp.expect(w[1] == w[0], f"a flow of a pooled server moved: {w}")
        new1 = collections.Counter(where[s][1] for s in gen.NEW[1])
        tp.expect(set(new1) == {"rs3", "rs4"}, f"phase 1 new flows: want rs3 (kept by the threshold) and rs4: {new1}")
        for w in old:
            if w[1] == "rs3":
                tp.expect(w[2] in ("rs1", "rs4"), f"rs3's flow did not move once rs3 was depooled: {w}")
        new2 = collections.Counter(where[s][2] for s in gen.NEW[2])
        tp.expect(set(new2) == {"rs1", "rs4"}, f"phase 2 new flows: want rs1 and rs4: {new2}")
        notes.append(f"--lcores {lcores}: rs3 kept pooled by the threshold ({new1['rs3']} new flows), "
                     f"depooled when rs1 came back; {len(recs)} frames")
    return notes


if __name__ == "__main__":
    tp.main(check)

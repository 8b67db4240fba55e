#!/usr/bin/python3
"""events: control events applied at capture times through the control path.
Phase 1 (rs1 depooled = drained): established flows keep their server, rs1's too;
new flows all go to rs2. Phase 2 (rs1 pooled, rs2 down): rs2's flows move to rs1 at
once, rs1's stay; new flows go to rs1. Phase 3 (rs2 up, rs1 weight 0): flows stay where
they are (rs1 drained keeps its flows); new flows go to rs2. Same with 2 lcores."""

import collections
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

RS = {bytes.fromhex("020000000121"): "rs1", bytes.fromhex("020000000122"): "rs2"}


def phase_of(ts_ns):
    return min(3, (ts_ns // 1000 - tp.T0_US) // 10_000_000)


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, f in gen.frames()], case.name)
    notes = []
    for lcores in (1, 2):
        out = run_with_events(case, work, lcores)
        tp.expect(len(out) == len(inp), f"--lcores {lcores}: {len(out)} of {len(inp)} forwarded with events")
        where = collections.defaultdict(dict)  # sport -> phase -> server
        for rec in out:
            sport = struct.unpack_from("!H", rec.data, 34)[0]
            srv = RS.get(rec.data[:6])
            tp.expect(srv is not None, f"unknown destination MAC {rec.data[:6].hex()}")
            ph = phase_of(rec.ts_ns)
            prev = where[sport].get(ph)
            tp.expect(prev in (None, srv), f"flow {sport} on two servers in phase {ph}")
            where[sport][ph] = srv
        old = [where[s] for s in gen.OLD]
        tp.expect(all(w[1] == w[0] for w in old), f"--lcores {lcores}: drain moved established flows")
        tp.expect(any(w[0] == "rs1" for w in old) and any(w[0] == "rs2" for w in old),
                  "phase 0 should use both servers")
        tp.expect(all(where[s][1] == "rs2" for s in gen.NEW[1]), "new flows went to a drained server")
        tp.expect(all(w[2] == "rs1" for w in old), f"--lcores {lcores}: flows of the down server did not move")
        tp.expect(all(where[s][2] == "rs1" for s in gen.NEW[2]), "new flows went to a down server")
        tp.expect(all(w[3] == w[2] for w in old), "weight 0 (drain) moved established flows")
        tp.expect(all(where[s][3] == "rs2" for s in gen.NEW[3]), "new flows went to a weight-0 server")
        notes.append(f"--lcores {lcores}: drain keeps, down moves, weight 0 keeps; {len(out)} frames")
    return notes


def run_with_events(case, work, lcores):
    import subprocess
    out = work / f"ev{lcores}.out.pcap"
    cmd = [str(tp.tern_path()), "replay", "--config", str(case / "tern.yaml"), "--in", str(case / "in.pcap"),
           "--out", str(out), "--events", str(case / "events.yaml"), "--lcores", str(lcores)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    tp.expect(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return tp.read_pcap(out)


if __name__ == "__main__":
    tp.main(check)

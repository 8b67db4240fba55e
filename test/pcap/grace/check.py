#!/usr/bin/python3
"""grace: a reload removes rs2. The service with removed_server_grace: 30 keeps rs2's
established flows on rs2 until the grace ends (t=40 s), then moves them; the service
without grace moves them at once. Flows on rs1 never move. 1 and 2 lcores."""

import collections
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

RS = {bytes.fromhex("020000000121"): "rs1", bytes.fromhex("020000000122"): "rs2"}
SVC = {"192.0.2.10": "graceful", "192.0.2.11": "abrupt"}


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, f in gen.frames()], case.name)
    events = work / "events.yaml"
    events.write_text(f"- {{at: 1700000010, action: reload, config: \"{case / 'reloaded.yaml'}\"}}\n")
    notes = []
    for lcores in (1, 2):
        out = work / f"out{lcores}.pcap"
        cmd = [str(tp.tern_path()), "replay", "--config", str(case / "tern.yaml"), "--in",
               str(case / "in.pcap"), "--out", str(out), "--events", str(events), "--lcores", str(lcores)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        tp.expect(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        recs = tp.read_pcap(out)
        tp.expect(len(recs) == len(inp), f"{len(recs)} of {len(inp)} forwarded")
        where = collections.defaultdict(dict)  # (service, sport) -> phase -> server
        for rec in recs:
            f = tp.flow_of(rec.data)
            sec = rec.ts_ns // 1_000_000_000 - tp.T0_US // 1_000_000
            phase = 0 if sec < 10 else (1 if sec < 40 else 2)
            where[(SVC[str(f.dst)], f.sport)][phase] = RS[rec.data[:6]]
        for (svc, sport), w in where.items():
            if w[0] == "rs1":
                tp.expect(w[1] == w[2] == "rs1", f"{svc} {sport}: a flow on rs1 moved: {w}")
            elif svc == "graceful":
                tp.expect(w[1] == "rs2" and w[2] == "rs1", f"{svc} {sport}: want rs2 during grace, rs1 after: {w}")
            else:
                tp.expect(w[1] == w[2] == "rs1", f"{svc} {sport}: want rs1 at once after the reload: {w}")
        on_rs2 = sum(1 for (svc, _), w in where.items() if svc == "graceful" and w[0] == "rs2")
        tp.expect(on_rs2 > 5, f"only {on_rs2} graceful flows started on rs2")
        notes.append(f"--lcores {lcores}: {on_rs2} flows kept rs2 for the grace period, then moved")
    return notes


if __name__ == "__main__":
    tp.main(check)

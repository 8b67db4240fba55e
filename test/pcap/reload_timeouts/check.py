#!/usr/bin/python3
"""reload_timeouts: a reload event sets flows.timeouts.udp 300 -> 5 and rs1's weight
to 0 (a weight-0 server keeps its flows while they live). A flow on rs1 that sends
after the reload gets the new 5 s timeout: idle until t=20 s it has expired and moves
to rs2. A flow on rs1 that last sent before the reload keeps its 300 s expiry and
stays. The lcores take the new timeouts at the event. 1 and 2 lcores."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

RS = {bytes.fromhex("020000000121"): "rs1", bytes.fromhex("020000000122"): "rs2"}


def check(case, work):
    gen = tp.load_gen(case)
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, f in gen.frames()], case.name)
    events = work / "events.yaml"
    events.write_text(f"- {{at: {tp.T0_US // 1_000_000 + 2}, action: reload, config: \"{case / 'reloaded.yaml'}\"}}\n")
    touched = set(gen.GROUPS["touched"][0])
    notes = []
    for lcores in (1, 2):
        out = work / f"out{lcores}.pcap"
        cmd = [str(tp.tern_path()), "replay", "--config", str(case / "tern.yaml"), "--in",
               str(case / "in.pcap"), "--out", str(out), "--events", str(events), "--lcores", str(lcores)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        tp.expect(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        recs = tp.read_pcap(out)
        tp.expect(len(recs) == len(inp), f"{len(recs)} of {len(inp)} forwarded")
        where = {}  # sport -> {second: server}
        for rec in recs:
            f = tp.flow_of(rec.data)
            sec = rec.ts_ns // 1_000_000_000 - tp.T0_US // 1_000_000
            where.setdefault(f.sport, {})[sec] = RS[rec.data[:6]]
        moved = kept = 0
        for sport, w in where.items():
            if w[1] == "rs2":
                tp.expect(set(w.values()) == {"rs2"}, f"{sport}: a flow on rs2 moved: {w}")
            elif sport in touched:
                tp.expect(w[3] == "rs1" and w[20] == "rs2",
                          f"{sport}: want rs1 at 3 s (weight 0 keeps it), rs2 at 20 s (expired after 5 s): {w}")
                moved += 1
            else:
                tp.expect(w[20] == "rs1", f"{sport}: idle since before the reload, want its 300 s expiry kept: {w}")
                kept += 1
        tp.expect(moved > 10 and kept > 10, f"too few flows started on rs1: {moved} touched, {kept} idle")
        notes.append(f"--lcores {lcores}: {moved} flows expired under the reloaded 5 s timeout, {kept} kept 300 s")
    return notes


if __name__ == "__main__":
    tp.main(check)

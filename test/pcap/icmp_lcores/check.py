#!/usr/bin/python3
"""icmp_lcores: ICMP errors about a flow reach the flow's server whatever lcore RSS puts
them on, for every scheduler (rr, wrr, wlc, Maglev; IPv4 and IPv6 TCP, UDP).

Flows open before the events of events.yaml (a server drained in rr, weights changed in
wrr, wlc and Maglev: a fresh choice now differs), then each flow gets an ICMP error
(quoting the server's answer VIP:port -> client:port, sent by one of many routers, so RSS
hashes it to any queue) and one more packet. With 1, 2 and 3 lcores (input spread by
Toeplitz RSS, as a NIC with Tern's key and redirection table would): every frame is
forwarded; every error goes to the server its flow's packets go to; the errors that landed
on another lcore than their flow (computed here with an independent Toeplitz) are the
stats' handed_over; two replays with the same lcore count give the same OUT (but for wlc,
whose choices read the other lcores' live counts). tshark reads
OUT cleanly."""

import ipaddress
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

KEY = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")


def toeplitz(data):
    k = int.from_bytes(KEY, "big")
    bits = len(KEY) * 8
    h = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                h ^= (k >> (bits - 32 - (i * 8 + b))) & 0xFFFFFFFF
    return h


def queue(src, dst, ports, n):
    """The RX queue of a packet: 128-entry redirection table, entry i -> queue i % n."""
    data = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + ports
    return (toeplitz(data) % 128) % n


def flow_queue(f, n):
    return queue(f.src, f.dst, f.sport.to_bytes(2, "big") + f.dport.to_bytes(2, "big"), n)


def error_queue(frame, n):
    """Where RSS puts an ICMP error: its outer addresses only."""
    ip = tp.L2(frame).ip
    src, dst = tp.ip_src_dst(ip)
    return queue(src, dst, b"", n)


def stable(recs):
    """OUT without the wlc service's frames (192.0.2.12)."""
    wlc = ipaddress.ip_address("192.0.2.12")
    return [(x.ts_ns, x.data) for x in recs if (tp.flow_of(x.data) or tp.quoted_flow(x.data)).dst != wlc]


def run(case, work, lcores, tag=""):
    out = work / f"l{lcores}{tag}.out.pcap"
    stats = work / f"l{lcores}{tag}.stats.json"
    cmd = [str(tp.tern_path()), "replay", "--config", str(case / "tern.yaml"), "--in", str(case / "in.pcap"),
           "--out", str(out), "--events", str(case / "events.yaml"), "--lcores", str(lcores), "--stats", str(stats)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    tp.expect(p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    import json
    return out, tp.read_pcap(out), json.loads(stats.read_text())


def check(case, work):
    gen = tp.load_gen(case)
    recs = gen.records()
    inp = tp.read_pcap(case / "in.pcap")
    tp.check_generated(inp, [f for _, _, f in recs], case.name)
    errors = [f for _, kind, f in recs if kind == "error"]
    notes = []
    for lcores in (1, 2, 3):
        out_path, out, st = run(case, work, lcores)
        tp.expect(len(out) == len(inp), f"--lcores {lcores}: {len(out)} of {len(inp)} forwarded")
        server = {}  # flow -> destination MAC of its own packets
        for rec in out:
            f = tp.flow_of(rec.data)
            if f is None:
                continue
            tp.expect(server.get(f, rec.data[:6]) == rec.data[:6], f"--lcores {lcores}: flow {tp.flow_str(f)} moved")
            server[f] = rec.data[:6]
        got = 0
        for rec in out:
            q = tp.quoted_flow(rec.data)
            if q is None:
                continue
            got += 1
            tp.expect(q in server, f"--lcores {lcores}: error about {tp.flow_str(q)}, a flow not in OUT")
            tp.expect(rec.data[:6] == server[q],
                      f"--lcores {lcores}: the error about {tp.flow_str(q)} went to {rec.data[:6].hex(':')}, "
                      f"its flow to {server[q].hex(':')}")
        tp.expect(got == len(errors), f"--lcores {lcores}: {got} of {len(errors)} errors forwarded")
        handed = sum(1 for e in errors if error_queue(e, lcores) != flow_queue(tp.quoted_flow(e), lcores))
        st_handed = sum(x.get("handed_over", 0) for x in st["lcores"])
        tp.expect(st_handed == handed, f"--lcores {lcores}: stats say {st_handed} handed over, RSS puts {handed} "
                  "errors on another lcore than their flow")
        if lcores > 1:
            tp.expect(handed >= len(errors) // 3, f"test bug: only {handed} errors land away from their flow")
        tp.expect(st["totals"]["icmp_errors_forwarded"] == len(errors), "icmp_errors_forwarded")
        tp.expect(sum(x.get("flows_rescheduled", 0) for x in st["lcores"]) == 0, "flows rescheduled")
        if lcores > 1:
            # rr and wrr keep their state per lcore, so the choices differ from one
            # lcore's; but not from run to run (the hand-overs are served in capture
            # order). wlc is left out: it reads the other lcores' live connection counts.
            _, again, _ = run(case, work, lcores, "again")
            tp.expect(stable(again) == stable(out), f"--lcores {lcores}: two replays differ")
        notes.append(f"--lcores {lcores}: {len(errors)} errors reached their flow's server, {handed} of them "
                     f"handed over from the lcore RSS gave them (rx per lcore {[x['rx'] for x in st['lcores']]})")
        if lcores == 2:
            tp.check_tshark(out_path, "OUT", n_frames=len(out))
            notes.append(f"tshark {tp.tshark_version().split()[2]}: OUT decodes without warnings")
    return notes


if __name__ == "__main__":
    tp.main(check)

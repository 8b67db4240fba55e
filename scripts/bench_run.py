"""Runs Tern's benchmarks (issue 8) and reports them; started by scripts/bench.

Steps: pipeline cost (build/bench/tern_bench pipeline), instructions per packet
(the same under callgrind, counting only Worker::classify_burst), Tern through
real PMDs against dpdk-testpmd io/5tswap on the same vdevs, scaling 1 vs 2
worker lcores, Maglev ring builds, a full rebuild + publish while forwarding,
and the kernel peer (nftables jhash DNAT in a namespace, scripts/bench_kpeer.py).
Prints one table with the ratios against the issue's targets and writes
docs/bench/results.json, docs/bench/bench.png and the figures section of
docs/bench/README.md. Run with Debian's /usr/bin/python3 (matplotlib).
"""
import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time

import bench_kpeer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = os.path.join(ROOT, args.build, "bench", "tern_bench")
        self.work = tempfile.mkdtemp(prefix="tern-bench-")
        self.commands = []
        self.memory = []  # EAL memory mode of each EAL run (hugepages / no-huge)

    def tern_bench(self, *argv, wrap=None):
        cmd = (wrap or []) + [self.bin] + list(argv)
        self.commands.append(" ".join(shlex.quote(c) for c in cmd))
        r = sh(cmd)
        if r.returncode != 0:
            log(r.stderr)
            raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    # --- steps -----------------------------------------------------------
    def pipeline(self):
        log("== pipeline: classify_burst on recycled mbufs, 1 and 2 lcores")
        d = self.tern_bench("pipeline", "--lcores", "1,2", "--runs", str(self.a.runs),
                            "--seconds", str(self.a.seconds))
        self.memory.append(d["memory"])
        return d

    def callgrind(self, pipeline):
        log("== callgrind: instructions per packet in Worker::classify_burst")
        out = {}
        for c in pipeline["cases"]:
            name = c["case"]
            if name in out:
                continue
            if c["status"] != "ok":
                out[name] = {"status": "n/a", "reason": c.get("reason", c.get("error", ""))}
                continue
            cg = os.path.join(self.work, f"callgrind.{name}.out")
            d = self.tern_bench("pipeline", "--case", name, "--bursts", str(self.a.bursts),
                                "--no-huge", "--lcores", "1",
                                wrap=["valgrind", "--tool=callgrind", "-q",
                                      "--toggle-collect=*Worker::classify_burst*",
                                      f"--callgrind-out-file={cg}"])
            packets = d["cases"][0]["packets_per_run"]
            total = 0
            with open(cg) as f:
                for line in f:
                    if line.startswith("totals:") or line.startswith("summary:"):
                        total = int(line.split()[1])
            ann = sh(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=99", cg]).stdout
            rows = [l for l in ann.splitlines() if re.match(r"^\s*[\d,]+ \(", l)]
            profile = []
            for l in rows[1:16]:  # skip PROGRAM TOTALS
                m = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", l)
                if m:
                    ir = int(m.group(1).replace(",", ""))
                    fn = re.sub(r"\s*\[[^\]]*\]$", "", m.group(3))
                    profile.append({"ir_per_packet": round(ir / packets, 1), "share": float(m.group(2)),
                                    "where": fn})
            out[name] = {"status": "ok", "ir": total, "packets": packets,
                         "ir_per_packet": round(total / packets, 1), "profile_self": profile}
            log(f"   {name}: {total / packets:.0f} instructions/packet")
        return out

    def testpmd(self, mode, lcores, pcap):
        fwd = ",".join(f"{w}@{w % os.cpu_count()}" for w in range(1, lcores + 1))
        mem = ["--in-memory"] if self.memory and self.memory[0] == "hugepages" else \
            ["--no-huge", "-m", "1024", "--no-shconf"]
        rx = "net_pcap0" + f",rx_pcap={pcap}" * lcores + ",infinite_rx=1"
        cmd = ["timeout", "-s", "INT", str(int(self.a.warmup + self.a.windows + 4)),
               "dpdk-testpmd", "--lcores", f"0@0,{fwd}", "--no-pci", "--no-telemetry",
               "--log-level", "*:warning", "--file-prefix", f"bench-testpmd-{os.getpid()}",
               *mem, "--vdev", rx, "--vdev", "net_null0,no-rx=1", "--",
               f"--forward-mode={mode}", "--no-flush-rx", "--stats-period", "1",
               "--port-topology=loop", "--total-num-mbufs", str(65536 * lcores + 8192),
               f"--rxq={lcores}", f"--txq={lcores}", f"--nb-cores={lcores}"]
        self.commands.append(" ".join(shlex.quote(c) for c in cmd))
        r = sh(cmd, stdin=subprocess.DEVNULL)
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", r.stdout)
        pps = []
        for block in text.split("NIC statistics for port 0")[1:]:
            m = re.search(r"Rx-pps:\s+(\d+)", block)
            if m:
                pps.append(int(m.group(1)) / 1e6)
        skip = int(self.a.warmup) + 1  # the first report counts from start-up
        wins = pps[skip:skip + self.a.windows]
        if len(wins) < 3:
            log(text[-3000:] + r.stderr[-2000:])
            return {"status": "error", "reason": "testpmd printed too few reports"}
        med = sorted(wins)[len(wins) // 2] if len(wins) % 2 else \
            sum(sorted(wins)[len(wins) // 2 - 1:len(wins) // 2 + 1]) / 2
        log(f"   testpmd {mode} x{lcores}: {med:.2f} Mpps")
        return {"status": "ok", "windows_mpps": wins, "mpps": med}

    def pmd(self):
        log("== through PMDs: net_pcap (infinite_rx) -> net_null, Tern vs testpmd")
        pcap = os.path.join(self.work, "dr.pcap")
        self.tern_bench("pcap", "--case", "dr", "--out", pcap, "--flows", "4096")
        res = {}
        for lcores in (1, 2):
            d = self.tern_bench("pmd", "--pcap", pcap, "--lcores", str(lcores),
                                "--windows", str(self.a.windows), "--warmup", str(self.a.warmup))
            log(f"   tern x{lcores}: {d['mpps']:.2f} Mpps, lost {d['lost']}")
            res[f"tern_x{lcores}"] = d
            for mode in ("io", "5tswap"):
                res[f"testpmd_{mode}_x{lcores}"] = self.testpmd(mode, lcores, pcap)
        return res

    def kernel_peer(self):
        log("== kernel peer: nftables jhash DNAT in a namespace, fed by testpmd net_pcap -> af_packet")
        pcap = os.path.join(self.work, "dr.pcap")  # written by pmd(), the same frames
        if not os.path.exists(pcap):
            self.tern_bench("pcap", "--case", "dr", "--out", pcap, "--flows", "4096")
        d = bench_kpeer.kernel_peer(pcap, self.work, self.memory[0] if self.memory else "no-huge",
                                    self.a.windows, self.a.warmup, self.commands)
        if d["status"] == "ok":
            log(f"   kernel: {d['mpps']:.3f} Mpps forwarded, NAPI thread {d['napi_busy']:.0%} busy: "
                f"{d['mpps_per_core']:.3f} Mpps per core")
        else:
            log(f"   kernel peer n/a: {d['reason']}")
        return d

    def control(self):
        log("== control: Maglev ring builds; full rebuild + publish while forwarding")
        mag = self.tern_bench("maglev", "--runs", str(self.a.runs))
        pcap = os.path.join(self.work, "big.pcap")
        self.tern_bench("pcap", "--case", "dr", "--vips", "500", "--out", pcap)
        reb = self.tern_bench("pmd", "--pcap", pcap, "--rebuilds", str(self.a.rebuilds),
                              "--vips", "500", "--servers", "100", "--warmup", "1")
        log(f"   rebuild after one change: {reb['one_build_ms_median']:.1f} ms build; every ring changed: "
            f"{reb['build_ms_median']:.0f} ms build; lost {reb['lost']}")
        log("== flow table alone: 1M and 10M flows")
        ft = self.tern_bench("flowtable", "--flows", "1000000,10000000")
        return {"maglev": mag, "rebuild": reb, "flowtable": ft}


    def scale_pipeline(self, case, flows, *extra, lcores="1"):
        """One pipeline case on tables sized for `flows` (the smallest power of
        two >= 1.25 x flows, at least 2^18; syn_flood: 2^20 per million, a full
        table). --no-huge for all: a 10M-flow table (1 GiB) does not fit the
        EAL's hugepages here; flow tables are then transparent huge pages."""
        cap = 1 << 18
        while cap < flows + flows // 4:
            cap <<= 1
        if case == "syn_flood":
            cap = max(1 << 18, 1 << (max(flows, 1) - 1).bit_length())
        d = self.tern_bench("pipeline", "--case", case, "--flows", str(flows), "--flow-capacity", str(cap),
                            "--lcores", lcores, "--runs", str(self.a.scale_runs), "--seconds",
                            str(self.a.scale_seconds), "--no-huge", *extra)
        out = []
        for c in d["cases"]:
            if c["status"] != "ok":
                raise SystemExit(f"scale {case} {flows}: {c.get('error') or c.get('reason')}")
            out.append({"case": case, "flows": flows, "capacity": cap, "lcores": c["lcores"],
                        "services": d["services"], "servers": d["servers_per_service"], "mpps": c["mpps"],
                        "ns_per_packet": c["ns_per_packet"],
                        # The burst median: robust to the preemptions of a shared host.
                        "p50_ns_per_packet": c["burst_ns"]["p50"] / d["burst"],
                        "evictions": c["flow_evictions"], "flows_in_table": c["flows_in_table"]})
        return out

    def scale(self):
        """Issue 17: how the per-packet cost grows with flows, services and
        servers, the production-like cases, and the memory's own limit."""
        log("== scale: memory limit; dr/ipip over 4K..10M flows; mix; syn_flood; services; servers; lcores")
        res = {"memlimit": [self.tern_bench("memlimit", "--mib", str(m)) for m in (128, 1024)], "runs": []}
        flows = [int(f) for f in self.a.scale_flows.split(",")]
        for f in flows:
            res["runs"] += self.scale_pipeline("dr", f)
            log(f"   dr {f} flows: {res['runs'][-1]['p50_ns_per_packet']:.1f} ns/packet (burst median)")
        for f in flows:
            if f >= 1000000:
                res["runs"] += self.scale_pipeline("ipip", f)
        res["runs"] += self.scale_pipeline("mix", 1000000)
        res["runs"] += self.scale_pipeline("syn_flood", 1000000)
        res["runs"] += self.scale_pipeline("new_flow", 4096)
        res["runs"] += self.scale_pipeline("dr", 1000000, "--vips", "500")  # 1000 services
        for servers in (10, 1000):
            res["runs"] += self.scale_pipeline("dr", 1000000, "--servers", str(servers))
        lc = ",".join(str(n) for n in range(1, (os.cpu_count() or 1) + 1))
        res["runs"] += [r for r in self.scale_pipeline("dr", 1000000, lcores=lc) if r["lcores"] > 1]
        return res


def scale_rows(sc):
    """The scale table: each run's cost, and the issue's ratios against the
    4096-flow DR figure of the same run (burst medians)."""
    rows = []

    def find(case, flows, services=16, servers=100, lcores=1):
        return next((r for r in sc["runs"] if (r["case"], r["flows"], r["services"], r["servers"], r["lcores"])
                     == (case, flows, services, servers, lcores)), None)

    for m in sc["memlimit"]:
        g = {x["group"]: x for x in m["results"]}
        for n in (1, 32, 64):
            if n in g:
                rows.append((f"memory {m['mib']} MiB, {n} at once: bucket+entry lookup",
                             f"{g[n]['ns_per_lookup']:.1f} ns", "", "", "",
                             f"{g[n]['ns_per_line']:.1f} ns per random line (tern_bench memlimit)"))
    for r in sc["runs"]:
        rows.append((f"{r['case']} {r['flows']} flows, {r['services']} svc x {r['servers']} srv, "
                     f"{r['lcores']} lcore(s)", f"{r['p50_ns_per_packet']:.1f} ns/packet", "", "", "",
                     f"{r['mpps']:.2f} Mpps (runs' median, all lcores); capacity {r['capacity']}, "
                     f"{r['flows_in_table']} in table, {r['evictions']} evicted"))
    base = find("dr", 4096)
    for case, flows, target, what in (("dr", 1000000, 0.5, "DR hits 1M / 4K"), ("dr", 10000000, 0.4, "DR hits 10M / 4K"),
                                      ("syn_flood", 1000000, 0.35, "new flows, full 1M table / DR 4K"),
                                      ("mix", 1000000, 0.5, "mix over 1M / DR 4K")):
        r = find(case, flows)
        if base is None or r is None:
            continue
        ratio = base["p50_ns_per_packet"] / r["p50_ns_per_packet"]
        rows.append((f"ratio {what}", f"{ratio:.2f}", f">= {target:g}", f"{ratio / target:.2f}",
                     "met" if ratio >= target else f"MISSED by {(1 - ratio / target) * 100:.0f}%",
                     "rates from the burst medians of this run"))
    return rows


def write_scale_readme(res, rows, outdir):
    path = os.path.join(outdir, "README.md")
    body = [SCALE_BEGIN, "",
            f"Latest scale run: {res['date']}, commit `{res['commit']}`, load average at start "
            f"{' / '.join(res['machine']['loadavg_start'])}. Command: `scripts/bench --only scale`; raw: "
            "[scale.json](scale.json).", "", table_md(rows), "", SCALE_END]
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if SCALE_BEGIN in text and SCALE_END in text:
        text = text[:text.index(SCALE_BEGIN)] + "\n".join(body) + text[text.index(SCALE_END) + len(SCALE_END):]
    else:
        text += "\n" + "\n".join(body) + "\n"
    with open(path, "w") as f:
        f.write(text)


# --- report ------------------------------------------------------------------
def verdict(value, target, higher_is_better):
    if value is None:
        return None, "n/a"
    ratio = value / target if higher_is_better else target / value
    if ratio >= 1:
        return ratio, "met"
    short = (1 - ratio) * 100 if higher_is_better else (value / target - 1) * 100
    return ratio, f"MISSED by {short:.0f}%" if higher_is_better else f"MISSED: {value / target:.1f}x the limit"


def rows_for(res):
    pipe = {(c["case"], c.get("lcores", 1)): c for c in res["pipeline"]["cases"]}
    cg, pmd, ctl = res["callgrind"], res["pmd"], res["control"]
    rows = []

    def row(name, value, unit, target, op, note=""):
        if isinstance(value, str):
            rows.append((name, value, f"{op} {target:g} {unit}".strip() if target else "", "", "n/a", note))
            return
        ratio, v = verdict(value, target, op == ">=") if target else (None, "")
        rows.append((name, f"{value:.4g} {unit}".strip(), f"{op} {target:g} {unit}" if target else "",
                     f"{ratio:.2f}" if ratio is not None else "", v, note))

    from_case = {"dr": 20, "ipip": 15, "new_flow": 8, "punt": 0}
    instr_target = {"dr": 150, "ipip": 200, "new_flow": 400, "punt": 0}
    for case, tgt in from_case.items():
        c = pipe.get((case, 1)) or next((c for c in res["pipeline"]["cases"] if c["case"] == case), None)
        if c is None:
            continue
        if c["status"] != "ok":
            row(f"pipeline {case}, 1 lcore", "n/a: not implemented yet", "Mpps", tgt, ">=",
                c.get("reason", c.get("error", "")))
            continue
        row(f"pipeline {case}, 1 lcore", c["mpps"], "Mpps", tgt, ">=",
            f"{c['ns_per_packet']:.1f} ns/packet; burst p50 {c['burst_ns']['p50']:.0f} ns, "
            f"p99 {c['burst_ns']['p99']:.0f} ns")
    for case, tgt in instr_target.items():
        c = cg.get(case)
        if c is None:
            continue
        if c["status"] != "ok":
            row(f"instructions/packet {case}", "n/a: not implemented yet", "", tgt, "<=")
            continue
        row(f"instructions/packet {case}", c["ir_per_packet"], "", tgt, "<=", "callgrind, classify_burst only")
    t1, io1, sw1 = pmd["tern_x1"], pmd["testpmd_io_x1"], pmd["testpmd_5tswap_x1"]
    row("PMD: Tern DR, 1 lcore", t1["mpps"], "Mpps", 0, "", f"lost {t1['lost']}")
    if io1["status"] == "ok":
        row("PMD: testpmd io, 1 lcore", io1["mpps"], "Mpps", 0, "")
    if sw1["status"] == "ok":
        row("PMD: testpmd 5tswap, 1 lcore", sw1["mpps"], "Mpps", 0, "")
        row("PMD: Tern / testpmd 5tswap", t1["mpps"] / sw1["mpps"], "", 0.5, ">=",
            f"Tern / testpmd io = {t1['mpps'] / io1['mpps']:.2f}" if io1["status"] == "ok" else "")
    p1, p2 = pipe.get(("dr", 1)), pipe.get(("dr", 2))
    if p1 and p2 and p1["status"] == "ok" and p2["status"] == "ok":
        row("scaling pipeline dr, 2/1 lcores", p2["mpps"] / p1["mpps"], "x", 1.8, ">=",
            f"{p1['mpps']:.1f} -> {p2['mpps']:.1f} Mpps")
    t2 = pmd["tern_x2"]
    row("scaling PMD Tern, 2/1 lcores", t2["mpps"] / t1["mpps"], "x", 1.8, ">=",
        f"{t1['mpps']:.1f} -> {t2['mpps']:.1f} Mpps")
    sw2 = pmd.get("testpmd_5tswap_x2", {})
    if sw2.get("status") == "ok" and sw1["status"] == "ok":
        row("scaling PMD testpmd 5tswap, 2/1", sw2["mpps"] / sw1["mpps"], "x", 0, "",
            f"{sw1['mpps']:.1f} -> {sw2['mpps']:.1f} Mpps (reference)")
    for m in ctl["maglev"]["results"]:
        row(f"Maglev build M={m.get('size', ctl['maglev']['size'])}, {m['servers']} servers", m["ms"], "ms",
            20 if m["servers"] == 1000 else 0, "<=" if m["servers"] == 1000 else "")
    for b in ctl["maglev"].get("batch", []):
        row(f"Maglev {b['rings']} rings x {b['servers']} servers (M={b.get('size', '?')}), {b['threads']} thread(s)",
            b["ms"], "ms", 0, "",
            f"{b['ms'] / b['rings']:.2f} ms per ring")
    rb = ctl["rebuild"]
    shape = (f"{rb['services']} services x {rb['servers_per_service']} servers"
             + (f", rings of {rb['ring_size']}" if rb.get("ring_size") else "")
             + (f" (1000 x 100 refused: {rb['requested_error']})" if rb.get("requested_error") else ""))
    if "one_build_ms_median" in rb:
        row("rebuild + publish after one change", rb["one_build_ms_median"] + rb["one_publish_and_grace_ms_median"],
            "ms", 200, "<=", f"{shape}; one weight in one service: {median(rb['one_rings_built']):.0f} ring "
            f"generated, the others reused; publish+grace {rb['one_publish_and_grace_ms_median']:.2f} ms")
    row("full rebuild + publish (every ring changed)", rb["build_ms_median"] + rb["publish_and_grace_ms_median"],
        "ms", 200, "<=", f"{shape}; one weight in every service: {median(rb.get('rings_built', [0])):.0f} rings "
        f"generated on {rb.get('ring_threads', 1)} thread(s); publish+grace {rb['publish_and_grace_ms_median']:.2f} ms")
    row("packets lost during rebuilds", float(rb["lost"]), "", 0, "",
        f"{rb['rx']} forwarded; {median(rb['baseline_mpps']):.1f} Mpps before, "
        f"{rb['mpps']:.1f} Mpps during rebuilds")
    rows[-1] = rows[-1][:4] + (("met" if rb["lost"] == 0 else "MISSED"),) + rows[-1][5:]
    feb = res["pipeline"].get("flow_entry_bytes", 0)
    if feb:
        row("flow table bytes/entry", float(feb), "B", 64, "<=",
            f"10M entries: {feb * 10e6 / 2**20:.0f} MiB; capacity is a power of two, so a 10M-flow "
            f"table is {feb * 2**24 / 2**30:.0f} GiB (2^24 entries)")
    else:
        row("flow table bytes/entry", "n/a: not implemented yet", "B", 64, "<=", "no flow table in this build")
    for f in ctl.get("flowtable", {}).get("results", []):
        note = (f"capacity {f['capacity']} ({f['bytes'] / 2**20:.0f} MiB), "
                f"{f['evictions']} live flows evicted while filling")
        row(f"flow table {f['flows'] / 1e6:.0f}M flows: inserts", f["inserts_per_s"] / 1e6, "M/s", 0, "", note)
        row(f"flow table {f['flows'] / 1e6:.0f}M flows: lookups", f["lookups_per_s"] / 1e6, "M/s", 0, "",
            "random order, every key present")
    kp = res.get("kernel_peer", {"status": "n/a", "reason": "not run"})
    if kp["status"] == "ok":
        row("kernel peer (nftables jhash DNAT), forwarded", kp["mpps"], "Mpps", 0, "",
            f"offered {kp['offered_mpps']:.3f} Mpps by testpmd af_packet on CPU 1; {kp['conntrack_entries']} "
            f"conntrack entries, {kp['dnat_new_flows']} flows DNATed")
        row("kernel peer (nftables jhash DNAT) Mpps per core", kp["mpps_per_core"], "Mpps", 0, "",
            f"forwarded / NAPI thread busy ({kp['napi_busy']:.0%} of CPU 0, "
            f"~{kp['packets_per_wakeup']:.0f} packets per wake-up); median of {len(kp['windows'])} x "
            f"{kp['window_s']:g} s")
        row("Tern / kernel per core", t1["mpps"] / kp["mpps_per_core"], "x", 10, ">=",
            f"PMD Tern DR 1 lcore {t1['mpps']:.2f} Mpps / kernel {kp['mpps_per_core']:.3f} Mpps per core")
    else:
        row("kernel peer (nftables jhash DNAT) Mpps per core", f"n/a: {kp['reason']}", "Mpps", 0, "")
        row("Tern / kernel per core", "n/a: no kernel figure", "x", 10, ">=", kp["reason"])
    return rows


def median(v):
    v = sorted(v)
    n = len(v)
    return 0 if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def table_text(rows):
    heads = ("figure", "measured", "target", "ratio", "verdict", "note")
    w = [max(len(str(r[i])) for r in rows + [heads]) for i in range(5)]
    lines = ["  ".join(str(x).ljust(w[i]) for i, x in enumerate(heads[:5])) + "  note"]
    for r in rows:
        lines.append("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r[:5])) + "  " + r[5])
    return "\n".join(lines)


def table_md(rows):
    out = ["| figure | measured | target | ratio | verdict | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
    return "\n".join(out)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(13, 9))
    pipe = [c for c in res["pipeline"]["cases"] if c.get("lcores", 1) == 1]
    names, vals, targets = [], [], []
    for c in pipe:
        names.append(f"pipeline\n{c['case']}")
        vals.append(c["mpps"] if c["status"] == "ok" else 0)
        targets.append({"dr": 20, "ipip": 15, "new_flow": 8}.get(c["case"]))
    pmd = res["pmd"]
    for key, label in (("tern_x1", "PMD\nTern DR"), ("testpmd_io_x1", "PMD\ntestpmd io"),
                       ("testpmd_5tswap_x1", "PMD\ntestpmd 5tswap")):
        names.append(label)
        vals.append(pmd[key].get("mpps", 0) if pmd[key].get("status", "ok") == "ok" else 0)
        targets.append(None)
    kp = res.get("kernel_peer", {})
    names.append("kernel\nnft DNAT\nper core")
    vals.append(kp.get("mpps_per_core", 0) if kp.get("status") == "ok" else 0)
    targets.append(None)
    a = ax[0][0]
    bars = a.bar(range(len(vals)), vals,
                 color=["#4477aa"] * len(pipe) + ["#228833", "#aaaaaa", "#777777", "#cc6677"])
    for i, t in enumerate(targets):
        if t:
            a.hlines(t, i - 0.4, i + 0.4, colors="red", linestyles="dashed")
        if vals[i] == 0:
            a.text(i, 0.5, "n/a", ha="center")
    a.bar_label(bars, labels=[f"{v:.1f}" if v >= 1 else f"{v:.2f}" for v in vals])
    a.set_xticks(range(len(vals)), names, fontsize=8)
    a.set_ylabel("Mpps, one worker lcore")
    a.set_title("64-byte packets, one lcore (red: target)")

    a = ax[0][1]
    series = []
    p = {c["case"]: c for c in res["pipeline"]["cases"] if c.get("lcores") == 2}
    p1 = {c["case"]: c for c in pipe}
    if "dr" in p and p["dr"]["status"] == "ok":
        series.append(("pipeline dr", p1["dr"]["mpps"], p["dr"]["mpps"]))
    series.append(("PMD Tern", pmd["tern_x1"]["mpps"], pmd["tern_x2"]["mpps"]))
    if pmd.get("testpmd_5tswap_x2", {}).get("status") == "ok":
        series.append(("PMD testpmd 5tswap", pmd["testpmd_5tswap_x1"]["mpps"], pmd["testpmd_5tswap_x2"]["mpps"]))
    for label, one, two in series:
        a.plot([1, 2], [one, two], marker="o", label=f"{label} ({two / one:.2f}x)")
    a.set_xticks([1, 2])
    a.set_xlabel("worker lcores (2 vCPUs in all)")
    a.set_ylabel("Mpps")
    a.set_title("Scaling (target: 2 lcores >= 1.8x one)")
    a.legend(fontsize=8)

    a = ax[1][0]
    for c in pipe:
        if c["status"] != "ok":
            continue
        h = c["burst_hist_ns"]
        xs = [x for x, _ in h]
        total = sum(n for _, n in h)
        a.plot(xs, [n / total for _, n in h], label=f"{c['case']} (p50 {c['burst_ns']['p50']:.0f} ns, "
                                                   f"p99 {c['burst_ns']['p99']:.0f} ns)")
    a.set_xlabel("ns per burst of 32 (classify_burst, TSC)")
    a.set_ylabel("share of bursts")
    a.set_xlim(0, max(4000, max((c["burst_ns"]["p99"] for c in pipe if c["status"] == "ok"), default=0) * 1.3))
    a.set_title("Per-burst time, one lcore")
    a.legend(fontsize=8)

    a = ax[1][1]
    cg = res["callgrind"]
    names = [n for n in cg]
    vals = [cg[n].get("ir_per_packet", 0) for n in names]
    bars = a.bar(range(len(vals)), vals, color="#aa3377")
    for i, n in enumerate(names):
        t = {"dr": 150, "ipip": 200, "new_flow": 400}.get(n)
        if t:
            a.hlines(t, i - 0.4, i + 0.4, colors="red", linestyles="dashed")
        if vals[i] == 0:
            a.text(i, 5, "n/a", ha="center")
    a.bar_label(bars, fmt="%.0f")
    a.set_xticks(range(len(vals)), names)
    a.set_ylabel("instructions per packet (callgrind)")
    a.set_title("Instructions per packet (red: target)")
    fig.suptitle(f"Tern benchmarks, {res['commit']} — {res['machine']['cpu']}, {res['machine']['cpus']} vCPUs",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def machine():
    lscpu = sh(["lscpu"]).stdout
    get = lambda k: (re.search(rf"^{k}:\s+(.*)$", lscpu, re.M) or [None, "?"])[1]
    mem = open("/proc/meminfo").read()
    hp = sh(["cat", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"]).stdout.strip()
    return {
        "cpu": get("Model name"), "cpus": os.cpu_count(), "hypervisor": get("Hypervisor vendor"),
        "l2": get("L2 cache"), "l3": get("L3 cache"),
        "memory_mib": int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) // 1024,
        "hugepages_2m": hp, "kernel": platform.release(),
        "os": "Debian " + open("/etc/debian_version").read().strip(),
        "dpdk": sh(["pkg-config", "--modversion", "libdpdk"]).stdout.strip(),
        "compiler": sh(["c++", "--version"]).stdout.splitlines()[0],
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


def commit():
    head = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain"]).stdout.strip()
    return head + (" with uncommitted changes" if dirty else "")


def write_readme(res, rows, outdir):
    path = os.path.join(outdir, "README.md")
    m = res["machine"]
    body = [BEGIN, "",
            f"Latest run: {res['date']}, commit `{res['commit']}`, {res['elapsed_s']:.0f} s, "
            f"build type `{res['buildtype']}`, EAL memory: {res['pipeline']['memory']}.", "",
            f"Machine: {m['cpu']}, {m['cpus']} vCPUs ({m['hypervisor']} guest), L2 {m['l2']}, L3 {m['l3']}, "
            f"{m['memory_mib']} MiB, {m['hugepages_2m']} x 2 MiB hugepages, {m['os']}, kernel {m['kernel']}, "
            f"DPDK {m['dpdk']}, {m['compiler']}. Load average at start {' / '.join(m['loadavg_start'])} "
            f"(other work on the machine shows up as noise).", "",
            table_md(rows), "",
            "![figures](bench.png)", "",
            "Raw figures: [results.json](results.json). Commands, exactly as run:", "", "```"]
    body += res["commands"]
    body += ["```", "", END]
    text = open(path).read() if os.path.exists(path) else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(body) + text[text.index(END) + len(END):]
    else:
        text += "\n" + "\n".join(body) + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="docs/bench")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--bursts", type=int, default=2000)
    ap.add_argument("--rebuilds", type=int, default=5)
    ap.add_argument("--only", choices=["scale"], help="run only this step (its table and docs section)")
    ap.add_argument("--scale-flows", default="4096,65536,1000000,10000000")
    ap.add_argument("--scale-runs", type=int, default=3)
    ap.add_argument("--scale-seconds", type=float, default=0.5)
    a = ap.parse_args()
    t0 = time.time()
    b = Bench(a)
    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": commit(), "machine": machine()}
    outdir = os.path.join(ROOT, a.out)
    if a.only == "scale":
        res["scale"] = b.scale()
        res["commands"] = b.commands
        res["elapsed_s"] = time.time() - t0
        rows = scale_rows(res["scale"])
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "scale.json"), "w") as f:
            json.dump(res, f, indent=1)
        write_scale_readme(res, rows, outdir)
        print(table_text(rows))
        print(f"\n{res['commit']}; {res['elapsed_s']:.0f} s; wrote {a.out}/scale.json, README.md (scale)")
        return
    opts = json.loads(sh(["meson", "introspect", "--buildoptions", os.path.join(ROOT, a.build)]).stdout or "[]")
    res["buildtype"] = next((o["value"] for o in opts if o["name"] == "buildtype"), "?")
    res["pipeline"] = b.pipeline()
    res["callgrind"] = b.callgrind(res["pipeline"])
    res["pmd"] = b.pmd()
    res["kernel_peer"] = b.kernel_peer()
    res["control"] = b.control()
    res["scale"] = b.scale()
    res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    res["elapsed_s"] = time.time() - t0
    res["commands"] = ["scripts/bench   # runs all of the below"] + b.commands
    rows = rows_for(res) + scale_rows(res["scale"])
    res["table"] = [dict(zip(("figure", "measured", "target", "ratio", "verdict", "note"), r)) for r in rows]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    plot(res, os.path.join(outdir, "bench.png"))
    write_readme(res, rows, outdir)
    print(table_text(rows))
    print(f"\n{res['commit']}; {res['elapsed_s']:.0f} s; wrote {a.out}/results.json, bench.png, README.md")


if __name__ == "__main__":
    main()

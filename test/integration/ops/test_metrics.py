#!/usr/bin/python3
"""/metrics of a running `tern run` whose monitors have worked: PyBal's metric
names, types and labels (pybal_service_*, pybal_monitor_* with the kinds'
duration gauges, pybal_bgp_enabled) beside Tern's, the histograms of check and
table-publish durations, tern_build_info and the process_* metrics, all
through `promtool check metrics`. Monitors: RunCommand up for one server and
down (exit 3) for the other, ProxyFetch of two URLs (one 200, one 404) from a
real HTTP server in the namespace."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
NS = f"tmet{PID}"
TMP = tempfile.mkdtemp(prefix="tern-metrics-")
os.chmod(TMP, 0o755)  # RunCommand's check.sh runs as nobody
TERN = os.path.join(A.build, "tern")
WWW = os.path.join(TMP, "www")
os.makedirs(WWW)
with open(os.path.join(WWW, "ok"), "w") as f:
    f.write("ok\n")
CHECK = os.path.join(TMP, "check.sh")
with open(CHECK, "w") as f:
    f.write('#!/bin/sh\n[ "$1" = y ] && exit 0\nexit 3\n')
os.chmod(CHECK, 0o755)
CONFIG = f"""node: {{name: met, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{enabled: false}}
http: {{port: 9090}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
  - {{ip: 10.0.0.12, mac: "02:00:00:00:00:12"}}
services:
  - name: cmd
    vip: 192.0.2.2
    port: 80
    monitors:
      RunCommand: {{command: "{CHECK}", arguments: ["{{host}}"], interval: 0.2, timeout: 5, log-output: false}}
    realservers:
      - {{host: x, ip: 10.0.0.11}}
      - {{host: y, ip: 10.0.0.12}}
  - name: web
    vip: 192.0.2.1
    port: 8080
    monitors:
      ProxyFetch: {{url: ["http://localhost/ok", "http://localhost/missing"], check_all: true, max_failures: 1,
                   interval: 0.5, timeout: 0.5}}
    realservers:
      - {{host: w1, ip: 127.0.0.1}}
"""
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(CONFIG)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{name: [(labels dict, value)]} and {name: type} of an exposition."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if m:
            samples.setdefault(m.group(1), []).append((dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples, types


def value(samples, name, **labels):
    for got, v in samples.get(name, []):
        if got == {k: str(x) for k, x in labels.items()}:
            return v
    return None


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def metrics():
    return sh("ip", "netns", "exec", NS, "curl", "-s", "127.0.0.1:9090/metrics").stdout


tern = web = None
log = []
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    web = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-m", "http.server", "8080", "--bind",
                            "127.0.0.1", "--directory", WWW], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", CFG, "--", "--no-huge", "-m", "512",
                             "--no-shconf", "--lcores", f"(0-1)@({cpus})", "--file-prefix", f"tern-met-{PID}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(x.rstrip()) for x in tern.stdout], daemon=True).start()
    started = time.time()

    # Until every monitor has a verdict and x is depooled.
    body, s, types = "", {}, {}
    end = time.monotonic() + 30
    while time.monotonic() < end:
        body = metrics()
        s, types = parse(body)
        if (value(s, "pybal_monitor_status", service="cmd", host="x", monitor="RunCommand") == 0
                and value(s, "pybal_monitor_status", service="web", host="w1", monitor="ProxyFetch") == 1
                and value(s, "pybal_service_servers_pooled", service="cmd") == 1):
            break
        time.sleep(0.3)
    if not lib.check("tern run serves /metrics with every monitor's verdict", body and "pybal_monitor_status" in body,
                     body[:1500] + "\n".join(log)):
        raise SystemExit

    problems = lib.promtool_problems(body)
    lib.check("promtool check metrics: parses, lints clean", not problems, problems)

    # PyBal's service gauges, its types and the label `service`.
    want = {"pybal_service_servers": 2, "pybal_service_servers_enabled": 2, "pybal_service_servers_up": 1,
            "pybal_service_servers_pooled": 1, "pybal_service_can_depool": 1, "pybal_service_pooled_down_servers": 0,
            "pybal_service_could_not_depool_total": 0, "pybal_service_depool_threshold": 0.5}
    got = {k: value(s, k, service="cmd") for k in want}
    lib.check("pybal_service_* for cmd (x down and depooled, y up)", got == want, got)
    kinds = {k: types.get(k) for k in want}
    lib.check("pybal_service_* types as PyBal's (gauges, one counter)",
              all(t == ("counter" if k.endswith("_total") else "gauge") for k, t in kinds.items()), kinds)

    # PyBal's monitor counters and status, labels service/host/monitor.
    x = {"service": "cmd", "host": "x", "monitor": "RunCommand"}
    y = {"service": "cmd", "host": "y", "monitor": "RunCommand"}
    lib.check("pybal_monitor_status: x 0, y 1",
              value(s, "pybal_monitor_status", **x) == 0 and value(s, "pybal_monitor_status", **y) == 1,
              s.get("pybal_monitor_status"))
    lib.check("pybal_monitor_{up,down}_transitions_total: the first verdicts",
              value(s, "pybal_monitor_down_transitions_total", **x) == 1
              and value(s, "pybal_monitor_up_transitions_total", **x) == 0
              and value(s, "pybal_monitor_up_transitions_total", **y) == 1
              and types.get("pybal_monitor_up_transitions_total") == "counter",
              [s.get("pybal_monitor_down_transitions_total"), s.get("pybal_monitor_up_transitions_total")])
    xr = (value(s, "pybal_monitor_down_results_total", **x), value(s, "pybal_monitor_up_results_total", **x))
    yr = (value(s, "pybal_monitor_down_results_total", **y), value(s, "pybal_monitor_up_results_total", **y))
    lib.check("pybal_monitor_{up,down}_results_total count every check",
              xr[0] is not None and xr[0] >= 1 and xr[1] == 0 and yr[0] == 0 and yr[1] >= 1
              and xr[0] == value(s, "tern_monitor_failures_total", **x), f"x {xr} y {yr}")
    rd = "pybal_monitor_runcommand_run_duration_seconds"
    lib.check("RunCommand's duration gauge with result and exitcode, as PyBal's",
              (value(s, rd, **x, result="failed", exitcode="3") or 0) > 0
              and (value(s, rd, **y, result="successful", exitcode="0") or 0) > 0 and types.get(rd) == "gauge",
              s.get(rd))
    pf = "pybal_monitor_proxyfetch_request_duration_seconds"
    w = {"service": "web", "host": "w1", "monitor": "ProxyFetch"}
    lib.check("ProxyFetch's duration gauge per URL and result, as PyBal's",
              (value(s, pf, **w, result="successful", url="http://localhost/ok") or 0) > 0
              and (value(s, pf, **w, result="failed", url="http://localhost/missing") or 0) > 0, s.get(pf))

    # The check-duration histogram: cumulative buckets ending in +Inf = _count.
    h = "tern_monitor_check_duration_seconds"
    buckets = [(float(l["le"]), v) for l, v in s.get(h + "_bucket", [])
               if {k: l[k] for k in l if k != "le"} == x]
    count = value(s, h + "_count", **x)
    lib.check("tern_monitor_check_duration_seconds is a histogram of every check",
              types.get(h) == "histogram" and len(buckets) == 14 and buckets[-1][0] == float("inf")
              and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])) and buckets[-1][1] == count
              and count == value(s, "tern_monitor_checks_total", **x) and (value(s, h + "_sum", **x) or 0) > 0,
              f"{buckets} count {count}")
    p = "tern_table_publish_duration_seconds"
    lib.check("tern_table_publish_duration_seconds counts the tables published",
              types.get(p) == "histogram" and (value(s, p + "_count") or 0) >= 2
              and value(s, p + "_bucket", le="+Inf") == value(s, p + "_count"), s.get(p + "_count"))

    # Build info and the process.
    version = sh(TERN, "--version").stdout.split()
    lib.check("tern_build_info carries tern --version's version",
              len(version) == 2 and value(s, "tern_build_info", version=version[1]) == 1, (version, s.get("tern_build_info")))
    proc = {k: value(s, k) for k in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                                     "process_virtual_memory_bytes", "process_start_time_seconds",
                                     "process_open_fds", "process_max_fds")}
    lib.check("process_* metrics from /proc/self",
              None not in proc.values() and proc["process_cpu_seconds_total"] > 0
              and abs(proc["process_start_time_seconds"] - started) < 30
              and proc["process_virtual_memory_bytes"] >= proc["process_resident_memory_bytes"] > 0
              and 0 < proc["process_open_fds"] <= proc["process_max_fds"]
              and types.get("process_cpu_seconds_total") == "counter", proc)

    tern.send_signal(signal.SIGTERM)
    rc = tern.wait(timeout=30)
    lib.check("tern run stops", rc == 0, f"{rc}\n" + "\n".join(log[-20:]))
    tern = None
finally:
    for p in (tern, web):
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
    sh("ip", "netns", "del", NS)
    sh("rm", "-rf", TMP)
lib.done()

#!/usr/bin/python3
"""The lab (scripts/lab, docs/lab.md) as a user runs it: `up`, `demo`,
`failover`, `down`, with names of its own (TERN_LAB_PREFIX, TERN_LAB_STATE
carry this PID) so that it never meets a lab someone left up. What demo and
failover show is checked from the numbers they write (demo.json,
failover.json) and from the system itself (namespaces, processes, files):

- every DR server answers, each within the stated tolerance of its weight's
  share, no request fails, and both balancers carry flows (ECMP);
- nginx stopped on a server: depooled within the monitor's interval and
  timeout (plus one check), then no request fails and none reaches it;
- a broken config reloaded: rejected, show services/pools unchanged;
- the IPIP service: encapsulated packets from a balancer reach s4;
- failover: a 64 MB download whose balancer gets SIGTERM completes with the
  right SHA-256, through the other balancer, to the same server;
- down: no namespace, process, EAL runtime directory or state left.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
PREFIX = f"tl{PID}-"
STATE = f"/run/tern-lab-test-{PID}"
ENV = dict(os.environ, TERN_LAB_PREFIX=PREFIX, TERN_LAB_STATE=STATE, TERN_LAB_BUILD=A.build)
LAB = os.path.join(lib.ROOT, "scripts", "lab")
WEIGHTS = {"s1": 1, "s2": 2, "s3": 3}


def lab(cmd, timeout=300):
    t = time.monotonic()
    try:
        r = subprocess.run([LAB, cmd], capture_output=True, text=True, env=ENV, timeout=timeout)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc = None
    return rc, out, time.monotonic() - t


def load(name):
    try:
        with open(os.path.join(STATE, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def our_processes():
    pids = set()
    for ns in namespaces():
        pids |= set(subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split())
    return {int(p) for p in pids}


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


times = {}
downed = False
try:
    rc, out, times["up"] = lab("up")
    if not lib.check("scripts/lab up: BGP established, both balancers in the router's route, pools up",
                     rc == 0 and "lab is up" in out, out[-4000:]):
        raise SystemExit

    rc, out, times["demo"] = lab("demo")
    d = load("demo.json")
    lib.check("demo exits 0 and says everything was as expected", rc == 0 and d.get("ok") is True, out[-4000:])
    sh = d.get("shares", {})
    answers, n = sh.get("answers", {}), sum(sh.get("answers", {}).values())
    tol = d.get("tolerance_points", 0)
    total = sum(WEIGHTS.values())
    off = {h: round(100.0 * answers.get(h, 0) / max(n, 1) - 100.0 * w / total, 1) for h, w in WEIGHTS.items()}
    lib.check(f"every DR server answers within {tol} points of its weight's share (weights 1:2:3), none fails",
              n == d.get("requests") and sh.get("failed") == 0 and 0 < tol <= 5 and set(answers) == set(WEIGHTS)
              and all(abs(v) <= tol for v in off.values()), f"{sh} off by {off}")
    per_lb = d.get("per_balancer", {})
    lib.check("the router's ECMP spreads the requests over both balancers (each carries at least a quarter)",
              len(per_lb) == 2 and all(c >= n / 4 for c in per_lb.values()), per_lb)
    dep = d.get("depooled", {})
    lib.check("nginx stopped on s2: depooled on both balancers within the monitor's interval and timeout (+2 s)",
              d.get("depool_seconds") is not None and d["depool_seconds"] <= 1 + 0.5 + 2, d.get("depool_seconds"))
    lib.check("after the depool, zero failed requests and none reaches s2",
              dep.get("failed") == 0 and sum(dep.get("answers", {}).values()) == 300 and "s2" not in dep["answers"],
              dep)
    lib.check("nginx on s2 started again: pooled again", d.get("repooled") is True, d)
    lib.check("a broken config reloaded: rejected, show services and show pools unchanged",
              d.get("reload_rejected") is True and d.get("reload_unchanged") is True, d)
    lib.check("the IPIP service: tshark on s4 sees the client's SYN to VIP:8080 inside IPIP from a balancer",
              d.get("ipip", {}).get("seen") is True, d.get("ipip"))

    rc, out, times["failover"] = lab("failover")
    f = load("failover.json")
    with open(os.path.join(STATE, "www", "big.bin"), "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else \
            hashlib.sha256(fh.read()).hexdigest()
    res = f.get("result", [])
    lib.check("failover exits 0 and says the download survived", rc == 0 and f.get("ok") is True, out[-4000:])
    lib.check("SIGTERM on the carrying balancer: the router keeps only the other one within 2 s",
              f.get("withdraw_seconds") is not None and f["withdraw_seconds"] <= 2
              and f.get("route_before") and len(f["route_before"]) == 2 and len(f.get("route_after", [])) == 1, f)
    lib.check("the other balancer takes the flow mid-way and sends it to the same server",
              f.get("server_before") and f.get("server_after") == f.get("server_before"), f)
    lib.check("the carrying balancer stops (drain over) while the download goes on",
              f.get("carrier_stopped_seconds") is not None, f)
    lib.check("the 64 MB download completes with the file's SHA-256",
              len(res) >= 4 and res[0] == "done" and res[1] == "200" and int(res[2]) == 64 << 20
              and res[3] == digest and f.get("size_mb", 0) >= 50, f"{res} want {digest}")
    lib.check("the stopped balancer is started again and the router has both again", f.get("restarted") is True, f)
finally:
    procs = our_processes()
    rc, out, times["down"] = lab("down", timeout=60)
    downed = True
    time.sleep(0.5)
    left_ns = namespaces()
    left_procs = [p for p in procs if running(p)]
    dpdk = [d for d in os.listdir("/var/run/dpdk")] if os.path.isdir("/var/run/dpdk") else []
    left_dpdk = [d for d in dpdk if d.startswith(PREFIX)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    lib.check("scripts/lab down leaves no namespace, process, interface, EAL directory or state",
              rc == 0 and (procs or "demo" not in times) and not left_ns and not left_procs and not left_dpdk and not os.path.exists(STATE)
              and PREFIX not in links,
              f"rc {rc}, {len(procs)} processes before; left: {left_ns} {left_procs} {left_dpdk} "
              f"{os.path.exists(STATE)}\n{out}")
    print("lab times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()), flush=True)
lib.done()

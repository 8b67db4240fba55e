#!/usr/bin/python3
"""The operator's interfaces on a running `tern run` (vdevs, in a network
namespace this test makes): the console over its UNIX socket with scripted
sessions (rows compared with the config and with what commands changed), the
PyBal-compatible HTTP API in text and JSON, /metrics through promtool, DPDK
telemetry through dpdk-telemetry.py, and the interactive console on a
terminal driven through tmux (typing, TAB completion, quit)."""
import json
import os
import re
import shutil
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
NS = f"tops{PID}"
TMP = tempfile.mkdtemp(prefix="tern-ops-")
SOCK = os.path.join(TMP, "tern.sock")
PREFIX = f"tern-ops-{PID}"
TERN = os.path.join(A.build, "tern")
CONFIG = f"""node: {{name: ops, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{socket: {SOCK}}}
http: {{port: 9090}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
  - {{ip: 10.0.0.12, mac: "02:00:00:00:00:12"}}
  - {{ip: "2001:db8::11", mac: "02:00:00:00:00:21"}}
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    scheduler: wrr
    realservers:
      - {{host: a, ip: 10.0.0.11, weight: 10}}
      - {{host: b, ip: 10.0.0.12, weight: 5}}
      - {{host: c, ip: 10.0.0.13, weight: 1, enabled: false}}
  - name: dns
    vip: "2001:db8::53"
    port: 53
    protocol: udp
    forward: dr
    realservers:
      - {{host: ns1, ip: "2001:db8::11"}}
"""
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(CONFIG)


def sh(*cmd, check=False, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def eal(prefix):
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    return ["--no-huge", "-m", "512", "--no-shconf", "--lcores", f"(0-1)@({cpus})", "--file-prefix", prefix]


def console(script):
    r = sh(TERN, "console", "--socket", SOCK, input=script, timeout=20)
    return r.stdout.replace("\r", "")


def section(out, command):
    """The output of `command` in a scripted session's transcript."""
    parts = out.split("tern> ")
    for i, p in enumerate(parts):
        if p.startswith(command + "\n"):
            return p[len(command) + 1:]
    return ""


def http(path, accept=None):
    cmd = ["ip", "netns", "exec", NS, "curl", "-s", "-w", "\n%{http_code}", f"http://127.0.0.1:9090{path}"]
    if accept:
        cmd[5:5] = ["-H", f"Accept: {accept}"]
    r = sh(*cmd)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


tern = None
log = []
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    tern = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", CFG, "--", *eal(PREFIX)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not os.path.exists(SOCK):
        time.sleep(0.1)
    time.sleep(0.5)
    if not lib.check("tern run serves its console socket", os.path.exists(SOCK), "\n".join(log)):
        raise SystemExit
    mode = os.stat(SOCK).st_mode & 0o777
    lib.check("the console socket is mode 0600", mode == 0o600, oct(mode))

    # ipvsadm -Ln's layout, rows from the config.
    out = console("show services\nquit\n")
    rows = section(out, "show services").splitlines()
    want = ["Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  192.0.2.1:80 wrr",
            "UDP  [2001:db8::53]:53 mh"]
    lib.check("show services: ipvsadm's header and service rows", all(w in rows for w in want), out)
    lib.check("show services: ipvsadm's first line, the flow tables' size", rows and
              re.fullmatch(r"IP Virtual Server version 1\.2\.1 \(size=[1-9]\d*\)", rows[0]), rows[:1])
    srv = {m.group(1): (m.group(2), int(m.group(3))) for m in
           (re.match(r"  -> (\S+)\s+(\S+)\s+(\d+)\s+\d+\s+\d+\s*$", r) for r in rows) if m}
    lib.check("show services: servers with forward method and weight (disabled shows 0)",
              srv.get("10.0.0.11:80") == ("Route", 10) and srv.get("10.0.0.12:80") == ("Route", 5)
              and srv.get("10.0.0.13:80") == ("Route", 0) and srv.get("[2001:db8::11]:53") == ("Route", 1), srv)

    # Changes through the console show everywhere.
    out = console("set weight web b 7\ndepool a web\nadd realserver web d 10.0.0.14 3\nshow services\nshow pools\nquit\n")
    rows = section(out, "show services")
    lib.check("set weight / depool / add realserver show in show services",
              re.search(r"10\.0\.0\.12:80\s+Route\s+7\b", rows) and re.search(r"10\.0\.0\.11:80\s+Route\s+0\b", rows)
              and re.search(r"10\.0\.0\.14:80\s+Route\s+3\b", rows), out)
    pools = section(out, "show pools")
    lib.check("show pools marks the overrides", "a:\tdisabled/up/not pooled  [override]" in pools, pools)
    out = console("show service web\nquit\n")
    lib.check("show service: the Maglev table's size, auto for the 4 servers listed",
              "  table: 1031 entries (table_size auto, 4 servers listed)" in out, out)
    code, body = http("/pools/web")
    lib.check("/pools/web agrees with the console", code == 200 and
              body == "a:\tdisabled/up/not pooled\nb:\tenabled/up/pooled\nc:\tdisabled/up/not pooled\n"
                      "d:\tenabled/up/pooled\n", repr(body))

    # Errors name the bad word.
    out = console("set weight web zz 3\nset weight web b 70000\nshow servicez\nfrobnicate now\nshow service nope\nquit\n")
    lib.check("an unknown host is named", "service 'web' has no server 'zz'" in out, out)
    lib.check("a bad weight is named", "'70000' is not a weight" in out, out)
    lib.check("an unknown show is named", "show: unknown 'servicez'" in out, out)
    lib.check("an unknown command is named", "unknown command 'frobnicate'" in out, out)
    lib.check("an unknown service is named", "no service named 'nope'" in out, out)

    # reload ends the overrides.
    out = console("reload\nshow pools\nquit\n")
    lib.check("reload: overrides end, the config's pool is back",
              "reloaded" in out and "[override]" not in section(out, "show pools")
              and "d:" not in section(out, "show pools"), out)

    # HTTP API in PyBal's forms.
    code, body = http("/pools")
    lib.check("/pools lists the pools, one per line", code == 200 and body == "dns\nweb\n", repr(body))
    code, body = http("/pools", "application/json")
    lib.check("/pools as JSON", code == 200 and json.loads(body) == ["dns", "web"], body)
    code, body = http("/pools/web/b", "application/json")
    lib.check("/pools/web/b as JSON", code == 200 and json.loads(body) == {"pooled": True, "weight": 5, "up": True,
                                                                             "enabled": True}, body)
    code, body = http("/pools/web/zz")
    lib.check("an unknown host is a 404", code == 404 and body == "The desired url was not found", f"{code} {body}")
    code, body = http("/alerts")
    lib.check("/alerts: a one-server pool is too small to depool (WARNING)",
              code == 200 and body == "WARNING - Pool dns is too small to allow depooling. ", repr(body))
    code, body = http("/alerts", "application/json")
    lib.check("/alerts as JSON", json.loads(body).get("status") == "warning", body)

    # /metrics through Prometheus's own parser.
    code, body = http("/metrics")
    mfile = os.path.join(TMP, "metrics.txt")
    with open(mfile, "w") as f:
        f.write(body)
    promtool = shutil.which("promtool")
    if promtool:
        problems = lib.promtool_problems(body)
        lib.check("/metrics passes promtool check metrics (parse and lint)", not problems, problems)
    else:
        lib.check("promtool is installed (scripts/setup)", False, "promtool not found")
    lib.check("/metrics has PyBal's service gauges under PyBal's names and tern_",
              'pybal_service_servers_pooled{service="web"} 2' in body and "pybal_bgp_enabled 0" in body
              and 'tern_service_servers_pooled{service="web"} 2' in body and "tern_bgp_enabled 0" in body, body[:2000])
    lib.check("/metrics has the dataplane's counters", "tern_lcore_dropped_packets_total{" in body
              and 'tern_port_rx_packets_total{port="p0"}' in body, body[-2000:])

    # DPDK telemetry: Tern's endpoints beside the EAL's. The snapshot follows
    # changes on the control loop's next turn (and each second): read until
    # it shows the reload above, for at most 3 s.
    def telemetry():
        r = sh("dpdk-telemetry.py", "-f", PREFIX,
               input="/tern/services\n/tern/service,web\n/tern/servers,web\n/ethdev/list\n", timeout=20)
        docs = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    docs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return r, {k: v for d in docs for k, v in d.items()}

    deadline = time.time() + 3
    r, merged = telemetry()
    while merged.get("/tern/service", {}).get("servers") != 3 and time.time() < deadline:
        time.sleep(0.2)
        r, merged = telemetry()
    lib.check("dpdk-telemetry.py: /tern/services", sorted(merged.get("/tern/services", [])) == ["dns", "web"],
              r.stdout + r.stderr)
    svc = merged.get("/tern/service", {})
    lib.check("dpdk-telemetry.py: /tern/service,web", svc.get("vip") == "192.0.2.1" and svc.get("servers") == 3
              and svc.get("status", {}).get("a") == "enabled/up/pooled", svc)
    srvs = merged.get("/tern/servers", {})
    lib.check("dpdk-telemetry.py: /tern/servers,web", srvs.get("b", {}).get("weight") == 5, srvs)
    lib.check("dpdk-telemetry.py: the EAL's endpoints still answer", "/ethdev/list" in merged, merged)

    tern.send_signal(signal.SIGTERM)
    rc = tern.wait(timeout=30)
    lib.check("tern run stops and removes its socket", rc == 0 and not os.path.exists(SOCK), f"{rc}")
    tern = None

    # The interactive console on a terminal, through tmux.
    if shutil.which("tmux"):
        session = f"tern{PID}"
        cmd = " ".join(["ip", "netns", "exec", NS, TERN, "run", "--interactive", "--config", CFG, "--",
                        *eal(PREFIX + "i")]).replace("(", "\\(").replace(")", "\\)")
        sh("tmux", "new-session", "-d", "-x", "200", "-y", "50", "-s", session, cmd + f" 2>{TMP}/i.log; sleep 30")

        def screen():
            return sh("tmux", "capture-pane", "-p", "-t", session).stdout

        end = time.monotonic() + 30
        while time.monotonic() < end and "tern> " not in screen():
            time.sleep(0.2)
        sh("tmux", "send-keys", "-t", session, "show serv", "Tab")
        time.sleep(0.5)
        s1 = screen()
        lib.check("TAB completes 'show serv' (services / service)", "show service" in s1, s1)
        sh("tmux", "send-keys", "-t", session, "s", "Enter")
        time.sleep(1)
        s2 = screen()
        lib.check("the interactive console runs show services", "TCP  192.0.2.1:80 wrr" in s2, s2)
        sh("tmux", "send-keys", "-t", session, "set weight w", "Tab")
        time.sleep(0.5)
        s3 = screen()
        lib.check("TAB completes a service name", "set weight web" in s3, s3)
        sh("tmux", "send-keys", "-t", session, "C-a", "C-k")  # rdline: home, kill to the end
        sh("tmux", "send-keys", "-t", session, "quit", "Enter")
        end = time.monotonic() + 20
        stopped = False
        while time.monotonic() < end:
            if "forwarded where" in open(f"{TMP}/i.log").read() or "packets:" in screen():
                stopped = True
                break
            time.sleep(0.3)
        lib.check("quit on the terminal stops tern run", stopped, screen())
        sh("tmux", "kill-session", "-t", session)
    else:
        lib.check("tmux is installed (scripts/setup)", False, "tmux not found")
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("pkill", "-f", f"file-prefix {PREFIX}")
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

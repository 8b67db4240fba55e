#!/usr/bin/python3
"""Reload that never lies, on a running `tern run` (net_null0, in a network
namespace this test makes): the console's `reload` moves the HTTP API to a new
port and the console to a new socket while the session that asked goes on;
the answer names each key applied live and each one that waits for a restart
(and the next reload, by SIGHUP, names the waiting ones again); the log level
applies at once."""
import os
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
NS = f"trel{PID}"
TMP = tempfile.mkdtemp(prefix="tern-reload-")
SOCK1 = os.path.join(TMP, "one.sock")
SOCK2 = os.path.join(TMP, "two.sock")
PREFIX = f"tern-reload-{PID}"
TERN = os.path.join(A.build, "tern")
CFG = os.path.join(TMP, "tern.yaml")


def config(sock, http_port, level, established, size, mtu):
    return f"""node: {{name: rel, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1", mtu: {mtu}}}]
console: {{socket: {sock}}}
http: {{port: {http_port}}}
log: {{level: {level}}}
flows: {{size: {size}, timeouts: {{established: {established}}}}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    realservers:
      - {{host: a, ip: 10.0.0.11}}
"""


def sh(*cmd, check=False, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def console(sock, script):
    return sh(TERN, "console", "--socket", sock, input=script, timeout=20).stdout.replace("\r", "")


def http_code(port):
    r = sh("ip", "netns", "exec", NS, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
           f"http://127.0.0.1:{port}/pools")
    return r.stdout.strip()


tern = None
log = []
try:
    with open(CFG, "w") as f:
        f.write(config(SOCK1, 9090, "info", 900, 4096, 1500))
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", CFG, "--", "--no-huge", "-m", "512",
                             "--no-shconf", "--lcores", f"(0-1)@({cpus})", "--file-prefix", PREFIX],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not os.path.exists(SOCK1):
        time.sleep(0.1)
    time.sleep(0.5)
    if not lib.check("tern run serves its console socket", os.path.exists(SOCK1), "\n".join(log)):
        raise SystemExit
    lib.check("the HTTP API answers on 9090", http_code(9090) == "200", http_code(9090))

    with open(CFG, "w") as f:
        f.write(config(SOCK2, 9191, "debug", 300, 8192, 9000))
    out = console(SOCK1, "reload\nshow services\nquit\n")
    answer = next((l for l in out.splitlines() if "reloaded" in l), "")
    for want in ("flows.timeouts.established 900 -> 300 applied", "http.port 9090 -> 9191 applied",
                 f"console.socket {SOCK1} -> {SOCK2} applied", "log.level info -> debug applied",
                 "ports[0].mtu 1500 -> 9000: takes effect at the next restart",
                 "flows.size 4096 -> 8192: takes effect at the next restart"):
        lib.check(f"the reload's answer names {want.split(' ')[0]}", want in answer, answer)
    lib.check("the session that asked for the reload goes on", "TCP  192.0.2.1:80 mh" in out, out)
    lib.check("the console moved to the new socket", os.path.exists(SOCK2) and not os.path.exists(SOCK1),
              f"{SOCK1}: {os.path.exists(SOCK1)}, {SOCK2}: {os.path.exists(SOCK2)}")
    lib.check("the new socket answers", "TCP  192.0.2.1:80 mh" in console(SOCK2, "show services\nquit\n"), "")
    lib.check("the HTTP API moved to 9191", http_code(9191) == "200" and http_code(9090) == "000",
              f"9191: {http_code(9191)}, 9090: {http_code(9090)}")
    lib.check("the reload's line is in the log", any("reloaded" in l and "http.port" in l for l in log),
              "\n".join(log))

    # Nothing changed since: only the keys that still wait for a restart.
    n = sum("reloaded" in l for l in log)
    tern.send_signal(signal.SIGHUP)
    end = time.monotonic() + 5
    while time.monotonic() < end and sum("reloaded" in l for l in log) == n:
        time.sleep(0.1)
    again = [l for l in log if "reloaded" in l][-1] if sum("reloaded" in l for l in log) > n else ""
    lib.check("SIGHUP without a change names only what waits for a restart",
              again.endswith("flows.size 4096 -> 8192: takes effect at the next restart; "
                             "ports[0].mtu 1500 -> 9000: takes effect at the next restart")
              and "applied" not in again, again)
    # Back to the started flows.size and MTU; log.level error hides the reload's own info line.
    with open(CFG, "w") as f:
        f.write(config(SOCK2, 9191, "error", 300, 4096, 1500))
    out = console(SOCK2, "reload\nquit\n")
    answer = next((l for l in out.splitlines() if "reloaded" in l), "")
    lib.check("back to the started values: nothing waits for a restart",
              answer.endswith("log.level debug -> error applied"), answer)
    time.sleep(0.3)
    lib.check("log.level error applies at once: the reload's own info line is not logged",
              not any("log.level debug -> error" in l for l in log), "\n".join(log[-5:]))
    # A port that cannot be bound: the answer says so, it does not claim success alone.
    holder = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c",
                               "import socket, time\n"
                               "s = socket.socket(); s.bind(('127.0.0.1', 9292)); s.listen()\n"
                               "print('bound', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        lib.check("a holder binds 127.0.0.1:9292", holder.stdout.readline().strip() == "bound", "")
        with open(CFG, "w") as f:
            f.write(config(SOCK2, 9292, "error", 300, 4096, 1500))
        out = console(SOCK2, "reload\nquit\n")
        lib.check("a reload onto a taken port names the failure",
                  "http.port 9191 -> 9292 applied" in out and "cannot listen on 127.0.0.1:9292" in out
                  and "running without it" in out, out)
    finally:
        holder.kill()
        holder.wait()
    lib.check("tern run still runs", tern.poll() is None, "\n".join(log))
    tern.send_signal(signal.SIGTERM)
    lib.check("tern run exits 0 on SIGTERM", tern.wait(timeout=30) == 0, "\n".join(log))
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

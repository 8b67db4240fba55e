#!/usr/bin/python3
"""Signals during `tern run`'s start-up (vdevs, in a network namespace this test
makes): SIGHUPs sent from the moment the process catches SIGHUP until it says it
forwards do not kill it; the reload happens once it serves; SIGTERM then stops it
with status 0."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
NS = f"tsig{PID}"
TMP = tempfile.mkdtemp(prefix="tern-sig-")
PREFIX = f"tern-sig-{PID}"
TERN = os.path.join(A.build, "tern")
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(f"""node: {{name: sig, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{enabled: false}}
http: {{enabled: false}}
neighbors: [{{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}]
services:
  - {{name: web, vip: 192.0.2.1, port: 80, realservers: [{{host: a, ip: 10.0.0.11}}]}}
""")


def sh(*cmd, check=False):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def catches_sighup(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)) != 0
    except OSError:
        pass
    return False


tern = None
log = []
try:
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", CFG, "--", "--no-huge", "-m",
                             "512", "--no-shconf", "--lcores", f"(0-1)@({cpus})", "--file-prefix", PREFIX],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not catches_sighup(tern.pid) and tern.poll() is None:
        time.sleep(0.002)
    sent_before = 0
    while time.monotonic() < end and tern.poll() is None and not any("forwarding on" in l for l in log):
        tern.send_signal(signal.SIGHUP)
        sent_before += 1
        time.sleep(0.02)
    forwarding = any("forwarding on" in l for l in log)
    lib.check("SIGHUPs during start-up do not kill tern run",
              sent_before > 0 and forwarding and tern.poll() is None,
              f"{sent_before} SIGHUPs before it forwarded; status {tern.poll()}\n" + "\n".join(log))
    end = time.monotonic() + 10
    while time.monotonic() < end and not any("reloaded" in l for l in log):
        time.sleep(0.1)
    lib.check("the reload asked for during start-up happens once serving", any("reloaded" in l for l in log),
              "\n".join(log))
    tern.send_signal(signal.SIGTERM)
    rc = tern.wait(timeout=30)
    lib.check("SIGTERM then stops it with status 0", rc == 0, f"{rc}\n" + "\n".join(log))
    tern = None
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("pkill", "-f", f"file-prefix {PREFIX}")
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

#!/usr/bin/python3
"""`tern run` without EAL arguments pins its lcores from the config:
dataplane.lcores "1" puts the worker on CPU 1 and the control thread (the
main lcore) on the lowest CPU not among the workers, 0; a bad value is
refused naming the key. With virtual devices only the EAL uses virtual
addresses as IOVA, so a capture's buffers, mapped after the capability
drop, can be allocated. Needs CPUs 0 and 1."""
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
NS = f"teal{PID}"
TMP = tempfile.mkdtemp(prefix="tern-eal-")
TERN = os.path.join(A.build, "tern")
CFG = os.path.join(TMP, "tern.yaml")
SOCK = os.path.join(TMP, "tern.sock")


def config(dataplane):
    return f"""node: {{name: eal{PID}, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{socket: {SOCK}}}
http: {{enabled: false}}
dataplane: {dataplane}
flows: {{size: 4096}}
neighbors: [{{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}]
services:
  - {{name: web, vip: 192.0.2.1, port: 80, realservers: [{{host: a, ip: 10.0.0.11}}]}}
"""


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def threads(pid):
    """{thread name: Cpus_allowed_list} of every thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            cpus = next(l.split()[1] for l in open(f"/proc/{pid}/task/{tid}/status") if l.startswith("Cpus_allowed_list"))
        except (OSError, StopIteration):
            continue
        out[name if int(tid) != pid else "main"] = cpus
    return out


tern = None
log = []
try:
    if not lib.check("CPUs 0 and 1 are available to this test", {0, 1} <= os.sched_getaffinity(0),
                     os.sched_getaffinity(0)):
        raise SystemExit
    sh("ip", "netns", "add", NS, check=True)
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up", check=True)
    with open(CFG, "w") as f:
        f.write(config('{lcores: "1"}'))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, TERN, "run", "--config", CFG], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and tern.poll() is None and not any("forwarding on" in l for l in log):
        time.sleep(0.1)
    lib.check("tern run starts with no EAL arguments and dataplane.lcores", any("forwarding on" in l for l in log),
              "\n".join(log))
    t = threads(tern.pid) if tern.poll() is None else {}
    workers = {n: c for n, c in t.items() if n.startswith(("rte-worker", "lcore-worker"))}
    lib.check("the one worker lcore is pinned to CPU 1", list(workers.values()) == ["1"], t)
    lib.check("the control thread (main lcore) is pinned to CPU 0", t.get("main") == "0", t)
    lib.check("virtual devices only: IOVA as virtual addresses", any("Selected IOVA mode 'VA'" in l for l in log),
              "\n".join(log))
    end = time.monotonic() + 10
    while time.monotonic() < end and not any("privileges: kept" in l for l in log):
        time.sleep(0.1)
    out = sh(TERN, "console", "--socket", SOCK, input=f"capture start all {TMP}/c.pcapng 10\nquit\n",
             timeout=20).stdout
    lib.check("a capture after the capability drop gets its buffers",
              any("privileges: kept" in l for l in log) and f"capturing all into {TMP}/c.pcapng" in out, out)
    tern.send_signal(signal.SIGTERM)
    lib.check("it stops with status 0", tern.wait(timeout=30) == 0, "\n".join(log[-10:]))
    tern = None

    with open(CFG, "w") as f:
        f.write(config('{lcores: "1-0"}'))
    r = sh("ip", "netns", "exec", NS, TERN, "run", "--config", CFG, timeout=30)
    lib.check("a bad dataplane.lcores is refused naming the key (status 2)",
              r.returncode == 2 and "dataplane.lcores" in r.stderr, f"{r.returncode}\n{r.stderr}")
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

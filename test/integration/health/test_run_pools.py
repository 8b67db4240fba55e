#!/usr/bin/python3
"""`tern run` with a pool from etcd (conftool's layout, v2 keys API): the
pool /pools shows follows etcdctl writes; hosts get their addresses from the
YAML's realservers or are addresses themselves; etcd killed: /alerts warns
and the pool holds; a reload keeps the source's pool; etcd back: it follows
again."""
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
NS = f"tpool{PID}"
TMP = tempfile.mkdtemp(prefix="tern-runpools-")
DIR = "/conftool/v1/pools/eqiad/text/nginx"
CPORT, PPORT = 23790 + PID % 1000, 24790 + PID % 1000
EP = f"http://127.0.0.1:{CPORT}"
CFG = os.path.join(TMP, "tern.yaml")
with open(CFG, "w") as f:
    f.write(f"""node: {{name: pools, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{socket: {TMP}/tern.sock}}
neighbors:
  - {{ip: 10.0.0.11, mac: "02:00:00:00:00:11"}}
  - {{ip: 10.0.0.12, mac: "02:00:00:00:00:12"}}
  - {{ip: 10.0.0.13, mac: "02:00:00:00:00:13"}}
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    pool: {{url: "etcd://127.0.0.1:{CPORT}{DIR}"}}
    realservers:
      - {{host: cp1001, ip: 10.0.0.11}}
      - {{host: cp1002, ip: 10.0.0.12}}
""")


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def nsx(*cmd, **kw):
    return sh("ip", "netns", "exec", NS, *cmd, **kw)


def etcd():
    p = subprocess.Popen(["ip", "netns", "exec", NS, "etcd", "--enable-v2=true", "--data-dir", f"{TMP}/etcd", "--name", "t",
                          "--listen-client-urls", EP, "--advertise-client-urls", EP,
                          "--listen-peer-urls", f"http://127.0.0.1:{PPORT}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{PPORT}",
                          "--initial-cluster", f"t=http://127.0.0.1:{PPORT}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if nsx("etcdctl", "--endpoints", EP, "endpoint", "health", env=dict(os.environ, ETCDCTL_API="3")).returncode == 0:
            break
        time.sleep(0.2)
    return p


def put(host, value):
    nsx("etcdctl", "--endpoints", EP, "set", f"{DIR}/{host}", value, env=dict(os.environ, ETCDCTL_API="2"))


def pools(want=None, timeout=3.0):
    end = time.monotonic() + timeout
    while True:
        body = nsx("curl", "-s", "127.0.0.1:9090/pools/web").stdout
        if want is None or body == want or time.monotonic() > end:
            return body
        time.sleep(0.1)


tern = None
e = None
log = []
try:
    sh("ip", "netns", "add", NS, check=True)
    nsx("ip", "link", "set", "lo", "up", check=True)
    e = etcd()
    put("cp1001", '{"pooled": "yes", "weight": 10}')
    put("cp1002", '{"pooled": "no", "weight": 5}')
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, os.path.join(A.build, "tern"), "run", "--config", CFG, "--",
                             "--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
                             "--file-prefix", f"tern-pools-{PID}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not any("forwarding on" in l for l in log):
        time.sleep(0.1)
    want = "cp1001:\tenabled/up/pooled\ncp1002:\tdisabled/up/not pooled\n"
    got = pools(want)
    lib.check("the first table holds etcd's pool (pooled yes / no)", got == want, repr(got) + "\n" + "\n".join(log[-20:]))
    put("10.0.0.13", '{"pooled": "yes", "weight": 1}')
    want = "10.0.0.13:\tenabled/up/pooled\ncp1001:\tenabled/up/pooled\ncp1002:\tdisabled/up/not pooled\n"
    got = pools(want, 2)
    lib.check("an etcd write shows within a second or two; an address as host needs no address book", got == want, repr(got))
    out = sh(os.path.join(A.build, "tern"), "console", "--socket", f"{TMP}/tern.sock", input="show services\nquit\n").stdout
    lib.check("show services: etcd's weights, the disabled server at weight 0",
              "10.0.0.11:80" in out and "10.0.0.13:80" in out and "10.0.0.12:80                 Route   0" in out, out)
    put("cp1001", '{"pooled": "inactive", "weight": 10}')
    want = "10.0.0.13:\tenabled/up/pooled\ncp1002:\tdisabled/up/not pooled\n"
    got = pools(want, 2)
    lib.check("inactive leaves the pool", got == want, repr(got))
    e.terminate()
    e.wait(timeout=10)
    end = time.monotonic() + 10
    alerts = ""
    while time.monotonic() < end and "source failing" not in alerts:
        alerts = nsx("curl", "-s", "127.0.0.1:9090/alerts").stdout
        time.sleep(0.2)
    lib.check("etcd killed: /alerts warns that the source fails", alerts.startswith("WARNING") and "web source failing" in alerts, alerts)
    lib.check("etcd killed: the pool holds", pools() == want, pools())
    tern.send_signal(signal.SIGHUP)
    time.sleep(1)
    lib.check("a reload keeps the source's pool", pools() == want, pools() + "\n".join(log[-10:]))
    e = etcd()
    put("cp1001", '{"pooled": "yes", "weight": 10}')
    want = "10.0.0.13:\tenabled/up/pooled\ncp1001:\tenabled/up/pooled\ncp1002:\tdisabled/up/not pooled\n"
    got = pools(want, 20)
    lib.check("etcd back: the pool follows it again", got == want, repr(got))
    lib.check("... and /alerts is OK again", nsx("curl", "-s", "127.0.0.1:9090/alerts").stdout == "OK - All pools are healthy",
              nsx("curl", "-s", "127.0.0.1:9090/alerts").stdout)
    tern.send_signal(signal.SIGTERM)
    lib.check("tern run stops cleanly", tern.wait(timeout=30) == 0, "\n".join(log[-20:]))
    tern = None
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    if e is not None and e.poll() is None:
        e.kill()
        e.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

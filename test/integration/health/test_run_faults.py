#!/usr/bin/python3
"""`tern run` against pool sources that misbehave (issue 16, parts 1, 7, 8), in
a network namespace this test makes: a scripted server plays a PyBal pool URL
that answers 500, a body cut short of its Content-Length, an empty body, a
mass removal (held until `confirm pool`), and an etcd (v2 and v3) whose JSON
has fields of unexpected types. Whatever they answer, tern run stays up, the
last good pools stay, /alerts says why, and the pools follow again once the
answers are good. Then SIGHUP with a broken config is rejected and changes
nothing, and SIGTERM stops it with status 0."""
import json
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
NS = f"tfault{PID}"
TMP = tempfile.mkdtemp(prefix="tern-faults-")
PORT = 20000 + PID % 5000
DIR = "/conftool/v1/pools/eqiad/text/nginx"
CFG = os.path.join(TMP, "tern.yaml")
SOCK = os.path.join(TMP, "tern.sock")
MODE = os.path.join(TMP, "mode.json")  # what the scripted server answers, per source

SERVER = r'''
import base64, http.server, json, sys, time
MODE = sys.argv[2]
DIR = sys.argv[3]

def mode():
    with open(MODE) as f:
        return json.load(f)

def pool_line(h):
    return "{ 'host': '%s', 'weight': 10, 'enabled': True }\n" % h

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def answer(self, status, body, headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
    def do_GET(self):
        m = mode()
        if self.path.startswith("/pool"):
            kind, hosts = m["web"]
            body = "".join(pool_line(h) for h in hosts).encode()
            if kind == "500":
                return self.answer(500, b"oops\n")
            if kind == "truncated":
                return self.answer(200, body[: len(body) // 2], length=len(body))
            if kind == "empty":
                return self.answer(200, b"")
            return self.answer(200, body)
        if self.path.startswith("/v2/keys"):
            if "wait=true" in self.path:
                # A directory changed: the source reads it all again.
                time.sleep(1)
                ev = {"action": "set", "node": {"key": DIR, "dir": True, "modifiedIndex": 101}}
                return self.answer(200, json.dumps(ev).encode(), [("X-Etcd-Index", "101")])
            kind, hosts = m["v2"]
            if kind == "hostile":
                body = json.dumps(hosts).encode()  # the hostile document itself
            else:
                nodes = [{"key": DIR + "/" + h, "value": json.dumps({"pooled": "yes", "weight": 1}),
                          "modifiedIndex": 5, "createdIndex": 5} for h in hosts]
                body = json.dumps({"action": "get", "node": {"key": DIR, "dir": True, "nodes": nodes}}).encode()
            return self.answer(200, body, [("X-Etcd-Index", "100")])
        self.answer(404, b"")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        m = mode()
        kind, hosts = m["v3"]
        if self.path == "/v3/kv/range":
            if kind == "hostile":
                body = json.dumps(hosts).encode()
            else:
                kvs = [{"key": base64.b64encode((DIR + "/" + h).encode()).decode(),
                        "value": base64.b64encode(b'{"pooled": "yes", "weight": 2}').decode(),
                        "mod_revision": "7"} for h in hosts]
                body = json.dumps({"header": {"revision": "7"}, "kvs": kvs}).encode()
            return self.answer(200, body)
        if self.path == "/v3/watch":
            # A watch that etcd cancels after a while (compacted): the source reads it all again.
            time.sleep(1)
            return self.answer(200, b'{"result":{"canceled":true,"compact_revision":"8"}}\n')
        self.answer(404, b"")

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


NEIGHBORS = "".join(f'  - {{ip: 10.0.0.{i}, mac: "02:00:00:00:00:{i}"}}\n' for i in (11, 12, 13, 14, 21, 22, 23, 31, 32, 33))


def config(broken=False):
    return f"""node: {{name: faults, ipv4: 10.0.0.1}}
ports: [{{name: p0, device: "net_null0,no-rx=1"}}]
console: {{socket: {SOCK}}}
neighbors:
{NEIGHBORS}services:
  - name: web
    vip: 192.0.2.1
    port: 80
    depool_threshold: 0.5
    pool: {{url: "http://127.0.0.1:{PORT}/pool", interval: 0.2}}
    realservers: []
  - name: v2
    vip: 192.0.2.2
    port: 80
    pool: "etcd://127.0.0.1:{PORT}{DIR}"
    realservers: []
  - name: v3
    vip: 192.0.2.3
    port: 80
    pool: "etcd3://127.0.0.1:{PORT}{DIR}"
    realservers: []
""" + ("    depool_threshold: 7\n" if broken else "")


WEB4 = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]
state = {"web": ["ok", WEB4], "v2": ["ok", ["10.0.0.21", "10.0.0.22"]], "v3": ["ok", ["10.0.0.31", "10.0.0.32"]]}


def set_mode(**kw):
    state.update(kw)
    tmp = MODE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, MODE)


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def nsx(*cmd, **kw):
    return sh("ip", "netns", "exec", NS, *cmd, **kw)


def hosts(service):
    """The hosts /pools/SERVICE lists, sorted."""
    body = nsx("curl", "-s", f"127.0.0.1:9090/pools/{service}").stdout
    return sorted(line.split(":")[0] for line in body.splitlines() if ":" in line)


def alerts():
    return nsx("curl", "-s", "127.0.0.1:9090/alerts").stdout


def wait_for(fn, timeout):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def console(text):
    return sh(os.path.join(A.build, "tern"), "console", "--socket", SOCK, input=text + "\nquit\n").stdout


tern = None
server = None
log = []
try:
    with open(CFG, "w") as f:
        f.write(config())
    with open(os.path.join(TMP, "server.py"), "w") as f:
        f.write(SERVER)
    set_mode()
    sh("ip", "netns", "add", NS, check=True)
    nsx("ip", "link", "set", "lo", "up", check=True)
    server = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, os.path.join(TMP, "server.py"), str(PORT),
                               MODE, DIR], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    tern = subprocess.Popen(["ip", "netns", "exec", NS, os.path.join(A.build, "tern"), "run", "--config", CFG, "--",
                             "--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
                             "--file-prefix", f"tern-faults-{PID}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    end = time.monotonic() + 30
    while time.monotonic() < end and not any("forwarding on" in l for l in log):
        time.sleep(0.1)
    ok = wait_for(lambda: hosts("web") == WEB4 and len(hosts("v2")) == 2 and len(hosts("v3")) == 2, 10)
    lib.check("the first pools: the pool URL's and both etcds'", ok,
              f"{hosts('web')} {hosts('v2')} {hosts('v3')}\n" + "\n".join(log[-20:]))

    def fault(name, service, mode, says):
        set_mode(**{service: mode})
        a = wait_for(lambda: says in alerts() and alerts(), 8)
        lib.check(f"{name}: /alerts says why", a and a.startswith("WARNING"), f"{alerts()}\n" + "\n".join(log[-10:]))
        lib.check(f"{name}: the last good pool stays, tern run runs", tern.poll() is None and
                  hosts("web") == WEB4 and len(hosts("v2")) == 2 and len(hosts("v3")) == 2,
                  f"{hosts('web')} {hosts('v2')} {hosts('v3')} {tern.poll()}")

    fault("pool URL answers 500", "web", ["500", WEB4], "Pool web source failing, last good pool kept: HTTP status 500")
    fault("pool URL's body cut short", "web", ["truncated", WEB4], "Pool web source failing")
    fault("pool URL answers nothing", "web", ["empty", WEB4], "the answer is empty")
    set_mode(web=["ok", WEB4])
    lib.check("pool URL good again: /alerts OK", wait_for(lambda: alerts().startswith("OK"), 8), alerts())

    fault("etcd v2: nodes a list of numbers", "v2", ["hostile", {"action": "get", "node": {"dir": True, "nodes": [1, 2]}}],
          "must be an object")
    fault("etcd v2: a value that is a number", "v2",
          ["hostile", {"action": "get", "node": {"dir": True, "nodes": [{"key": DIR + "/x", "value": 7}]}}],
          "'value' must be a string")
    fault("etcd v2: a message that is a list", "v2", ["hostile", {"errorCode": 1, "node": {"dir": True, "nodes": {}}}],
          "'nodes' must be a list")
    fault("etcd v3: a key that is a number", "v3", ["hostile", {"header": {"revision": "8"}, "kvs": [{"key": 5}]}],
          "'key' must be a string")
    fault("etcd v3: a revision that is an object", "v3", ["hostile", {"header": {"revision": {}}, "kvs": []}],
          "'revision'")
    set_mode(v2=["ok", ["10.0.0.21", "10.0.0.22", "10.0.0.23"]], v3=["ok", ["10.0.0.31", "10.0.0.32", "10.0.0.33"]])
    ok = wait_for(lambda: len(hosts("v2")) == 3 and len(hosts("v3")) == 3, 45)
    lib.check("etcd good again: both pools follow", ok, f"{hosts('v2')} {hosts('v3')}\n{alerts()}")

    # A mass removal: 3 of 4 out at once is held; the console confirms it.
    set_mode(web=["ok", WEB4[:1]])
    a = wait_for(lambda: "Pool web held" in alerts() and alerts(), 8)
    lib.check("a mass removal is held: /alerts names it and the command", a and "`confirm pool web`" in a, alerts())
    lib.check("... the last good pool stays", hosts("web") == WEB4, hosts("web"))
    lib.check("... and the log says so", any("until `confirm pool web`" in l for l in log), "\n".join(log[-10:]))
    out = console("confirm pool web")
    lib.check("confirm pool web: taken", "the held pool is taken" in out, out)
    lib.check("... the pool is the source's", wait_for(lambda: hosts("web") == WEB4[:1], 5), hosts("web"))
    lib.check("... and /alerts no longer says held", "held" not in alerts(), alerts())
    out = console("confirm pool web")
    lib.check("confirm pool with nothing held names it", "service 'web' has no held pool" in out, out)

    # SIGHUP with a broken config: rejected whole, nothing changes.
    mark = len(log)
    with open(CFG, "w") as f:
        f.write(config(broken=True))
    tern.send_signal(signal.SIGHUP)
    seen = wait_for(lambda: any("rejected" in l for l in log[mark:]), 5)
    lib.check("SIGHUP with a broken config: rejected, the key named",
              seen and any("depool_threshold" in l for l in log[mark:]), "\n".join(log[mark:]))
    lib.check("... tern run runs and its pools are unchanged", tern.poll() is None and hosts("web") == WEB4[:1] and
              len(hosts("v2")) == 3, f"{tern.poll()} {hosts('web')} {hosts('v2')}")
    with open(CFG, "w") as f:
        f.write(config())
    tern.send_signal(signal.SIGTERM)
    lib.check("SIGTERM: tern run stops with status 0", tern.wait(timeout=30) == 0, "\n".join(log[-20:]))
    tern = None
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    if server is not None and server.poll() is None:
        server.kill()
        server.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

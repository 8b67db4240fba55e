#!/usr/bin/python3
"""Pool sources through tern-pool-watch: a PyBal pool file rewritten (add,
disable, remove; a broken line keeps the last good pool), its JSON form, the
same over HTTP; over HTTPS with a CA made here by openssl (verified: another
CA or another host name is an error), and without one (not verified); etcd
over TLS (etcds://, etcd3s://) verified the same way; a real etcd with
conftool's layout through the v2 keys API and the v3 watch, written with etcdctl (each change within a second), etcd
killed (the pool holds) and restarted (the watch resumes); etcd v2's "index
outdated" answer (from a scripted etcd) makes the source read it all again."""
import http.server
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
TMP = tempfile.mkdtemp(prefix="tern-pools-")
DIR = "/conftool/v1/pools/eqiad/text/nginx"


class Watch:
    def __init__(self, services):
        cfg = os.path.join(TMP, f"w{len(os.listdir(TMP))}.yaml")
        with open(cfg, "w") as f:
            f.write("node: {name: w, ipv4: 10.0.0.1}\nports: [{name: p0, device: net_null0}]\nservices:\n")
            for i, (name, pool) in enumerate(services):
                f.write(f"  - {{name: {name}, vip: 192.0.2.{i + 1}, port: 80, pool: {pool}, realservers: []}}\n")
        self.lines = []  # [service, kind, value, consumed]
        self.lock = threading.Lock()
        self.p = subprocess.Popen([os.path.join(A.build, "control", "tern-pool-watch"), "--config", cfg],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            parts = line.strip().split(" ", 3)
            with self.lock:
                self.lines.append([parts[1], parts[2], parts[3].strip() if len(parts) > 3 else "", False])

    def next(self, service, kind, timeout=3.0):
        """The oldest unread `kind` line of `service`, waiting up to `timeout`."""
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                for l in self.lines:
                    if not l[3] and l[0] == service and l[1] == kind:
                        l[3] = True
                        return l[2]
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)

    def drain(self):
        with self.lock:
            for l in self.lines:
                l[3] = True

    def quiet(self, service, seconds):
        """No pool delivered for `service` (unread) within `seconds`."""
        time.sleep(seconds)
        with self.lock:
            return not any(not l[3] and l[0] == service and l[1] == "pool" for l in self.lines)

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=5)


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


watches = []
procs = []
try:
    # PyBal pool files, and the same over HTTP.
    pf = os.path.join(TMP, "text")
    write(pf, "# pool\n{ 'host': 'cp1', 'weight': 10, 'enabled': True }\n")
    jf = os.path.join(TMP, "pool.json")
    write(jf, json.dumps({"cp9": {"enabled": False, "weight": 3}}))
    port = lib.free_port()
    httpd = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", TMP],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(httpd)
    time.sleep(0.8)
    w = Watch([("file", f"\"file://{pf}\""), ("json", f"\"file://{jf}\""),
               ("web", f"{{url: \"http://127.0.0.1:{port}/text\", interval: 0.5}}")])
    watches.append(w)
    lib.check("file: the first pool", w.next("file", "pool") == "cp1:10:1")
    lib.check("file: the JSON form", w.next("json", "pool") == "cp9:3:0")
    lib.check("http: the first pool", w.next("web", "pool") == "cp1:10:1")
    write(pf, "{ 'host': 'cp1', 'weight': 10, 'enabled': False }\n{ 'host': 'cp2', 'weight': 5, 'enabled': True }\n")
    lib.check("file: a disabled and an added host, within a second", w.next("file", "pool", 1.5) == "cp1:10:0,cp2:5:1")
    lib.check("http: the same change", w.next("web", "pool", 2) == "cp1:10:0,cp2:5:1")
    write(pf, "{ 'host': 'cp2', 'weight': 5, 'enabled': True }\n{ 'host': 'cp3', 'weight': 5, 'enabled': TRUE }\n")
    err = w.next("file", "error", 2)
    lib.check("file: a broken line is an error naming the line", err is not None and "line 2" in err, err)
    lib.check("file: ... and the last good pool stays", w.quiet("file", 1.5))
    write(pf, "{ 'host': 'cp2', 'weight': 5, 'enabled': True }\n")
    ok = w.next("file", "ok", 3)
    got = w.next("file", "pool", 3)
    lib.check("file: fixed: good again, with the new pool", ok is not None and got == "cp2:5:1", (ok, got, w.lines))
    time.sleep(1)
    w.drain()
    os.unlink(pf)
    end = time.monotonic() + 4
    err = None
    while time.monotonic() < end and not (err and "404" in err):
        err = w.next("web", "error", 0.5)
    lib.check("http: a 404 is an error, the pool stays", err is not None and "404" in err and w.quiet("web", 0.2), err)
    w.stop()

    # https with a CA (issue 16): a self-signed CA made here signs localhost's certificate.
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=TMP)

    for name in ("ca", "other"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=tern test {name} CA",
                "-keyout", f"{name}.key", "-out", f"{name}.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "srv.key", "-out", "srv.csr")
    with open(os.path.join(TMP, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "srv.pem")
    sport = lib.free_port()
    https_code = (
        "import http.server, ssl, sys\n"
        "h = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), "
        "lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=sys.argv[2]))\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "c.load_cert_chain(sys.argv[3], sys.argv[4])\n"
        "h.socket = c.wrap_socket(h.socket, server_side=True)\n"
        "h.serve_forever()\n")
    httpsd = subprocess.Popen([sys.executable, "-c", https_code, str(sport), TMP, os.path.join(TMP, "srv.pem"),
                               os.path.join(TMP, "srv.key")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(httpsd)
    write(pf, "{ 'host': 'cp7', 'weight': 3, 'enabled': True }\n")
    time.sleep(0.8)
    ca, other = os.path.join(TMP, "ca.pem"), os.path.join(TMP, "other.pem")
    w = Watch([("good", f"{{url: \"https://localhost:{sport}/text\", ca: \"{ca}\"}}"),
               ("wrongca", f"{{url: \"https://localhost:{sport}/text\", ca: \"{other}\"}}"),
               ("wrongname", f"{{url: \"https://127.0.0.1:{sport}/text\", ca: \"{ca}\"}}"),
               ("noca", f"\"https://localhost:{sport}/text\"")])
    watches.append(w)
    lib.check("https with its CA: verified, the pool", w.next("good", "pool", 5) == "cp7:3:1")
    err = w.next("wrongca", "error", 5)
    lib.check("https signed by another CA: an error, no pool", err is not None and "certificate verify failed" in err and
              w.quiet("wrongca", 0.5), err)
    err = w.next("wrongname", "error", 5)
    lib.check("https whose certificate names another host: an error", err is not None and "verify failed" in err and
              w.quiet("wrongname", 0.2), err)
    lib.check("https without a CA: not verified (as PyBal), the pool", w.next("noca", "pool", 5) == "cp7:3:1")
    w.stop()

    # etcd over TLS (etcds://, etcd3s://) with the same CA: verified the same way.
    tport, tpeer = lib.free_port(), lib.free_port()
    tep = f"https://localhost:{tport}"
    tetcd = subprocess.Popen(["etcd", "--enable-v2=true", "--data-dir", os.path.join(TMP, "etcd-tls"), "--name", "s",
                              "--listen-client-urls", f"https://127.0.0.1:{tport}", "--advertise-client-urls", tep,
                              "--cert-file", os.path.join(TMP, "srv.pem"), "--key-file", os.path.join(TMP, "srv.key"),
                              "--listen-peer-urls", f"http://127.0.0.1:{tpeer}",
                              "--initial-advertise-peer-urls", f"http://127.0.0.1:{tpeer}",
                              "--initial-cluster", f"s=http://127.0.0.1:{tpeer}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(tetcd)

    def tctl(api, *args):
        return subprocess.run(["etcdctl", "--endpoints", tep, *(["--cacert", ca] if api == 3 else ["--ca-file", ca]),
                               *args], capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API=str(api)))

    end = time.monotonic() + 15
    while time.monotonic() < end and tctl(3, "endpoint", "health").returncode != 0:
        time.sleep(0.2)
    r2 = tctl(2, "set", f"{DIR}/cp3001", '{"pooled": "yes", "weight": 4}')
    r3 = tctl(3, "put", f"{DIR}/cp4001", '{"pooled": "yes", "weight": 4}')
    lib.check("etcd with TLS: etcdctl writes through it with the CA", r2.returncode == 0 and r3.returncode == 0,
              r2.stderr + r3.stderr)
    w = Watch([("v2s", f"{{url: \"etcds://localhost:{tport}{DIR}\", ca: \"{ca}\"}}"),
               ("v3s", f"{{url: \"etcd3s://localhost:{tport}{DIR}\", ca: \"{ca}\"}}"),
               ("v2wrongca", f"{{url: \"etcds://localhost:{tport}{DIR}\", ca: \"{other}\"}}"),
               ("v3wrongname", f"{{url: \"etcd3s://127.0.0.1:{tport}{DIR}\", ca: \"{ca}\"}}")])
    watches.append(w)
    lib.check("etcds (v2) with its CA: verified, the pool", w.next("v2s", "pool", 5) == "cp3001:4:1")
    lib.check("etcd3s (v3) with its CA: verified, the pool", w.next("v3s", "pool", 5) == "cp4001:4:1")
    err = w.next("v2wrongca", "error", 5)
    lib.check("etcds signed by another CA: an error, no pool", err is not None and "certificate verify failed" in err and
              w.quiet("v2wrongca", 0.5), err)
    err = w.next("v3wrongname", "error", 5)
    lib.check("etcd3s whose certificate names another host: an error", err is not None and "verify failed" in err and
              w.quiet("v3wrongname", 0.2), err)
    w.stop()
    tetcd.terminate()
    tetcd.wait(timeout=10)

    # A real etcd.
    cport, pport = lib.free_port(), lib.free_port()
    data = os.path.join(TMP, "etcd")
    ep = f"http://127.0.0.1:{cport}"

    def etcd():
        p = subprocess.Popen(["etcd", "--enable-v2=true", "--data-dir", data, "--name", "t",
                              "--listen-client-urls", ep, "--advertise-client-urls", ep,
                              "--listen-peer-urls", f"http://127.0.0.1:{pport}",
                              "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
                              "--initial-cluster", f"t=http://127.0.0.1:{pport}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if subprocess.run(["etcdctl", "--endpoints", ep, "endpoint", "health"], capture_output=True,
                              env=dict(os.environ, ETCDCTL_API="3")).returncode == 0:
                return p
            time.sleep(0.2)
        return p

    def ctl(api, *args):
        return subprocess.run(["etcdctl", "--endpoints", ep, *args], capture_output=True, text=True,
                              env=dict(os.environ, ETCDCTL_API=str(api)))

    e = etcd()
    ctl(2, "set", f"{DIR}/cp1001", '{"pooled": "yes", "weight": 10}')
    ctl(3, "put", f"{DIR}/cp2001", '{"pooled": "yes", "weight": 10}')
    w = Watch([("v2", f"\"etcd://127.0.0.1:{cport}{DIR}\""), ("v3", f"\"etcd3://127.0.0.1:{cport}{DIR}\"")])
    watches.append(w)
    lib.check("etcd v2: the first pool", w.next("v2", "pool") == "cp1001:10:1")
    lib.check("etcd v3: the first pool", w.next("v3", "pool") == "cp2001:10:1")
    for api, svc, host in ((2, "v2", "cp1001"), (3, "v3", "cp2001")):
        verb = "set" if api == 2 else "put"
        t0 = time.monotonic()
        ctl(api, verb, f"{DIR}/{host}x", '{"pooled": "yes", "weight": 3}')
        got = w.next(svc, "pool", 1.0)
        lib.check(f"etcd {svc}: an added host within a second", got == f"{host}:10:1,{host}x:3:1", got)
        ctl(api, verb, f"{DIR}/{host}", '{"pooled": "no", "weight": 7}')
        got = w.next(svc, "pool", 1.0)
        lib.check(f"etcd {svc}: pooled no and a new weight within a second", got == f"{host}:7:0,{host}x:3:1", got)
        ctl(api, verb, f"{DIR}/{host}x", '{"pooled": "inactive", "weight": 3}')
        got = w.next(svc, "pool", 1.0)
        lib.check(f"etcd {svc}: inactive leaves the pool", got == f"{host}:7:0", got)
        ctl(api, verb, f"{DIR}/{host}x", '{"pooled": "yes", "weight": 3}')
        w.next(svc, "pool", 1.0)
        ctl(api, "rm" if api == 2 else "del", f"{DIR}/{host}x")
        got = w.next(svc, "pool", 1.0)
        lib.check(f"etcd {svc}: a deleted key leaves the pool", got == f"{host}:7:0", got)
        ctl(api, verb, f"{DIR}/{host}y", 'not json')
        err = w.next(svc, "error", 1.0)
        lib.check(f"etcd {svc}: garbage is an error naming the key", err is not None and f"{host}y" in err, err)
        ctl(api, "rm" if api == 2 else "del", f"{DIR}/{host}y")
    e.terminate()
    e.wait(timeout=10)
    lib.check("etcd killed: both sources say so", w.next("v2", "error", 3) is not None and w.next("v3", "error", 3) is not None)
    lib.check("etcd killed: the pools hold (nothing delivered)", w.quiet("v2", 1) and w.quiet("v3", 0.2))
    e = etcd()
    ctl(2, "set", f"{DIR}/cp1002", '{"pooled": "yes", "weight": 1}')
    ctl(3, "put", f"{DIR}/cp2002", '{"pooled": "yes", "weight": 1}')
    got2 = w.next("v2", "pool", 20)
    got3 = w.next("v3", "pool", 20)
    lib.check("etcd back: v2 reads again and sees the new key", got2 == "cp1001:7:0,cp1002:1:1", got2)
    lib.check("etcd back: the v3 watch resumes from its revision", got3 == "cp2001:7:0,cp2002:1:1", got3)
    w.stop()

    # etcd v2's "index outdated" (history cleared): a scripted etcd answers the wait with it.
    calls = []

    class Fake(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            calls.append(self.path)
            waiting = "wait=true" in self.path
            if waiting and len([c for c in calls if "wait=true" in c]) == 1:
                body = json.dumps({"errorCode": 401, "message": "The event in requested index is outdated and cleared",
                                   "cause": "the requested history has been cleared [1008/4]", "index": 2007})
                self.send_response(400)
            elif waiting:
                time.sleep(5)
                body = ""
                self.send_response(200)
            else:
                n = len([c for c in calls if "wait=true" not in c])
                nodes = [{"key": f"{DIR}/cp{i}", "value": json.dumps({"pooled": "yes", "weight": 1}),
                          "modifiedIndex": 5, "createdIndex": 5} for i in range(n)]
                body = json.dumps({"action": "get", "node": {"key": DIR, "dir": True, "nodes": nodes}})
                self.send_response(200)
                self.send_header("X-Etcd-Index", "2000")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    w = Watch([("old", f"\"etcd://127.0.0.1:{fake.server_address[1]}{DIR}\"")])
    watches.append(w)
    first = w.next("old", "pool", 3)
    second = w.next("old", "pool", 3)
    lib.check("etcd v2: the wait starts at X-Etcd-Index + 1", any("waitIndex=2001" in c for c in calls), calls)
    lib.check("etcd v2: 'index outdated' reads the whole pool again", first == "cp0:1:1" and second == "cp0:1:1,cp1:1:1",
              (first, second, calls))
    w.stop()
    fake.shutdown()
finally:
    for w in watches:
        try:
            w.stop()
        except Exception:
            pass
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

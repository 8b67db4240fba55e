#!/usr/bin/python3
"""ProxyFetch against a real nginx (HTTP, HTTPS, IPv6) and small Python
servers that misbehave (never answer, reset, answer forever).

The connection goes to the real server's IP and the service port, so the
URLs name hosts that do not resolve (test.example): nginx picks its server
block by the Host header, and its default server answers 404 to any other.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import lib

A = lib.args()
INTERVAL = 0.3
TIMEOUT = 0.3


def monitors(urls, interval=INTERVAL, timeout=TIMEOUT, **opts):
    text = "ProxyFetch:\n"
    text += "  url: [" + ", ".join(f'"{u}"' for u in urls) + "]\n"
    text += f"  interval: {interval}\n  timeout: {timeout}\n"
    for k, v in opts.items():
        text += f"  {k.replace('_', '-') if k in ('verify_tls', 'ca_file') else k}: {v}\n"
    return text


PROBES = []


def probe(port, urls, ip="127.0.0.1", vip="192.0.2.1", **opts):
    p = lib.Probe(A.build, lib.service_yaml("web", port, monitors(urls, **opts), [("srv", ip)], vip=vip))
    PROBES.append(p)
    return p


def check_exits():
    """Every probe stopped by SIGTERM exits 0 with no sanitizer report (ASan builds)."""
    bad = []
    for p in PROBES:
        rc = p.stop()
        time.sleep(0.1)  # the stderr reader drains the last lines
        report = [l for l in p.stderr if "Sanitizer" in l or "runtime error" in l]
        if rc != 0 or report:
            bad.append((p.config, rc, report[:3]))
    lib.check("every probe exits cleanly", not bad, f"{bad}")


def wait_port(host, port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Nginx:
    """nginx on random loopback ports, with its config, cert and logs in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-nginx-")
        self.proc = None
        self.http = lib.free_port()
        self.https = lib.free_port()
        self.http6 = lib.free_port(host="::1")
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", key, "-out", self.cert, "-subj", "/CN=test.example",
                        "-addext", "subjectAltName=DNS:test.example"],
                       check=True, capture_output=True)
        d = self.dir
        listen = (f"listen 127.0.0.1:{self.http}{{ds}}; listen 127.0.0.1:{self.https} ssl{{ds}}; "
                  f"listen [::1]:{self.http6}{{ds}};")
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    ssl_certificate {self.cert};
    ssl_certificate_key {key};
    server {{
        {listen.format(ds=" default_server")}
        server_name _;
        return 404;
    }}
    server {{
        {listen.format(ds="")}
        server_name test.example;
        location = /ok {{ return 200 "ok\\n"; }}
        location = /fail {{ return 500; }}
        location = /missing {{ return 404; }}
        location = /moved {{ return 301 /ok; }}
    }}
}}
""")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-p", self.dir, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not all(wait_port("127.0.0.1", p) for p in (self.http, self.https)) or \
                not wait_port("::1", self.http6):
            self.stop()
            raise RuntimeError("nginx did not start: " + open(f"{self.dir}/error.log").read()[-2000:]
                               if os.path.exists(f"{self.dir}/error.log") else "nginx did not start")

    def stop(self):
        if self.proc:
            lib.stop_process(self.proc)
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpServer:
    """A loopback TCP server calling serve(conn) on a thread per connection."""

    def __init__(self, serve):
        self.serve = serve
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.serve(c, self.closed)
        except OSError:
            pass

    def close(self):
        self.closed.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def silent(c, closed):
    closed.wait()


def reset(c, closed):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()


def endless_body(c, closed):
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
    chunk = b"x" * 65536
    while not closed.is_set():
        c.sendall(chunk)


def header_then_stall(c, closed):
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
    closed.wait()


def case_status(name, port, urls, want, needle, **opts):
    with probe(port, urls, **opts) as p:
        v = p.wait_for(want, 3.0)
        other = [x for x in p.seen if x["state"] != want]
        lib.check(name, v is not None and needle in v["reason"] and not other,
                  f"wanted {want} with '{needle}' in the reason; saw {p.seen}; stderr {p.stderr[-5:]}")


def main():
    ng = Nginx()
    servers = []
    try:
        h, s = ng.http, ng.https
        case_status("http up", h, ["http://test.example/ok"], "up", "200 OK")
        case_status("https up without verification", s, ["https://test.example/ok"], "up", "200 OK")
        # nginx's default server answers 404: only the right Host reaches /ok.
        case_status("Host header is the URL's host", h, ["http://other.example/ok"], "down", "404 Not Found")
        # The URL's port is only part of the Host header: the service port is used.
        case_status("URL port is not connected to", h, ["http://test.example:1/ok"], "up", "200")
        case_status("500 is down", h, ["http://test.example/fail"], "down", "500 Internal Server Error")
        case_status("404 is down", h, ["http://test.example/missing"], "down", "404 Not Found")
        case_status("301 is down, not followed", h, ["http://test.example/moved"], "down", "301")
        case_status("301 up when http_status lists it", h, ["http://test.example/moved"], "up", "301",
                    http_status="[200, 301]")
        case_status("IPv6 server", ng.http6, ["http://test.example/ok"], "up", "200", ip="::1", vip="2001:db8::1")
        case_status("verify-tls rejects a self-signed cert", s, ["https://test.example/ok"], "down",
                    "certificate verify failed", verify_tls="true")
        case_status("verify-tls with ca-file", s, ["https://test.example/ok"], "up", "200",
                    verify_tls="true", ca_file=f'"{ng.cert}"')
        case_status("verify-tls checks the URL's host name", s, ["https://other.example/ok"], "down",
                    "certificate verify failed", verify_tls="true", ca_file=f'"{ng.cert}"')
        case_status("a ca-file alone turns verification on (right CA, right name)", s, ["https://test.example/ok"],
                    "up", "200", ca_file=f'"{ng.cert}"')
        case_status("a ca-file alone turns verification on (wrong name)", s, ["https://other.example/ok"], "down",
                    "certificate verify failed", ca_file=f'"{ng.cert}"')
        case_status("a ca-file that does not load is down, named", s, ["https://test.example/ok"], "down",
                    "cannot load ca-file '/nonexistent/ca.pem': No such file",
                    verify_tls="true", ca_file='"/nonexistent/ca.pem"')
        case_status("check_all: one failure is down", h,
                    ["http://test.example/ok", "http://test.example/fail"], "down", "1 of 2 URLs failed",
                    check_all="true")
        case_status("check_all: max_failures tolerates it", h,
                    ["http://test.example/ok", "http://test.example/fail"], "up", "500",
                    check_all="true", max_failures=1)

        # Without check_all the URLs take turns: up and down alternate.
        with probe(h, ["http://test.example/ok", "http://test.example/fail"], interval=0.2, timeout=0.2) as p:
            vs = [x["state"] for x in p.verdicts(settle=1.5)]
            alternate = len(vs) >= 4 and all(a != b for a, b in zip(vs, vs[1:])) and vs[0] == "up"
            lib.check("URLs in turn", alternate, f"verdicts {vs}")

        # nginx gone: refused, down; back: up again.
        with probe(h, ["http://test.example/ok"]) as p:
            up1 = p.wait_for("up", 3.0)
            ng.stop()
            down = p.wait_for("down", 3.0)
            ng.start()
            up2 = p.wait_for("up", 3.0)
            lib.check("nginx stopped is down, restarted is up", up1 and down and up2 and
                      "refused" in down["reason"], f"saw {p.seen}")

        srv = TcpServer(silent)
        servers.append(srv)
        with probe(srv.port, ["http://test.example/ok"], interval=0.5, timeout=0.4) as p:
            v = p.wait_for("down", 3.0)
            early = [x for x in p.seen if x["t"] < 0.85]
            lib.check("silent server is down after interval+timeout",
                      v is not None and "timeout after 0.4 s" in v["reason"] and 0.85 <= v["t"] <= 1.6
                      and not early, f"saw {p.seen}")
            # The next check's connection is open and unanswered when the probe stops.
            end = time.monotonic() + 2.0
            while len(srv.conns) < 2 and time.monotonic() < end:
                time.sleep(0.02)
            in_flight = len(srv.conns) >= 2 and p.proc.poll() is None
            rc = p.stop()
            lib.check("stop with a request in flight exits cleanly", in_flight and rc == 0,
                      f"in flight {in_flight}, exit {rc}: {p.stderr[-5:]}")

        srv = TcpServer(reset)
        servers.append(srv)
        with probe(srv.port, ["http://test.example/ok"], interval=0.3, timeout=0.3) as p:
            v = p.wait_for("down", 3.0)
            lib.check("resetting server is down, not by timeout",
                      v is not None and "timeout" not in v["reason"] and v["t"] < 0.3 + 0.25,
                      f"saw {p.seen}")

        srv = TcpServer(endless_body)
        servers.append(srv)
        with probe(srv.port, ["http://test.example/ok"], interval=0.3, timeout=0.3) as p:
            v = p.wait_for("up", 3.0)
            time.sleep(1.0)
            rss = 0
            with open(f"/proc/{p.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            downs = [x for x in p.verdicts() if x["state"] == "down"]
            lib.check("endless body: the status decides, the read is bounded",
                      v is not None and not downs and rss < 200_000, f"saw {p.seen}, rss {rss} kB")

        srv = TcpServer(header_then_stall)
        servers.append(srv)
        with probe(srv.port, ["http://test.example/ok"], interval=0.3, timeout=0.3) as p:
            v = p.wait_for("down", 3.0)
            lib.check("a body that never arrives is down", v is not None and "timeout" in v["reason"],
                      f"saw {p.seen}")
        check_exits()
    finally:
        for p in PROBES:
            p.stop()
        for srv in servers:
            srv.close()
        ng.close()
    lib.done()


if __name__ == "__main__":
    main()
